"""schemathesis hooks for the contract gate (cargo xtask parity; xtask/src/parity/mod.rs).

One hook: every well-formed `Idempotency-Key` the fuzzer generates is replaced by a fresh one.
Hypothesis generates small values and repeats them (`0`, `00`, ...), so without it most writes
after the first would meet a key already used with another body and be refused with 422, which
is what the key is for, and the operation behind it would go untested. Malformed keys (empty,
too long, not printable ASCII) are left as generated: refusing them with 400 is under test.
"""

import uuid

import schemathesis

HEADER = "idempotency-key"
# domain::limits::MAX_IDEMPOTENCY_KEY_CHARS; the document states it as the header's maxLength.
LONGEST = 255


def well_formed(key):
    return isinstance(key, str) and 1 <= len(key) <= LONGEST and all(" " <= c <= "~" for c in key)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    """Runs on every request of every phase, just before it is sent."""
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == HEADER and well_formed(headers[name]):
            headers[name] = uuid.uuid4().hex
