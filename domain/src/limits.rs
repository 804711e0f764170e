//! Input limits. Every input has one; both deployables enforce the same numbers.

/// Largest JSON body accepted on any endpoint (bytes). Larger bodies are refused with 413
/// before they are parsed.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// Longest raw password accepted. Argon2 cost grows with input; an unbounded password would be
/// a cheap way to burn the origin's CPU.
pub const MAX_PASSWORD_CHARS: usize = 4096;

/// Longest token string accepted by the token endpoints and the `Authorization` header.
pub const MAX_TOKEN_CHARS: usize = 4096;

/// Longest `Idempotency-Key` accepted (printable ASCII); a longer one is 400.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

/// Longest `X-Request-ID` taken from a client; anything longer (or with odd characters) is
/// replaced by a generated id.
pub const MAX_REQUEST_ID_CHARS: usize = 64;

/// Longest query string accepted (bytes); a longer one is refused with 414 before it is parsed.
/// Every parameter we honour is short; gunicorn, in front of DRF, refuses request lines past
/// 4094 bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

/// Most header bytes (names and values) accepted in one request; more is refused with 431.
/// The largest legitimate header is a bearer token of [`MAX_TOKEN_CHARS`]; this leaves room for
/// it and for what browsers and Cloudflare add, and stays under the 16 KiB that Node (and so
/// `wrangler dev`) allows, so the edge's own answer is the one a client sees locally.
pub const MAX_HEADER_BYTES: usize = 12 * 1024;

/// Largest file an attachment may ever hold (bytes): a Workers request body's limit. The edge's
/// `UPLOAD_MAX_BYTES` (at most this, [`DEFAULT_UPLOAD_BYTES`] unless set) is what it accepts,
/// refusing more while it streams; the origin refuses metadata that claims more than this.
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024;
/// The edge's upload limit unless `UPLOAD_MAX_BYTES` says otherwise: the seed's nginx
/// `client_max_body_size 20M`.
pub const DEFAULT_UPLOAD_BYTES: usize = 20 * 1024 * 1024;
