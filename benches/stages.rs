//! The pipeline's stages one by one, in items per second, so a regression shows where it is:
//! parse (an RSS 2.0 document of 50 items, about 40 KB, as the benchmark farm serves),
//! normalize and dedup keys, classify, fingerprint for stories, and store (one feed's 50 new
//! items in one transaction, with story clustering and the full-text index, into a real
//! SQLite file that grows while criterion runs: the index takes the items in batches of 8,000,
//! every 160th transaction, so its cost is spread over the iterations as over a cold poll's
//! transactions); and `dedup::canonical_url` alone over a cold
//! poll's worth of links (50,000, as the benchmark farm's 1,000 x 50). Run with
//! `cargo bench --bench stages`.

use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tigris::classify::Classifier;
use tigris::config::FeedConfig;
use tigris::dedup;
use tigris::parse;
use tigris::schedule::{CronSchedule, FeedState};
use tigris::store::{FetchRecord, Store};

const ITEMS: usize = 50;

/// Links of a cold poll of the benchmark farm (1,000 feeds x 50 items).
const LINKS: usize = 50_000;

/// `LINKS` item links as a cold poll meets them: the farm's own (`bench/farm.py`: a story
/// path on one of 97 news hosts, 1 in 10 syndicated with utm_ and fbclid parameters), plus a
/// few of the kinds real feeds carry that ClearURLs has a provider for (FeedBurner's
/// feedproxy.google.com, YouTube, Amazon with a /ref= path and a tag).
fn links() -> Vec<String> {
    (0..LINKS)
        .map(|i| {
            let feed = i / 50;
            let story = format!("https://news{}.example/{feed}/story-{i}", feed % 97);
            match i % 200 {
                0 => format!("https://www.amazon.com/dp/B0{i:08}/ref=sr_1_3?tag=news-20&qid=17"),
                n if n % 100 == 1 => format!("https://www.youtube.com/watch?v=v{i:07}&feature=share"),
                n if n % 50 == 2 => format!("http://feedproxy.google.com/~r/Desk{feed}/~3/s{i}/"),
                n if n % 10 == 3 => format!(
                    "{story}?utm_source=rss&utm_medium=feed&utm_campaign=syndication&fbclid=IwAR{i:08}"
                ),
                _ => story,
            }
        })
        .collect()
}

/// A deterministic RSS document of `ITEMS` news-sized items; `round` makes guids and links
/// new, so every stored document is new items.
fn document(round: u64) -> Vec<u8> {
    let mut state = round.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut word = || {
        // xorshift: words from a 20,000-word vocabulary, small numbers more often.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let rank = (state % 20_000) * (state % 7 + 1) / 7;
        format!("w{rank}")
    };
    let mut out = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench</title><link>https://bench.example/</link><description>b</description>"#,
    );
    for i in 0..ITEMS {
        let title: Vec<String> = (0..9).map(|_| word()).collect();
        let text: Vec<String> = (0..70).map(|_| word()).collect();
        out.push_str(&format!(
            "<item><title>{} Iraq</title><link>https://bench.example/{round}/{i}?utm_source=rss</link>\
             <guid isPermaLink=\"false\">bench-{round}-{i}</guid><pubDate>Mon, 23 Nov 2026 {:02}:00:00 GMT</pubDate>\
             <description>&lt;p&gt;{}&lt;/p&gt;</description></item>",
            title.join(" "),
            i % 24,
            text.join(" ")
        ));
    }
    out.push_str("</channel></rss>");
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    // The first call builds the ClearURLs cleaner (a once-per-process cost criterion's
    // iterations never see).
    let started = std::time::Instant::now();
    dedup::canonical_url("https://bench.example/warm-up");
    eprintln!(
        "dedup: first canonical_url (builds the URL cleaner): {:.1?}",
        started.elapsed()
    );

    let classifier = Classifier::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/topics"
    )))
    .expect("shipped topics load");
    let body = document(0);
    let base = url::Url::parse("https://bench.example/feed.xml").expect("url");
    let parse = || parse::parse_feed(&body, Some(&base), base.as_str(), None).expect("parses");

    let mut group = c.benchmark_group("stages");
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("parse (RSS, 50 items)", |b| b.iter(parse));
    group.bench_function("normalize + dedup keys", |b| {
        b.iter_batched(
            || parse().entries,
            dedup::key_entries,
            BatchSize::SmallInput,
        )
    });
    group.bench_function("classify + story fingerprint", |b| {
        b.iter_batched(
            || dedup::key_entries(parse().entries),
            |keyed| classifier.classify_entries(keyed),
            BatchSize::SmallInput,
        )
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = Store::open(&dir.path().join("bench.db")).expect("open store");
    let feed_config = FeedConfig {
        line: 1,
        url: base.clone(),
        name: None,
        schedule: CronSchedule::parse("0 * * * *").expect("cron"),
    };
    store
        .sync_feeds(&[feed_config], Utc::now())
        .expect("sync feeds");
    let feed = store
        .enabled_feeds()
        .expect("feeds")
        .pop()
        .expect("one feed");
    let started_at = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let record = FetchRecord {
        started_at,
        http_status: Some(200),
        bytes: body.len() as u64,
        duration: std::time::Duration::from_millis(1),
        etag: None,
        last_modified: None,
        next_check_at: started_at + Duration::hours(1),
        state: FeedState::Ok,
        failing_since: None,
        permanent_redirect: None,
    };
    let mut round = 0;
    group.bench_function("store (50 new items, one transaction)", |b| {
        b.iter_batched(
            || {
                round += 1;
                let body = document(round);
                let mut parsed =
                    parse::parse_feed(&body, Some(&base), base.as_str(), None).expect("parses");
                let keyed = dedup::key_entries(std::mem::take(&mut parsed.entries));
                (parsed, classifier.classify_entries(keyed))
            },
            |(parsed, entries)| {
                store
                    .store_poll(&feed, &record, "hash", &parsed, &entries)
                    .expect("store")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let links = links();
    let mut group = c.benchmark_group("dedup");
    group.throughput(Throughput::Elements(LINKS as u64));
    group.sample_size(10);
    group.bench_function("canonical_url (50,000 links)", |b| {
        b.iter(|| {
            links
                .iter()
                .filter_map(|link| dedup::canonical_url(link))
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
