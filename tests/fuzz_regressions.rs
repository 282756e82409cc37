//! Inputs the fuzz targets (`fuzz/`) found to crash tigris, kept so they never do again. Each
//! goes through the parse stage and through `tigris inspect`, the real binary.

mod common;

use std::path::Path;

fn input(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An Atom entry with `<?xml version="1.0` in the middle: quick-xml 0.42 (under feed-rs)
/// panicked with "set_encoding() called after prefix buffer was drained". Found by the
/// `ingest` target in its first minute.
#[test]
fn late_xml_declaration_inside_an_entry_is_not_a_panic() {
    let body = input("late_xml_declaration_inside_an_entry.xml");
    let result = std::panic::catch_unwind(|| {
        tigris::parse::parse_feed(&body, None, "late-declaration", None)
    });
    let parsed = result.expect("parse_feed must not panic");
    match parsed {
        // The entry before the stray declaration is still read.
        Ok(feed) => assert!(!feed.entries.is_empty()),
        // Refused by the parser's own rules, not by the panic guard.
        Err(e) => assert!(
            !matches!(e, tigris::parse::ParseError::ParserFailed { .. })
                && e.to_string().starts_with("late-declaration:"),
            "{e}"
        ),
    }
}

#[tokio::test]
async fn late_xml_declaration_goes_through_inspect_with_exit_0_or_a_clear_error() {
    let tigris = common::Tigris::new();
    tigris.write_config(&[], "");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz/late_xml_declaration_inside_an_entry.xml");
    let out = tigris.run(&["inspect", path.to_str().unwrap()]).await;
    let err = common::stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {err}",
        out.status
    );
}

/// A licence text, then an RSS document with its `<?xml … encoding="iso-8859-1"?>`: feed-rs
/// starts at the first `<`, so quick-xml met the declaration after the start and panicked
/// as above. Found by the `ingest` target on its second run.
#[test]
fn xml_declaration_after_leading_text_is_not_a_panic() {
    let body = input("xml_declaration_after_leading_text.xml");
    let result =
        std::panic::catch_unwind(|| tigris::parse::parse_feed(&body, None, "leading-text", None));
    match result.expect("parse_feed must not panic") {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(e, tigris::parse::ParseError::ParserFailed { .. })
                && e.to_string().starts_with("leading-text:"),
            "{e}"
        ),
    }
}

/// `<?xml version="1.0" encoding="gb2312"` with its `?>` far away (a real WordPress capture,
/// mutated): quick-xml reached the encoding after its prefix buffer was gone and panicked as
/// above. Found by the `ingest` target on its third run.
#[test]
fn unterminated_xml_declaration_naming_an_encoding_is_not_a_panic() {
    let body = input("unterminated_xml_declaration_naming_gb2312.xml");
    let result = std::panic::catch_unwind(|| {
        tigris::parse::parse_feed(&body, None, "unterminated-declaration", None)
    });
    match result.expect("parse_feed must not panic") {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(e, tigris::parse::ParseError::ParserFailed { .. })
                && e.to_string().starts_with("unterminated-declaration:"),
            "{e}"
        ),
    }
}

/// A GB2312 capture with a second `<?xml … encoding='iso-8859-1'?>` after a part quick-xml
/// cannot read as events (so tigris' own pass stopped before it): quick-xml under feed-rs
/// panicked as above. Found by the `ingest` target on its fourth run.
#[test]
fn second_declaration_after_an_ill_formed_part_is_not_a_panic() {
    let body = input("second_declaration_after_an_ill_formed_part.xml");
    let result = std::panic::catch_unwind(|| {
        tigris::parse::parse_feed(&body, None, "second-declaration", None)
    });
    match result.expect("parse_feed must not panic") {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(e, tigris::parse::ParseError::ParserFailed { .. })
                && e.to_string().starts_with("second-declaration:"),
            "{e}"
        ),
    }
}
