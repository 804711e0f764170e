//! `multipart/form-data` (RFC 7578) bodies read into their text fields, as DRF's
//! `MultiPartParser` fills `request.data`. File parts are set aside: no endpoint that reads
//! fields takes a file (uploads stream at the edge instead).

/// The text fields of a multipart body, in order, or why it does not parse.
pub fn text_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let boundary = boundary(content_type)
        .ok_or_else(|| format!("Invalid boundary in multipart: {content_type}"))?;
    let delimiter = format!("--{boundary}");
    let mut parts = split(body, delimiter.as_bytes()).into_iter();
    // Whatever comes before the first delimiter is a preamble, ignored by RFC 2046.
    if parts.next().is_none() {
        return Err("no parts".to_owned());
    }
    let mut fields = Vec::new();
    let mut closed = false;
    for part in parts {
        if part.starts_with(b"--") {
            closed = true;
            break;
        }
        let part = part
            .strip_prefix(b"\r\n")
            .ok_or("a delimiter is not followed by a line break")?;
        let part = part.strip_suffix(b"\r\n").unwrap_or(part);
        let split_at =
            find(part, b"\r\n\r\n").ok_or("a part has no blank line after its headers")?;
        let (head, value) = part.split_at(split_at);
        let value = value.get(4..).unwrap_or_default();
        let head = String::from_utf8_lossy(head);
        let disposition = head
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(value)
            })
            .ok_or("a part has no Content-Disposition")?;
        let Some(name) = parameter(disposition, "name") else {
            return Err("a part has no name".to_owned());
        };
        if parameter(disposition, "filename").is_some() {
            continue;
        }
        fields.push((name, String::from_utf8_lossy(value).into_owned()));
    }
    if closed {
        Ok(fields)
    } else {
        Err("the body ends before its closing delimiter".to_owned())
    }
}

/// The `boundary` parameter of a `multipart/form-data` content type (1–70 characters).
fn boundary(content_type: &str) -> Option<String> {
    let boundary = parameter(content_type, "boundary")?;
    (1..=70).contains(&boundary.len()).then_some(boundary)
}

/// A `name=value` or `name="value"` parameter of a header value, by case-insensitive name.
fn parameter(header: &str, wanted: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case(wanted) {
            return None;
        }
        let value = value.trim();
        Some(
            match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\\\"", "\""),
                None => value.to_owned(),
            },
        )
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The pieces of `body` between occurrences of `delimiter`.
fn split<'a>(body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, delimiter) {
        let (piece, after) = rest.split_at(at);
        pieces.push(piece);
        rest = after.get(delimiter.len()..).unwrap_or_default();
    }
    pieces.push(rest);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[&str]) -> Vec<u8> {
        let mut text = String::from("preamble\r\n");
        for part in parts {
            text.push_str("--XyZ\r\n");
            text.push_str(part);
            text.push_str("\r\n");
        }
        text.push_str("--XyZ--\r\n");
        text.into_bytes()
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
    fn malformed_bodies_say_why() {
        let cases: [(&str, &[u8]); 4] = [
            ("multipart/form-data", b"--XyZ--"),
            (TYPE, b"no delimiter at all"),
            (
                TYPE,
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunclosed",
            ),
            (TYPE, b"--XyZ\r\nno headers\r\n--XyZ--"),
        ];
        for (content_type, body) in cases {
            assert!(
                text_fields(content_type, body).is_err(),
                "{content_type} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
