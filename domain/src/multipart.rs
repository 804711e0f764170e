//! `multipart/form-data` (RFC 7578) bodies, read as a stream of events: a part's head, its
//! bytes, its end. The edge streams uploads through [`MultipartStream`] and never holds a file
//! in memory; [`text_fields`] reads a whole form body into its text fields (as DRF's
//! `MultiPartParser` fills `request.data`) with the same parser, so both read a body alike.

use crate::error::ApiError;

/// What one body may ask of the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Most parts: an upload has two fields, and every part costs a head.
    pub max_parts: usize,
    /// Largest head of a part (its delimiter line's padding, headers and blank line): what
    /// the parser buffers before it knows what the part is.
    pub max_head_bytes: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        Self {
            max_parts: 16,
            max_head_bytes: 8 * 1024,
        }
    }
}

/// A form body is bounded already (`limits::MAX_JSON_BODY_BYTES`), so its fields are not
/// counted: `text_fields` reads what it always has.
const FORM_LIMITS: MultipartLimits = MultipartLimits {
    max_parts: usize::MAX,
    max_head_bytes: usize::MAX,
};

/// What a part says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHead {
    pub name: String,
    /// The client's file name as sent (`filename*` decoded when present): not safe to use
    /// until `files::name::safe_name` has cleaned it.
    pub filename: Option<String>,
    /// The part's `Content-Type`, as sent.
    pub content_type: Option<String>,
}

/// What a body yields, in order: each part is `Part`, any number of `Data`, then `PartEnd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Part(PartHead),
    /// The next bytes of the current part; split wherever the input happened to be.
    Data(Vec<u8>),
    PartEnd,
}

/// Why a body does not parse. The messages follow DRF's "Multipart form parse error - "
/// (which [`ApiError::MalformedMultipart`] adds); each is a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The content type has no `boundary` of 1 to 70 characters (Django's message).
    #[error("Invalid boundary in multipart: {0}")]
    InvalidBoundary(String),
    #[error("the body ends before its closing delimiter")]
    Truncated,
    #[error("a delimiter is not followed by a line break")]
    MalformedDelimiter,
    #[error("the form has more than {0} parts")]
    TooManyParts(usize),
    #[error("a part's headers are larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("a part has no Content-Disposition")]
    NoDisposition,
    #[error("a part has no name")]
    NoName,
}

impl From<MultipartError> for ApiError {
    fn from(error: MultipartError) -> Self {
        Self::MalformedMultipart(error.to_string())
    }
}

/// A push parser: feed it a body's chunks as they arrive and act on the events. It holds back
/// only what could be the start of a delimiter (or a part's head, up to its limit), so its
/// memory does not grow with a part, and its events do not depend on how the body was cut.
#[derive(Debug)]
pub struct MultipartStream {
    /// `\r\n--boundary`, which ends a part.
    delimiter: Vec<u8>,
    limits: MultipartLimits,
    state: State,
    /// Bytes received and not yet consumed.
    pending: Vec<u8>,
    parts: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Before the first delimiter: ignored (RFC 2046).
    Preamble,
    /// Just after a delimiter: the close (`--`), or a line break and a part's headers. What
    /// was searched already is not searched again, so a head sent a byte at a time costs no
    /// more than one sent at once.
    Head {
        /// Where the delimiter's line ends (its `\r`), once it has.
        line_end: Option<usize>,
        /// How many bytes were searched without finding the head's end.
        scanned: usize,
    },
    Body,
    /// After the close delimiter: ignored.
    Epilogue,
    /// An error was returned; it is returned again.
    Failed(MultipartError),
}

/// How far one step got: consumed bytes, and whether another step can follow at once.
enum Progress {
    Continue(usize),
    Wait(usize),
}

impl MultipartStream {
    /// A parser for a body of `content_type`, which must carry the boundary.
    pub fn new(content_type: &str, limits: MultipartLimits) -> Result<Self, MultipartError> {
        let boundary = boundary(content_type)
            .ok_or_else(|| MultipartError::InvalidBoundary(content_type.to_owned()))?;
        Ok(Self {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            limits,
            state: State::Preamble,
            // The first delimiter may open the body: as if a line break came before it.
            pending: b"\r\n".to_vec(),
            parts: 0,
        })
    }

