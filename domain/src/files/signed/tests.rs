use super::*;
use proptest::prelude::*;

const SECRET: &[u8] = b"a-media-secret-of-32-bytes-long!";
const KEY: &str = "attachments/2025/03/00112233445566778899aabbccddeeff";
const NOW: i64 = 1_750_000_000;

#[test]
fn a_signed_path_names_the_object_and_carries_its_expiry_and_signature() {
    let path = signed_path(SECRET, KEY, "Résumé.pdf", NOW + 300);
    let (path, query) = path.split_once('?').unwrap();
    assert_eq!(path, format!("/media/{KEY}/R%C3%A9sum%C3%A9.pdf"));
    assert_eq!(
        parse_media_path(path),
        Some((KEY.to_owned(), "R%C3%A9sum%C3%A9.pdf".to_owned()))
    );
    assert!(query.starts_with(&format!("expires={}&signature=", NOW + 300)));
    assert_eq!(verify(SECRET, KEY, query, NOW), Ok(NOW + 300));
    assert_eq!(
        verify(SECRET, KEY, &format!("?{query}"), NOW + 299),
        Ok(NOW + 300)
    );
}

#[test]
fn the_parameters_may_come_in_either_order() {
    let signature = sign(SECRET, KEY, NOW + 1);
    let query = format!("signature={signature}&expires={}", NOW + 1);
    assert_eq!(verify(SECRET, KEY, &query, NOW), Ok(NOW + 1));
}

#[test]
fn a_link_expires_at_its_expiry() {
    let query = signed_query(SECRET, KEY, NOW);
    assert_eq!(
        verify(SECRET, KEY, &query, NOW),
        Err(SignatureError::Expired)
    );
    assert_eq!(verify(SECRET, KEY, &query, NOW - 1), Ok(NOW));
}

#[test]
fn a_signature_opens_only_its_object_until_its_expiry_under_our_secret() {
    let query = signed_query(SECRET, KEY, NOW + 60);
    let other_key = "attachments/2025/03/ffeeddccbbaa99887766554433221100";
    assert_eq!(
        verify(SECRET, other_key, &query, NOW),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify(b"another secret", KEY, &query, NOW),
        Err(SignatureError::Mismatch)
    );
    let extended = query.replace(&(NOW + 60).to_string(), &(NOW + 6000).to_string());
    assert_eq!(
        verify(SECRET, KEY, &extended, NOW),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_forged_expired_link_is_a_mismatch_not_expired() {
    let query = format!("expires={}&signature={}", NOW - 1, "A".repeat(43));
    assert_eq!(
        verify(SECRET, KEY, &query, NOW),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn a_query_that_is_not_exactly_the_two_parameters_is_malformed() {
    let signature = sign(SECRET, KEY, NOW + 60);
    let expires = NOW + 60;
    let cases = [
        (String::new(), "nothing"),
        (format!("expires={expires}"), "no signature"),
        (format!("signature={signature}"), "no expiry"),
        (
            format!("expires={expires}&signature={signature}&x=1"),
            "a third parameter",
        ),
        (
            format!("expires={expires}&signature={signature}&"),
            "an empty parameter",
        ),
        (
            format!("expires={expires}&expires={expires}&signature={signature}"),
            "a repeat",
        ),
        (
            format!("expires=+{expires}&signature={signature}"),
            "a sign",
        ),
        (
            format!("expires=-1&signature={signature}"),
            "a negative expiry",
        ),
        (
            format!("expires=99999999999999999999&signature={signature}"),
            "beyond i64",
        ),
        (
            format!("expires={expires}&signature={signature}="),
            "padding",
        ),
        (
            format!("expires={expires}&signature={}", &signature[1..]),
            "a short signature",
        ),
        (
            format!(
                "expires={expires}&signature={}",
                signature.replace(['-', '_'], "+")
            ),
            "base64 not url",
        ),
        (format!("expires={expires}&signature"), "no value"),
        (
            format!(
                "expires={expires}&signature={signature}{}",
                "&".repeat(5000)
            ),
            "too long",
        ),
    ];
    for (query, why) in cases {
        assert_eq!(
            verify(SECRET, KEY, &query, NOW),
            Err(SignatureError::Malformed),
            "{why}: {query}"
        );
    }
}

#[test]
fn only_a_storage_key_and_one_name_segment_make_a_media_path() {
    let refused = [
        format!("/media/{KEY}"),
        format!("/media/{KEY}/"),
        format!("/media/{KEY}/a/b"),
        format!("/api/{KEY}/a"),
        "/media/attachments/2025/03/../a.txt".to_owned(),
        format!("/media/{KEY}/{}", "a".repeat(MAX_SEGMENT_BYTES + 1)),
    ];
    for path in refused {
        assert_eq!(parse_media_path(&path), None, "{path}");
    }
}

#[test]
fn the_signature_is_hmac_sha256_of_the_versioned_message() {
    // The same HMAC computed independently: `printf 'media-v1\nk\n5' |
    // openssl dgst -sha256 -hmac s -binary | basenc --base64url`, unpadded.
    assert_eq!(
        sign(b"s", "k", 5),
        "N5RBPbu7y70Gn5cDlSCVtNfBCK4AAS5-Mr3hgNVTFBM"
    );
}

proptest! {
    #[test]
    fn every_signed_query_verifies_before_its_expiry(
        secret in prop::collection::vec(any::<u8>(), 0..64),
        random in any::<[u8; 16]>(),
        expires in 0..i64::MAX,
        before in 1..1_000_000_i64,
    ) {
        let key = super::super::key::storage_key(2025, 1, random);
        let query = signed_query(&secret, &key, expires);
        prop_assert_eq!(verify(&secret, &key, &query, expires.saturating_sub(before)), Ok(expires));
        prop_assert_eq!(verify(&secret, &key, &query, expires), Err(SignatureError::Expired));
    }

    #[test]
    fn any_query_or_path_is_judged_without_a_panic(query in "[\\s\\S]{0,200}", path in "[\\s\\S]{0,200}") {
        let _ = verify(SECRET, KEY, &query, NOW);
        let _ = parse_media_path(&path);
    }
}
