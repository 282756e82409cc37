//! Story clustering cost: how long putting a new item into its story takes with 1,000 and with
//! 100,000 items already stored (it must stay nearly flat: a new item is compared only with
//! the items sharing a band key in the story window), and the total for 50,000 new items.
//! A real SQLite file in a temporary folder. Run with `cargo bench --bench cluster`.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use tigris::cluster::{StoryPrint, fingerprint};
use tigris::store::{Store, timestamp};

/// A deterministic stream of news-like items: 1,000 a day, words from a 6,000-word
/// vocabulary, and one story in ten told twice (by a second outlet, reworded).
struct Items {
    state: u64,
    n: u64,
}

impl Items {
    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn item(&mut self) -> (String, String, chrono::DateTime<Utc>) {
        let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let published = base + Duration::seconds((self.n * 86) as i64);
        self.n += 1;
        let words = |count: usize, this: &mut Self| -> String {
            (0..count)
                .map(|_| format!("w{}", this.next_u64() % 6000))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let title = words(9, self);
        let text = words(60, self);
        (title, text, published)
    }
}

/// Stores the next item's row (as a poll would, before clustering): (id, title, text, published).
fn insert_item(conn: &rusqlite::Connection, items: &mut Items) -> (i64, String, String, String) {
    let (title, text, published) = items.item();
    let published = timestamp(published);
    conn.execute(
        "INSERT INTO items (title, content_text, content_hash, first_seen_at, last_changed_at, published_at)
         VALUES (?1, ?2, 'h', ?3, ?3, ?3)",
        rusqlite::params![title, text, published],
    )
    .expect("insert item");
    (conn.last_insert_rowid(), title, text, published)
}

fn fill(store: &mut Store, conn: &rusqlite::Connection, items: &mut Items, count: usize) {
    let mut batch: Vec<(i64, StoryPrint, String)> = Vec::new();
    for _ in 0..count {
        let (id, title, text, published) = insert_item(conn, items);
        batch.push((id, fingerprint(&title, &text), published));
        if batch.len() == 5000 {
            store.assign_stories(&batch).expect("assign");
            batch.clear();
        }
    }
    store.assign_stories(&batch).expect("assign");
}

/// Microseconds per item to fingerprint and put 2,000 new items into stories, one
/// transaction per 100 (as a poll of a busy feed would).
fn cost_per_item(store: &mut Store, conn: &rusqlite::Connection, items: &mut Items) -> f64 {
    let pending: Vec<_> = (0..2000).map(|_| insert_item(conn, items)).collect();
    let started = Instant::now();
    for chunk in pending.chunks(100) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|(id, title, text, published)| (*id, fingerprint(title, text), published.clone()))
            .collect();
        store.assign_stories(&batch).expect("assign");
    }
    started.elapsed().as_secs_f64() * 1e6 / 2000.0
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    for stored in [1_000usize, 100_000] {
        let path = dir.path().join(format!("bench-{stored}.db"));
        let mut store = Store::open(&path).expect("open store");
        let conn = rusqlite::Connection::open(&path).expect("open connection");
        let mut items = Items { state: 7, n: 0 };
        let started = Instant::now();
        fill(&mut store, &conn, &mut items, stored);
        let filled = started.elapsed();
        let per_item = cost_per_item(&mut store, &conn, &mut items);
        println!(
            "stories: {stored:>7} items stored (filled in {:.1} s): {per_item:.1} µs per new item",
            filled.as_secs_f64()
        );
        if stored == 100_000 {
            let started = Instant::now();
            fill(&mut store, &conn, &mut items, 50_000);
            println!(
                "stories: 50,000 new items onto 100,000: {:.1} s in all ({:.1} µs per item)",
                started.elapsed().as_secs_f64(),
                started.elapsed().as_secs_f64() * 1e6 / 50_000.0
            );
        }
    }
}
