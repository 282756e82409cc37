//! A fetched body through the stages that follow the fetch, as `Pipeline::process_blocking`
//! runs them: the response's freshness headers read for the schedule, then parse (decoding,
//! feed-rs, normalize), dedup keys and classification.
//!
//! Input: optionally a first byte 0x01–0x06 choosing the response's Content-Type (so plain
//! feed files work as seeds as they are), then the body. The body's first line also serves
//! as a Cache-Control / Expires / Retry-After value.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tigris::classify::Classifier;

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    let topics = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/topics");
    Classifier::load(std::path::Path::new(topics)).expect("the shipped topics load")
});

static BASE: LazyLock<url::Url> =
    LazyLock::new(|| url::Url::parse("https://news.example/feeds/iraq.xml").expect("valid"));

const CONTENT_TYPES: [&str; 6] = [
    "application/rss+xml",
    "application/atom+xml; charset=utf-8",
    "text/xml; charset=windows-1252",
    "text/html; charset=utf-8",
    "application/feed+json",
    "text/plain; charset=utf-16",
];

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.split_first() {
        Some((&selector @ 1..=6, rest)) => (Some(CONTENT_TYPES[usize::from(selector) - 1]), rest),
        _ => (None, data),
    };
    let now = chrono::Utc::now();
    let first_line = body
        .split(|b| *b == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok());
    let _ = tigris::schedule::freshness_hint(None, None, first_line, first_line, now);
    if let Some(value) = first_line {
        let _ = tigris::schedule::parse_retry_after(value, now);
    }
    if let Ok(parsed) = tigris::parse::parse_feed(body, Some(&BASE), BASE.as_str(), content_type) {
        let hint = tigris::schedule::freshness_hint(
            parsed.ttl_minutes,
            parsed.update_period,
            None,
            None,
            now,
        );
        let _ = hint;
        let keyed = tigris::dedup::key_entries(parsed.entries);
        let _ = CLASSIFIER.classify_entries(keyed);
    }
});