    /// The events the body's next `chunk` completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, MultipartError> {
        match &self.state {
            State::Failed(error) => return Err(error.clone()),
            State::Epilogue => return Ok(Vec::new()),
            _ => {}
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        match self.advance(&pending, &mut events) {
            Ok(consumed) => {
                pending.drain(..consumed.min(pending.len()));
                self.pending = pending;
                Ok(events)
            }
            Err(error) => {
                self.state = State::Failed(error.clone());
                Err(error)
            }
        }
    }

    /// The end of the body: an error unless the close delimiter came.
    pub fn finish(self) -> Result<Vec<Event>, MultipartError> {
        match self.state {
            State::Epilogue => Ok(Vec::new()),
            State::Failed(error) => Err(error),
            _ => Err(MultipartError::Truncated),
        }
    }

    /// Steps through `pending` while it completes something; how many bytes were consumed.
    fn advance(
        &mut self,
        pending: &[u8],
        events: &mut Vec<Event>,
    ) -> Result<usize, MultipartError> {
        let mut at = 0;
        loop {
            let rest = pending.get(at..).unwrap_or_default();
            let progress = match self.state {
                State::Preamble | State::Body => self.through_delimiter(rest, events),
                State::Head { line_end, scanned } => self.head(rest, line_end, scanned, events)?,
                State::Epilogue | State::Failed(_) => Progress::Wait(rest.len()),
            };
            match progress {
                Progress::Continue(consumed) => at += consumed,
                Progress::Wait(consumed) => return Ok(at + consumed),
            }
        }
    }

    /// Up to the next delimiter: the part's bytes in a body, skipped in the preamble. Without
    /// one, everything but a possible start of a delimiter.
    fn through_delimiter(&mut self, rest: &[u8], events: &mut Vec<Event>) -> Progress {
        let in_body = self.state == State::Body;
        let found = find(rest, &self.delimiter);
        let data_len = found.unwrap_or_else(|| rest.len() - partial_suffix(rest, &self.delimiter));
        if in_body && data_len > 0 {
            events.push(Event::Data(
                rest.get(..data_len).unwrap_or_default().to_vec(),
            ));
        }
        if found.is_none() {
            return Progress::Wait(data_len);
        }
        if in_body {
            events.push(Event::PartEnd);
        }
        self.state = State::Head {
            line_end: None,
            scanned: 0,
        };
        Progress::Continue(data_len + self.delimiter.len())
    }

    /// After a delimiter: the close, or a part's head once its blank line has come.
    fn head(
        &mut self,
        rest: &[u8],
        line_end: Option<usize>,
        scanned: usize,
        events: &mut Vec<Event>,
    ) -> Result<Progress, MultipartError> {
        if rest.starts_with(b"--") {
            self.state = State::Epilogue;
            return Ok(Progress::Continue(2));
        }
        if rest == b"-" {
            return Ok(Progress::Wait(0));
        }
        let limit = self.limits.max_head_bytes;
        let line_end = match line_end {
            Some(line_end) => line_end,
            // A `\r` last time may have been cut from its `\n`: looked at again.
            None => match delimiter_line_end(rest, scanned.saturating_sub(1), limit)? {
                Some(line_end) => line_end,
                None => return Ok(self.wait_for_head(None, rest.len())),
            },
        };
        // A blank line cut last time starts at most three bytes back.
        let from = line_end.max(scanned.saturating_sub(3));
        let blank = rest
            .get(from..)
            .and_then(|tail| find(tail, b"\r\n\r\n"))
            .map(|at| from + at);
        let Some(blank) = blank else {
            return if rest.len() >= limit {
                Err(MultipartError::HeadTooLarge(limit))
            } else {
                Ok(self.wait_for_head(Some(line_end), rest.len()))
            };
        };
        let end = blank + 4;
        if end > limit {
            return Err(MultipartError::HeadTooLarge(limit));
        }
        let head = part_head(rest.get(line_end + 2..blank).unwrap_or_default())?;
        self.parts += 1;
        if self.parts > self.limits.max_parts {
            return Err(MultipartError::TooManyParts(self.limits.max_parts));
        }
        events.push(Event::Part(head));
        self.state = State::Body;
        Ok(Progress::Continue(end))
    }

    fn wait_for_head(&mut self, line_end: Option<usize>, scanned: usize) -> Progress {
        self.state = State::Head { line_end, scanned };
        Progress::Wait(0)
    }
}

