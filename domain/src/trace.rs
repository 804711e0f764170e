//! W3C Trace Context: the `traceparent` header that carries one trace from the client through
//! the edge to the origin and into the jobs a request enqueues, so that every log line of one
//! request, on either side, and every run of its jobs can be found by one trace id.
//!
//! Each hop continues the trace it was handed (or starts one) under a span id of its own, and
//! hands the next hop `00-{trace id}-{its span id}-{flags}`.
//! <https://www.w3.org/TR/trace-context/#traceparent-header>

use std::fmt;

/// The header's name (lower case, as HTTP/2 and the edge's request model have it).
pub const TRACEPARENT: &str = "traceparent";

/// A trace id, the id of the span that is current on this hop, and the sampled flag.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    sampled: bool,
}

/// Random bytes enough for a trace id and a span id.
pub type Randomness = [u8; 24];

impl TraceContext {
    /// Reads a `traceparent` value. Version 00 is read exactly; a later version is read by its
    /// first four fields, as the specification asks. Anything else, an all-zero id or upper-case
    /// hex included, is `None`: the hop then starts a trace of its own.
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        let version = header.get(..2)?;
        if version == "ff" || !is_lower_hex(version) {
            return None;
        }
        let exact = header.len() == 55;
        let extended = version != "00" && header.as_bytes().get(55) == Some(&b'-');
        if !(exact || extended) {
            return None;
        }
        let mut fields = header.get(..55)?.split('-');
        let (_, trace, span, flags) = (
            fields.next()?,
            fields.next()?,
            fields.next()?,
            fields.next()?,
        );
        let trace_id: [u8; 16] = decode(trace)?;
        let span_id: [u8; 8] = decode(span)?;
        let [flags]: [u8; 1] = decode(flags)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// A new trace, sampled, with this hop's span as its root.
    pub fn start(random: Randomness) -> Self {
        let mut trace_id = [0; 16];
        let mut span_id = [0; 8];
        let (trace, span) = random.split_at(16);
        trace_id.copy_from_slice(trace);
        span_id.copy_from_slice(span);
        // All-zero ids are invalid; random bytes are all zero only when randomness failed.
        trace_id[15] |= u8::from(trace_id == [0; 16]);
        span_id[7] |= u8::from(span_id == [0; 8]);
        Self {
            trace_id,
            span_id,
            sampled: true,
        }
    }

    /// This hop's context: the caller's trace (from its `traceparent`, when one can be read)
    /// under a new span id, or a new trace.
    pub fn continue_or_start(header: Option<&str>, random: Randomness) -> Self {
        match header.and_then(Self::parse) {
            Some(caller) => {
                let fresh = Self::start(random);
                Self {
                    span_id: fresh.span_id,
                    ..caller
                }
            }
            None => Self::start(random),
        }
    }

    /// A context from its ids (an exporter's, say); `None` for an all-zero id.
    pub fn from_ids(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool) -> Option<Self> {
        (trace_id != [0; 16] && span_id != [0; 8]).then_some(Self {
            trace_id,
            span_id,
            sampled,
        })
    }

    /// The trace id's bytes.
    pub fn trace_id_bytes(&self) -> [u8; 16] {
        self.trace_id
    }

    /// This hop's span id's bytes.
    pub fn span_id_bytes(&self) -> [u8; 8] {
        self.span_id
    }

    /// The trace id, 32 lower-case hex digits: what the log lines carry.
    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// This hop's span id, 16 lower-case hex digits.
    pub fn span_id(&self) -> String {
        hex::encode(self.span_id)
    }

    pub fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// The `traceparent` to send the next hop: this trace, this hop's span as the parent.
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id(),
            self.span_id(),
            u8::from(self.sampled)
        )
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !is_lower_hex(text) {
        return None;
    }
    let mut bytes = [0; N];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn random(byte: u8) -> Randomness {
        [byte; 24]
    }

    #[test]
    fn a_hop_continues_its_callers_trace_under_a_span_of_its_own() {
        let hop = TraceContext::continue_or_start(Some(CALLER), random(0xab));
        assert_eq!(hop.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hop.span_id(), "abababababababab");
        assert!(hop.is_sampled());
        assert_eq!(
            hop.header(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-abababababababab-01"
        );
        assert_eq!(TraceContext::parse(&hop.header()), Some(hop));
    }

    #[test]
    fn an_unreadable_header_starts_a_new_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1z",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
            let hop = TraceContext::continue_or_start(Some(bad), random(7));
            assert_eq!(hop.trace_id(), "07".repeat(16), "{bad:?}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_fields_and_flags_are_kept() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-comes-next";
        let read = TraceContext::parse(later).unwrap();
        assert!(!read.is_sampled());
        assert_eq!(read.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(read.header().ends_with("-00"));
    }

    #[test]
    fn no_randomness_still_gives_valid_ids() {
        let hop = TraceContext::start([0; 24]);
        assert!(TraceContext::parse(&hop.header()).is_some());
    }
}
