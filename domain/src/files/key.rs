//! The keys attachments are stored under. The edge chooses them from the month and 16 random
//! bytes, never from the client's file name, so a name cannot collide with, overwrite or
//! point at another object; the month lets the orphan sweep list one month at a time.

/// What every storage key starts with (the orphan sweep lists under it).
pub const KEY_PREFIX: &str = "attachments/";

/// `attachments/YYYY/MM/<32 lowercase hex>`, for a four-digit year and a month of 1 to 12
/// (the clock's; anything else makes a key [`is_storage_key`] refuses).
pub fn storage_key(year: i32, month: u32, random: [u8; 16]) -> String {
    format!("{KEY_PREFIX}{year:04}/{month:02}/{}", hex::encode(random))
}

/// Whether `key` has exactly the shape [`storage_key`] makes: what the origin and the sweep
/// accept from elsewhere.
pub fn is_storage_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(KEY_PREFIX) else {
        return false;
    };
    let mut parts = rest.split('/');
    let (Some(year), Some(month), Some(random), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    digits(year, 4)
        && digits(month, 2)
        && matches!(month.parse(), Ok(1..=12_u8))
        && random.len() == 32
        && random
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RANDOM: [u8; 16] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ];

    #[test]
    fn a_key_is_the_month_and_the_random_bytes_in_hex() {
        assert_eq!(
            storage_key(2025, 3, RANDOM),
            "attachments/2025/03/00112233445566778899aabbccddeeff"
        );
    }

    #[test]
    fn only_keys_of_exactly_that_shape_are_storage_keys() {
        let hex = "00112233445566778899aabbccddeeff";
        assert!(is_storage_key(&format!("attachments/2025/12/{hex}")));
        let refused = [
            (format!("attachments/2025/13/{hex}"), "month 13"),
            (format!("attachments/2025/00/{hex}"), "month 0"),
            (format!("attachments/2025/3/{hex}"), "an unpadded month"),
            (format!("attachments/25/03/{hex}"), "a two-digit year"),
            (
                format!("attachments/2025/03/{}", hex.to_uppercase()),
                "upper-case hex",
            ),
            (format!("attachments/2025/03/{hex}0"), "33 digits"),
            (format!("attachments/2025/03/{hex}/"), "a trailing slash"),
            (format!("attachments/2025/03/{hex}/x"), "a name after it"),
            (format!("attachments/2025/+3/{hex}"), "a sign"),
            (format!("other/2025/03/{hex}"), "another prefix"),
            (format!("/attachments/2025/03/{hex}"), "a leading slash"),
            (format!("attachments/2025/03/../{hex}"), "a traversal"),
            (String::new(), "nothing"),
        ];
        for (key, why) in refused {
            assert!(!is_storage_key(&key), "{why}: {key}");
        }
    }

    proptest! {
        #[test]
        fn every_key_made_for_a_real_month_is_recognised(
            year in 1000..=9999_i32,
            month in 1..=12_u32,
            random in any::<[u8; 16]>(),
        ) {
            prop_assert!(is_storage_key(&storage_key(year, month, random)));
        }

        #[test]
        fn any_string_is_judged_without_a_panic(key in "[\\s\\S]{0,80}") {
            let _ = is_storage_key(&key);
        }
    }
}