/// Where the rest of a delimiter's line ends (its `\r`), looking from `from`: only transport
/// padding (spaces and tabs) may come before. `None` until the line break has come. Decided
/// byte by byte, so the answer does not depend on where the input was cut.
fn delimiter_line_end(
    rest: &[u8],
    from: usize,
    limit: usize,
) -> Result<Option<usize>, MultipartError> {
    for (i, &byte) in rest.iter().enumerate().skip(from) {
        // The head ends at least four bytes on (this line's break and the blank line).
        if i.saturating_add(4) > limit {
            return Err(MultipartError::HeadTooLarge(limit));
        }
        match (byte, rest.get(i + 1)) {
            (b' ' | b'\t', _) => {}
            (b'\r', Some(b'\n')) => return Ok(Some(i)),
            (b'\r', None) => return Ok(None),
            _ => return Err(MultipartError::MalformedDelimiter),
        }
    }
    Ok(None)
}

/// A part's headers: its name and file name (Content-Disposition) and its Content-Type.
fn part_head(block: &[u8]) -> Result<PartHead, MultipartError> {
    let block = String::from_utf8_lossy(block);
    let header = |wanted: &str| {
        block.split("\r\n").find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim().eq_ignore_ascii_case(wanted).then_some(value)
        })
    };
    let disposition = header("content-disposition").ok_or(MultipartError::NoDisposition)?;
    let params = parameters(disposition);
    let param = |wanted: &str| {
        params
            .iter()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| value)
    };
    let name = param("name").ok_or(MultipartError::NoName)?.clone();
    // RFC 6266's rule: the extended form wins when both are there and it decodes.
    let filename = param("filename*")
        .and_then(|value| ext_value(value))
        .or_else(|| param("filename").cloned());
    Ok(PartHead {
        name,
        filename,
        content_type: header("content-type").map(|value| value.trim().to_owned()),
    })
}

/// The text fields of a multipart body, in order, or why it does not parse. File parts are set
/// aside: no endpoint that reads fields takes a file (uploads stream at the edge instead).
pub fn text_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let read = || {
        let mut stream = MultipartStream::new(content_type, FORM_LIMITS)?;
        let mut events = stream.feed(body)?;
        events.extend(stream.finish()?);
        Ok::<_, MultipartError>(events)
    };
    read().map(fields_of).map_err(|error| error.to_string())
}

/// The text parts among `events`, as `(name, value)`.
fn fields_of(events: Vec<Event>) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut field: Option<(String, Vec<u8>)> = None;
    for event in events {
        match event {
            Event::Part(head) => field = head.filename.is_none().then(|| (head.name, Vec::new())),
            Event::Data(bytes) => {
                if let Some((_, value)) = &mut field {
                    value.extend_from_slice(&bytes);
                }
            }
            Event::PartEnd => {
                if let Some((name, value)) = field.take() {
                    fields.push((name, String::from_utf8_lossy(&value).into_owned()));
                }
            }
        }
    }
    fields
}

/// The `boundary` parameter of a `multipart/form-data` content type (1–70 characters).
fn boundary(content_type: &str) -> Option<String> {
    parameters(content_type)
        .into_iter()
        .find(|(name, _)| name == "boundary")
        .map(|(_, value)| value)
        .filter(|boundary| (1..=70).contains(&boundary.len()))
}

/// The `name=value` parameters after a header value's first `;`, names in lower case. A quoted
/// value may hold `;`; in it `\"` and `\\` are escapes and any other backslash is itself, as
/// Python's `email.utils.unquote` reads it (old browsers sent Windows paths unescaped).
fn parameters(header: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let Some((_, rest)) = header.split_once(';') else {
        return params;
    };
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        let mut name = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && c != ';') {
            name.push(c);
        }
        if chars.next_if_eq(&'=').is_some() {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.push(chars.next_if(|&c| c == '"' || c == '\\').unwrap_or(c)),
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|&c| c != ';') {
                    value.push(c);
                }
                value.truncate(value.trim_end().len());
            }
            params.push((name.trim().to_ascii_lowercase(), value));
        }
        // Past whatever follows the value, and its `;`.
        while chars.next_if(|&c| c != ';').is_some() {}
        chars.next();
    }
    params
}

/// An RFC 8187 extended value (`UTF-8''%e2%82%ac.txt`): UTF-8 or ISO-8859-1, percent-encoded.
fn ext_value(value: &str) -> Option<String> {
    let mut pieces = value.splitn(3, '\'');
    let (charset, _language, encoded) = (pieces.next()?, pieces.next()?, pieces.next()?);
    let bytes = percent_decode(encoded)?;
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

/// `%XX` escapes decoded; `None` for a malformed one.
fn percent_decode(encoded: &str) -> Option<Vec<u8>> {
    let mut bytes = encoded.bytes();
    let mut out = Vec::with_capacity(encoded.len());
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(byte);
        }
    }
    Some(out)
}

