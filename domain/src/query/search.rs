//! `SearchFilter`'s terms: Django's `smart_split` (quoted phrases stay whole, quotes may sit
//! inside a token), then DRF's `search_smart_split` (commas trimmed, unquoted tokens split on
//! commas, quoted ones unescaped).

/// Most terms a search may have; each one costs bound parameters at D1 (limit 100).
pub const MAX_TERMS: usize = 10;
/// Longest search string read.
pub const MAX_SEARCH_CHARS: usize = 200;

/// The terms of a `search` value, in order, none empty.
pub fn search_terms(raw: &str) -> Vec<String> {
    let cleaned: String = raw.chars().filter(|c| *c != '\0').collect();
    let mut terms = Vec::new();
    for token in smart_split(&cleaned) {
        let token = token.trim_matches(',');
        if let Some(phrase) = quoted(token) {
            if !phrase.is_empty() {
                terms.push(phrase);
            }
        } else {
            terms.extend(
                token
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    terms
}

/// `"…"` or `'…'` with the surrounding quotes removed and `\"`/`\\` unescaped, as Django's
/// `unescape_string_literal`.
fn quoted(token: &str) -> Option<String> {
    let quote = token.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    if token.len() < 2 || !token.ends_with(quote) {
        return None;
    }
    let inner = &token[1..token.len() - 1];
    Some(
        inner
            .replace(&format!("\\{quote}"), &quote.to_string())
            .replace("\\\\", "\\"),
    )
}

/// Django's `smart_split` regex, by hand:
/// `((?:[^\s'"]*(?:(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')[^\s'"]*)+)|\S+)`.
fn smart_split(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if text[i..].starts_with(char::is_whitespace) {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let end = quoted_token_end(text, i).unwrap_or_else(|| plain_token_end(text, i));
        tokens.push(&text[i..end]);
        i = end;
    }
    tokens
}

/// Where the first alternative (at least one closed quoted group) would end, if it matches.
fn quoted_token_end(text: &str, start: usize) -> Option<usize> {
    let mut i = skip_plain(text, start);
    let mut groups = 0;
    while let Some(after) = closed_quote(text, i) {
        groups += 1;
        i = skip_plain(text, after);
    }
    (groups > 0).then_some(i)
}

/// Skips `[^\s'"]*`.
fn skip_plain(text: &str, mut i: usize) -> usize {
    while let Some(c) = text[i..].chars().next() {
        if c.is_whitespace() || c == '"' || c == '\'' {
            break;
        }
        i += c.len_utf8();
    }
    i
}

/// If a quote opens at `i` and closes (escapes honoured), the index after the closing quote.
fn closed_quote(text: &str, i: usize) -> Option<usize> {
    let quote = text[i..]
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')?;
    let mut chars = text[i + 1..].char_indices();
    while let Some((offset, c)) = chars.next() {
        if c == '\\' {
            chars.next()?;
        } else if c == quote {
            return Some(i + 1 + offset + 1);
        }
    }
    None
}

/// `\S+`.
fn plain_token_end(text: &str, mut i: usize) -> usize {
    while let Some(c) = text[i..].chars().next() {
        if c.is_whitespace() {
            break;
        }
        i += c.len_utf8();
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_like_drf() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  api  docs ", &["api", "docs"]),
            ("api,docs", &["api", "docs"]),
            ("api, docs,,", &["api", "docs"]),
            (r#""api docs" backend"#, &["api docs", "backend"]),
            (r"'single quoted' x", &["single quoted", "x"]),
            (r#""say \"hi\"""#, &[r#"say "hi""#]),
            (r#","quoted, comma","#, &["quoted, comma"]),
            (
                r#"unterminated "quote here"#,
                &["unterminated", "\"quote", "here"],
            ),
            (r#"a"b c"d"#, &[r#"a"b c"d"#]),
            ("한글 검색", &["한글", "검색"]),
            ("nul\0byte", &["nulbyte"]),
        ];
        for (raw, expected) in cases {
            assert_eq!(search_terms(raw), *expected, "search {raw:?}");
        }
    }
}
