use super::*;
use proptest::prelude::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\0\x10JFIF";
const PDF: &[u8] = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n";
const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";
const ZIP: &[u8] = b"PK\x03\x04\x14\0\0\0";

fn content_type(
    declared: Option<&str>,
    filename: &str,
    head: &[u8],
) -> Result<&'static str, KindError> {
    classify(declared, filename, head).map(|kind| kind.content_type)
}

#[test]
fn each_allowed_kind_is_recognised_by_name_type_and_content() {
    let cases: [(&str, &str, &[u8], &str); 11] = [
        ("a.png", "image/png", PNG, "image/png"),
        ("a.JPG", "image/jpeg", JPEG, "image/jpeg"),
        ("a.jpeg", "image/jpg", JPEG, "image/jpeg"),
        ("a.gif", "image/gif", b"GIF89a\x01\0", "image/gif"),
        ("a.gif", "image/gif", b"GIF87a\x01\0", "image/gif"),
        ("a.webp", "image/webp", WEBP, "image/webp"),
        ("report.v2.pdf", "application/pdf", PDF, "application/pdf"),
        (
            "notes.md",
            "text/markdown; charset=utf-8",
            b"# Notes\r\n\t- one\x0c",
            "text/plain",
        ),
        (
            "data.csv",
            "application/vnd.ms-excel",
            b"\xEF\xBB\xBFa,b\n1,2\n",
            "text/csv",
        ),
        (
            "a.zip",
            "application/x-zip-compressed",
            ZIP,
            "application/zip",
        ),
        (
            "empty.zip",
            "application/zip",
            b"PK\x05\x06\0\0",
            "application/zip",
        ),
    ];
    for (filename, declared, head, expected) in cases {
        assert_eq!(
            content_type(Some(declared), filename, head),
            Ok(expected),
            "{filename} as {declared}"
        );
    }
}

#[test]
fn a_missing_or_generic_declared_type_leaves_it_to_the_name_and_content() {
    for declared in [
        None,
        Some(""),
        Some("application/octet-stream"),
        Some("IMAGE/PNG; x=y"),
    ] {
        assert_eq!(
            content_type(declared, "a.png", PNG),
            Ok("image/png"),
            "{declared:?}"
        );
    }
}

#[test]
fn scriptable_unknown_or_nameless_kinds_are_unsupported() {
    let cases: [(&str, &str); 6] = [
        ("logo.svg", "image/svg+xml"),
        ("page.html", "text/html"),
        ("page.htm", "text/html"),
        ("setup.exe", "application/octet-stream"),
        ("README", "text/plain"),
        ("archive.tar.gz", "application/gzip"),
    ];
    for (filename, declared) in cases {
        assert_eq!(
            content_type(Some(declared), filename, b"text"),
            Err(KindError::Unsupported),
            "{filename}"
        );
    }
}

#[test]
fn a_lying_type_or_extension_is_a_mismatch() {
    let cases: [(Option<&str>, &str, &[u8], &str); 8] = [
        (
            Some("text/html"),
            "a.png",
            PNG,
            "a declared type of another kind",
        ),
        (
            Some("image/jpeg"),
            "a.png",
            PNG,
            "a declared type of another allowed kind",
        ),
        (None, "a.png", JPEG, "content of another kind"),
        (None, "a.pdf", b"<html><script>", "HTML named as a PDF"),
        (None, "a.txt", PNG, "binary named as text"),
        (None, "a.txt", b"a\0b", "a NUL in text"),
        (None, "a.csv", b"a,\x1b[31mb", "an escape in text"),
        (
            None,
            "a.webp",
            b"RIFF\x24\0\0\0WAVEfmt ",
            "a RIFF that is no WebP",
        ),
    ];
    for (declared, filename, head, why) in cases {
        assert_eq!(
            content_type(declared, filename, head),
            Err(KindError::Mismatch),
            "{why}"
        );
    }
}

#[test]
fn text_may_end_in_a_character_cut_at_the_end_of_the_head_but_not_hold_a_broken_one() {
    assert_eq!(
        content_type(
            None,
            "a.txt",
            "caf\u{e9}".as_bytes().split_last().unwrap().1
        ),
        Ok("text/plain")
    );
    assert_eq!(
        content_type(None, "a.txt", b"caf\xC3x"),
        Err(KindError::Mismatch)
    );
}

#[test]
fn only_the_first_sniff_bytes_are_looked_at() {
    let mut head = vec![b'a'; SNIFF_BYTES];
    head.push(0);
    assert_eq!(content_type(None, "a.txt", &head), Ok("text/plain"));
}

#[test]
fn an_empty_file_is_refused_with_drfs_message() {
    assert_eq!(content_type(None, "a.txt", b""), Err(KindError::Empty));
    assert_eq!(KindError::Empty.to_string(), "The submitted file is empty.");
}

#[test]
fn the_messages_are_those_the_client_reads_on_the_file_field() {
    assert_eq!(
        KindError::Unsupported.to_string(),
        "Unsupported file type: only PNG, JPEG, GIF, WebP, PDF, plain text, CSV and ZIP files are accepted."
    );
    assert_eq!(
        KindError::Mismatch.message(),
        "The file's content does not match its type."
    );
}

#[test]
fn every_allowed_kind_has_a_signature_and_its_extensions_are_unique() {
    let samples: [&[u8]; 8] = [PNG, JPEG, b"GIF89a", WEBP, PDF, b"text", b"a,b", ZIP];
    for (kind, sample) in ALLOWED.iter().zip(samples) {
        assert!(content_matches(kind, sample), "{}", kind.content_type);
    }
    let mut extensions: Vec<_> = ALLOWED.iter().flat_map(|kind| kind.extensions).collect();
    let count = extensions.len();
    extensions.sort_unstable();
    extensions.dedup();
    assert_eq!(extensions.len(), count);
}

proptest! {
    #[test]
    fn any_upload_is_classified_without_a_panic(
        declared in prop::option::of(".{0,40}"),
        filename in ".{0,40}",
        head in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let _ = classify(declared.as_deref(), &filename, &head);
    }
}