/// Where `needle` (not empty) first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|&b| b == first) {
        let at = from + offset;
        if haystack.get(at + 1..)?.starts_with(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The length of the longest end of `haystack` that `needle` starts with (shorter than the
/// needle): what could be the start of a delimiter the next chunk completes.
fn partial_suffix(haystack: &[u8], needle: &[u8]) -> usize {
    let longest = needle.len().saturating_sub(1).min(haystack.len());
    (1..=longest)
        .rev()
        .find(|&len| {
            needle
                .get(..len)
                .is_some_and(|start| haystack.ends_with(start))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TYPE: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[&str]) -> Vec<u8> {
        let mut text = String::from("preamble\r\n");
        for part in parts {
            text.push_str("--XyZ\r\n");
            text.push_str(part);
            text.push_str("\r\n");
        }
        text.push_str("--XyZ--\r\nepilogue");
        text.into_bytes()
    }

    /// The events of `body` fed in pieces cut at `cuts`, adjacent data merged; or the error.
    fn events(
        content_type: &str,
        body: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<Event>, MultipartError> {
        limited_events(MultipartLimits::default(), content_type, body, cuts)
    }

    fn limited_events(
        limits: MultipartLimits,
        content_type: &str,
        body: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<Event>, MultipartError> {
        let mut stream = MultipartStream::new(content_type, limits)?;
        let mut events = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain([&body.len()]) {
            let cut = cut.clamp(from, body.len());
            events.extend(stream.feed(&body[from..cut])?);
            from = cut;
        }
        events.extend(stream.finish()?);
        Ok(merged(events))
    }

    fn merged(events: Vec<Event>) -> Vec<Event> {
        let mut merged: Vec<Event> = Vec::new();
        for event in events {
            match (merged.last_mut(), event) {
                (Some(Event::Data(bytes)), Event::Data(more)) => bytes.extend(more),
                (_, event) => merged.push(event),
            }
        }
        merged
    }

    fn part(name: &str, filename: Option<&str>, content_type: Option<&str>) -> Event {
        Event::Part(PartHead {
            name: name.to_owned(),
            filename: filename.map(str::to_owned),
            content_type: content_type.map(str::to_owned),
        })
    }

    #[test]
    fn text_parts_become_fields_and_files_are_set_aside() {
        let body = body(&[
            "Content-Disposition: form-data; name=\"title\"\r\n\r\nWrite docs",
            "content-disposition: form-data; name=due_date\r\n\r\n",
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nbytes",
            "Content-Disposition: form-data; name=\"detail\"\r\n\r\ntwo\r\nlines",
        ]);
        assert_eq!(
            text_fields(TYPE, &body),
            Ok(vec![
                ("title".into(), "Write docs".into()),
                ("due_date".into(), String::new()),
                ("detail".into(), "two\r\nlines".into()),
            ])
        );
    }

    #[test]
    fn a_stream_yields_each_parts_head_bytes_and_end() {
        let body = body(&[
            "Content-Disposition: form-data; name=\"project\"\r\n\r\n7",
            "Content-Disposition: form-data; name=\"file\"; filename=\"a;b \\\"c\\\".png\"\r\nContent-Type:  image/png \r\n\r\n\x01\r\n--Xy\r\n-XyZ--XyZ\r\n",
        ]);
        assert_eq!(
            events(TYPE, &body, &[]),
            Ok(vec![
                part("project", None, None),
                Event::Data(b"7".to_vec()),
                Event::PartEnd,
                part("file", Some("a;b \"c\".png"), Some("image/png")),
                Event::Data(b"\x01\r\n--Xy\r\n-XyZ--XyZ\r\n".to_vec()),
                Event::PartEnd,
            ])
        );
    }

    #[test]
    fn the_extended_filename_wins_and_windows_paths_keep_their_backslashes() {
        let cases = [
            (
                "filename=\"plain.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt",
                "€ rates.txt",
            ),
            ("filename*=iso-8859-1'en'caf%E9.txt", "café.txt"),
            (
                "filename=\"fallback.txt\"; filename*=UTF-8''%FF.txt",
                "fallback.txt",
            ),
            ("filename=\"C:\\Users\\a.txt\"", "C:\\Users\\a.txt"),
        ];
        for (params, filename) in cases {
            let head = format!("Content-Disposition: form-data; name=f; {params}\r\n\r\nx");
            let parsed = events(TYPE, &body(&[&head]), &[]).unwrap();
            assert_eq!(
                parsed.first(),
                Some(&part("f", Some(filename), None)),
                "{params}"
            );
        }
    }

    #[test]
    fn the_first_delimiter_may_open_the_body_and_padding_may_follow_a_delimiter() {
        let body = b"--XyZ \t\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--";
        assert_eq!(text_fields(TYPE, body), Ok(vec![("a".into(), "1".into())]));
        let quoted = "multipart/form-data; charset=utf-8; BOUNDARY=\"XyZ\"";
        assert_eq!(
            text_fields(quoted, body),
            Ok(vec![("a".into(), "1".into())])
        );
    }

    #[test]
    fn malformed_bodies_say_why() {
        let long_boundary = format!("multipart/form-data; boundary={}", "b".repeat(71));
        let bad_delimiter =
            "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZx\r\n";
        let cases: [(&str, &[u8], &str); 8] = [
            (
                "multipart/form-data",
                b"--XyZ--",
                "Invalid boundary in multipart: multipart/form-data",
            ),
            (
                &long_boundary,
                b"",
                "Invalid boundary in multipart: multipart/form-data; boundary=bbb",
            ),
            (
                TYPE,
                b"no delimiter at all",
                "the body ends before its closing delimiter",
            ),
            (
                TYPE,
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunclosed",
                "the body ends before its closing delimiter",
            ),
            (
                TYPE,
                b"--XyZ\r\nno headers\r\n\r\n--XyZ--",
                "a part has no Content-Disposition",
            ),
            (
                TYPE,
                b"--XyZ\r\n\r\n\r\n--XyZ--",
                "a part has no Content-Disposition",
            ),
            (
                TYPE,
                b"--XyZ\r\nContent-Disposition: form-data\r\n\r\n\r\n--XyZ--",
                "a part has no name",
            ),
            (
                TYPE,
                bad_delimiter.as_bytes(),
                "a delimiter is not followed by a line break",
            ),
        ];
        for (content_type, body, message) in cases {
            let error = text_fields(content_type, body).unwrap_err();
            assert!(
                error.starts_with(message),
                "{error} for {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_stream_refuses_too_many_parts_and_oversized_heads() {
        let limits = MultipartLimits {
            max_parts: 1,
            max_head_bytes: 64,
        };
        let small = "Content-Disposition: form-data; name=a\r\n\r\n";
        let mut stream = MultipartStream::new(TYPE, limits).unwrap();
        assert_eq!(
            stream.feed(&body(&[small, small])),
            Err(MultipartError::TooManyParts(1))
        );
        assert_eq!(
            stream.feed(b"more"),
            Err(MultipartError::TooManyParts(1)),
            "and stays refused"
        );
        let large = format!(
            "Content-Disposition: form-data; name={}\r\n\r\n",
            "a".repeat(64)
        );
        let body = body(&[&large]);
        for cut in [0, 20, 70, body.len()] {
            let mut stream = MultipartStream::new(TYPE, limits).unwrap();
            let result = stream
                .feed(&body[..cut])
                .and_then(|_| stream.feed(&body[cut..]));
            assert_eq!(
                result,
                Err(MultipartError::HeadTooLarge(64)),
                "cut at {cut}"
            );
        }
        let message = ApiError::from(MultipartError::TooManyParts(16)).to_string();
        assert_eq!(
            message,
            "Multipart form parse error - the form has more than 16 parts"
        );
    }

    #[test]
    fn a_large_part_streams_through_while_holding_back_less_than_a_delimiter() {
        let mut stream = MultipartStream::new(TYPE, MultipartLimits::default()).unwrap();
        stream
            .feed(b"--XyZ\r\nContent-Disposition: form-data; name=f; filename=a\r\n\r\n")
            .unwrap();
        let chunk = [b'\r'; 4096];
        for _ in 0..256 {
            let events = stream.feed(&chunk).unwrap();
            assert!(matches!(events.as_slice(), [Event::Data(_)]));
            assert!(stream.pending.len() < "\r\n--XyZ".len());
        }
        assert_eq!(
            stream.feed(b"\n--XyZ--").unwrap().last(),
            Some(&Event::PartEnd)
        );
        assert_eq!(stream.finish(), Ok(vec![]));
    }

    #[test]
    fn a_body_sent_a_byte_at_a_time_reads_as_one_sent_at_once() {
        let body = body(&[
            "Content-Disposition: form-data; name=\"a\"\r\n\r\n\r\r\n--Xy\r\n",
            "Content-Disposition: form-data; name=b; filename=b.txt\r\nContent-Type: text/plain\r\n\r\n",
        ]);
        let mut padded = body.clone();
        padded.splice(17..17, *b" \t ");
        for body in [body, padded] {
            let every_byte: Vec<usize> = (0..body.len()).collect();
            let whole = events(TYPE, &body, &[]);
            assert_eq!(whole.as_ref().map(Vec::len), Ok(5));
            assert_eq!(events(TYPE, &body, &every_byte), whole);
        }
    }

    /// A well-formed body of up to four parts, text or file, whose values may hold line
    /// breaks, dashes and near-delimiters but never the delimiter itself.
    fn well_formed() -> impl Strategy<Value = Vec<u8>> {
        let value = prop::collection::vec(
            prop_oneof![
                Just(b"\r\n".to_vec()),
                Just(b"--".to_vec()),
                Just(b"\r\n--Xy".to_vec()),
                Just(b"XyZ".to_vec()),
                Just(b"\r".to_vec()),
                "[a-z\r\n-]{0,12}".prop_map(String::into_bytes)
            ],
            0..8,
        )
        .prop_map(|pieces| pieces.concat())
        .prop_filter("no delimiter inside", |value| {
            find(&[b"\r\n", value.as_slice()].concat(), b"\r\n--XyZ").is_none()
        });
        let part = ("[a-z]{1,6}", prop::option::of("[a-z.]{1,8}"), value);
        prop::collection::vec(part, 0..4).prop_map(|parts| {
            let mut body = b"ignored preamble\r\n".to_vec();
            for (name, filename, value) in parts {
                let filename = filename
                    .map(|f| format!("; filename=\"{f}\""))
                    .unwrap_or_default();
                body.extend(
                    format!(
                        "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n"
                    )
                    .bytes(),
                );
                body.extend(value);
                body.extend(b"\r\n");
            }
            body.extend(b"--XyZ--\r\nignored epilogue");
            body
        })
    }

    /// A well-formed body with a few bytes overwritten: near misses of every rule.
    fn damaged() -> impl Strategy<Value = Vec<u8>> {
        let damage = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4);
        (well_formed(), damage).prop_map(|(mut body, damage)| {
            for (at, byte) in damage {
                let at = at.index(body.len());
                body[at] = byte;
            }
            body
        })
    }

    proptest! {
        #[test]
        fn events_do_not_depend_on_how_the_body_is_cut(
            body in prop_oneof![
                well_formed(),
                damaged(),
                prop::collection::vec(any::<u8>(), 0..300),
            ],
            cuts in prop::collection::vec(0..400_usize, 0..12),
            max_parts in 1..6_usize,
            max_head_bytes in prop_oneof![30..90_usize, Just(8 * 1024)],
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let limits = MultipartLimits { max_parts, max_head_bytes };
            prop_assert_eq!(
                limited_events(limits, TYPE, &body, &cuts),
                limited_events(limits, TYPE, &body, &[])
            );
        }

        #[test]
        fn a_streams_text_parts_are_the_fields_text_fields_reads(
            body in well_formed(),
            cuts in prop::collection::vec(0..400_usize, 0..12),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let streamed = events(TYPE, &body, &cuts).map(fields_of).map_err(|e| e.to_string());
            prop_assert!(streamed.is_ok());
            prop_assert_eq!(streamed, text_fields(TYPE, &body));
        }

        #[test]
        fn any_bytes_are_answered_without_a_panic(
            boundary in "[-a-zA-Z0-9]{0,20}",
            body in prop::collection::vec(any::<u8>(), 0..1024),
            cuts in prop::collection::vec(0..1024_usize, 0..8),
            max_head_bytes in 0..200_usize,
        ) {
            let limits = MultipartLimits { max_parts: 3, max_head_bytes };
            if let Ok(mut stream) = MultipartStream::new(&format!("multipart/form-data; boundary={boundary}"), limits) {
                let mut from = 0;
                for cut in cuts {
                    let cut = cut.clamp(from, body.len());
                    let _ = stream.feed(&body[from..cut]);
                    from = cut;
                }
                let _ = stream.feed(&body[from..]);
                let _ = stream.finish();
            }
        }
    }
}
