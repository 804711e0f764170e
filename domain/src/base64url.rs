//! Unpadded base64url (RFC 4648 §5): JWT parts and signed links. Ours rather than a crate's,
//! because the wasm pays for every dependency and this is forty lines.
//!
//! Decoding is strict, as the `base64` crate's `URL_SAFE_NO_PAD` engine is: no padding, no
//! other alphabet, no length that leaves a lone symbol, and the unused bits of the last symbol
//! zero, so every byte string has exactly one encoding.

/// `bytes` encoded, without padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..=chunk.len() {
            encoded.push(symbol(group >> (18 - 6 * i)));
        }
    }
    encoded
}

/// The bytes `text` encodes, or `None` when it is not canonical unpadded base64url.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if text.len() % 4 == 1 {
        return None;
    }
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut group = 0u32;
        for (i, &symbol) in chunk.iter().enumerate() {
            group |= sextet(symbol)? << (18 - 6 * i);
        }
        let [_, first, second, third] = group.to_be_bytes();
        let decoded = [first, second, third];
        // Two symbols carry one byte, three two, four three.
        let (kept, unused) = decoded.split_at(chunk.len() - 1);
        if unused.iter().any(|&byte| byte != 0) {
            return None;
        }
        bytes.extend_from_slice(kept);
    }
    Some(bytes)
}

fn symbol(sextet: u32) -> char {
    let sextet = u8::try_from(sextet & 63).unwrap_or_default();
    char::from(match sextet {
        0..=25 => b'A' + sextet,
        26..=51 => b'a' + (sextet - 26),
        52..=61 => b'0' + (sextet - 52),
        62 => b'-',
        _ => b'_',
    })
}

fn sextet(symbol: u8) -> Option<u32> {
    let value = match symbol {
        b'A'..=b'Z' => symbol - b'A',
        b'a'..=b'z' => symbol - b'a' + 26,
        b'0'..=b'9' => symbol - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn encodes_as_the_base64_crate_does(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes));
        }

        /// Strings of the alphabet and a few strangers: the same verdict and bytes as the
        /// `base64` crate's strict engine.
        #[test]
        fn decodes_as_the_base64_crate_does(text in "[A-Za-z0-9_=+/. -]{0,24}") {
            prop_assert_eq!(decode(&text), URL_SAFE_NO_PAD.decode(&text).ok());
        }
    }

    #[test]
    fn rfc_4648_vectors_round_trip() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff], "-_8"),
        ] {
            assert_eq!(encode(bytes), text);
            assert_eq!(decode(text).as_deref(), Some(bytes), "{text}");
        }
    }

    #[test]
    fn anything_not_canonical_is_refused() {
        for text in [
            "Zg==", "Zm9v+", "Zm9v/", "Z", "Zm9vY", "Zh", "Zm9", "Zm.v", "Zm 9v",
        ] {
            // "Zh" and "Zm9" have unused bits set: "Zg" and "Zm8" are the canonical forms.
            assert_eq!(decode(text), None, "{text}");
        }
    }
}
