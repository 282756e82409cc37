//! Story clustering, measured and end to end: precision and recall of "same story" on the
//! labeled pairs in tests/data/stories/pairs.jsonl, and two outlets' reports of one event
//! becoming one story in the store, one entry in the merged feed, and one line of
//! `tigris stories`.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::*;
use tigris::cluster::{StoryRules, fingerprint, same_story, similarity};

#[derive(serde::Deserialize)]
struct Side {
    title: String,
    text: String,
    published: DateTime<Utc>,
}

#[derive(serde::Deserialize)]
struct Pair {
    id: String,
    same: bool,
    kind: String,
    a: Side,
    b: Side,
}

fn pairs() -> Vec<Pair> {
    include_str!("data/stories/pairs.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (true positives, false positives, true negatives, false negatives) under `rules`.
fn confusion(pairs: &[Pair], rules: &StoryRules) -> (usize, usize, usize, usize) {
    let mut counts = (0, 0, 0, 0);
    for pair in pairs {
        let a = fingerprint(&pair.a.title, &pair.a.text);
        let b = fingerprint(&pair.b.title, &pair.b.text);
        let predicted = same_story(&a, pair.a.published, &b, pair.b.published, rules);
        match (predicted, pair.same) {
            (true, true) => counts.0 += 1,
            (true, false) => counts.1 += 1,
            (false, false) => counts.2 += 1,
            (false, true) => counts.3 += 1,
        }
    }
    counts
}

#[test]
fn same_story_pairing_has_precision_and_recall_of_at_least_0_9() {
    let pairs = pairs();
    assert!(pairs.len() >= 150, "{} pairs", pairs.len());
    let rules = StoryRules::default();
    for threshold in [0.2, 0.25, 0.3, 0.35, 0.4] {
        let (tp, fp, tn, fn_) = confusion(&pairs, &StoryRules { threshold, ..rules });
        println!(
            "threshold {threshold:.2}: precision {:.3}, recall {:.3} (TP {tp}, FP {fp}, TN {tn}, FN {fn_})",
            tp as f64 / (tp + fp).max(1) as f64,
            tp as f64 / (tp + fn_).max(1) as f64
        );
    }
    let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for pair in &pairs {
        let a = fingerprint(&pair.a.title, &pair.a.text);
        let b = fingerprint(&pair.b.title, &pair.b.text);
        let right = same_story(&a, pair.a.published, &b, pair.b.published, &rules) == pair.same;
        let entry = by_kind.entry(pair.kind.as_str()).or_default();
        entry.0 += usize::from(right);
        entry.1 += 1;
        if !right {
            println!(
                "  wrong: {} {} similarity {:.2}",
                pair.id,
                pair.kind,
                similarity(&a, &b)
            );
        }
    }
    for (kind, (right, all)) in &by_kind {
        println!("  {kind}: {right}/{all} right");
    }
    let (tp, fp, _, fn_) = confusion(&pairs, &rules);
    let precision = tp as f64 / (tp + fp) as f64;
    let recall = tp as f64 / (tp + fn_) as f64;
    println!("default rules: precision {precision:.3}, recall {recall:.3}");
    assert!(precision >= 0.9, "precision {precision:.3}");
    assert!(recall >= 0.9, "recall {recall:.3}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_outlets_reports_of_one_event_are_one_story_and_one_feed_entry() {
    let pair = pairs()
        .into_iter()
        .find(|p| {
            p.kind == "reworded" && p.same && {
                let a = fingerprint(&p.a.title, &p.a.text);
                let b = fingerprint(&p.b.title, &p.b.text);
                same_story(&a, p.a.published, &b, p.b.published, &StoryRules::default())
            }
        })
        .expect("a reworded pair the rules join");
    let server = FeedServer::start().await;
    let relevant_text = |side: &Side| format!("{} US forces in Iraq, Baghdad said.", side.text);
    let first = Item::new(
        "a1",
        "https://outlet-a.example/story",
        &pair.a.title,
        &relevant_text(&pair.a),
    );
    let second = Item::new(
        "b1",
        "https://outlet-b.example/other-url",
        &pair.b.title,
        &relevant_text(&pair.b),
    );
    let other = Item::new(
        "a2",
        "https://outlet-a.example/budget",
        "Pentagon asks Congress for Iraq training funds in a separate request",
        "The Defense Department sought money for advisers training Iraqi forces in Baghdad, officials in Washington said, in a budget line unrelated to any attack.",
    );
    let a = server.set_feed(
        "a",
        rss2("Outlet A", &[first.clone(), other]),
        "application/rss+xml",
    );
    let tigris = Tigris::new();
    tigris.write_config(&[(&a, "Outlet A")], "");
    assert!(tigris.run(&["poll"]).await.status.success());
    let feed_of = |bytes: &[u8]| feed_rs::parser::parse(bytes).unwrap();
    let out = tigris.run(&["feed", "--format", "json"]).await;
    let before = feed_of(&out.stdout);
    assert_eq!(before.entries.len(), 2);

    // Outlet B reports the same event with other words, under another URL.
    let b = server.set_feed("b", rss2("Outlet B", &[second]), "application/rss+xml");
    tigris.write_config(&[(&a, "Outlet A"), (&b, "Outlet B")], "");
    let inspect_file = tigris.dir.path().join("b.xml");
    std::fs::write(
        &inspect_file,
        rss2(
            "Outlet B",
            &[Item::new(
                "b1",
                "https://outlet-b.example/other-url",
                &pair.b.title,
                &relevant_text(&pair.b),
            )],
        ),
    )
    .unwrap();
    let inspect = tigris
        .run(&["inspect", inspect_file.to_str().unwrap()])
        .await;
    let line: serde_json::Value =
        serde_json::from_str(stdout(&inspect).lines().next().unwrap()).unwrap();
    assert!(
        line["story"]["id"].is_number(),
        "inspect names the story it would join: {line}"
    );
    assert!(tigris.run(&["poll"]).await.status.success());

    assert_eq!(tigris.count("SELECT count(*) FROM items"), 3);
    assert_eq!(tigris.count("SELECT count(*) FROM stories"), 2);
    assert_eq!(tigris.count("SELECT max(member_count) FROM stories"), 2);

    let out = tigris.run(&["feed", "--format", "json"]).await;
    let after = feed_of(&out.stdout);
    assert_eq!(after.entries.len(), 2, "one entry per story");
    let story_entry = after
        .entries
        .iter()
        .find(|e| {
            e.links
                .iter()
                .any(|l| l.href == "https://outlet-a.example/story")
        })
        .expect("the story's entry keeps its first report's link");
    let first_id = before
        .entries
        .iter()
        .find(|e| {
            e.links
                .iter()
                .any(|l| l.href == "https://outlet-a.example/story")
        })
        .unwrap()
        .id
        .clone();
    assert_eq!(
        story_entry.id, first_id,
        "the entry id is stable as members join"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let content = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["url"] == "https://outlet-a.example/story")
        .unwrap();
    assert!(
        content["content_html"]
            .as_str()
            .unwrap()
            .contains("Also reported by"),
        "{content}"
    );
    assert_eq!(
        content["_tigris"]["also_reported_by"][0]["feed_name"],
        "Outlet B"
    );

    let all = tigris
        .run(&["feed", "--format", "json", "--all-items"])
        .await;
    assert_eq!(
        feed_of(&all.stdout).entries.len(),
        3,
        "--all-items lists every item"
    );

    let listing = tigris
        .run(&["stories", "--since", "2000-01-01T00:00:00Z"])
        .await;
    let text = stdout(&listing);
    assert!(text.contains("  2 items   2 outlets"), "{text}");
    assert!(text.contains("2 stories"), "{text}");
}

/// The labeled pairs of one event reported twice in other words that the rules join, to be
/// stored as two feeds' items.
fn joined_pairs() -> Vec<Pair> {
    pairs()
        .into_iter()
        .filter(|p| {
            p.kind == "reworded" && p.same && {
                let a = fingerprint(&p.a.title, &p.a.text);
                let b = fingerprint(&p.b.title, &p.b.text);
                same_story(&a, p.a.published, &b, p.b.published, &StoryRules::default())
            }
        })
        .collect()
}

fn report(side: &Side, guid: &str, link: &str) -> Item {
    Item::new(guid, link, &side.title, &side.text)
}

/// The band index is held in memory and rebuilt from `story_prints`: an item must find the
/// items of its publication day that an earlier process stored, and those another connection
/// stored after this one had loaded that day.
#[test]
fn the_in_memory_band_index_finds_items_stored_before_a_restart_or_by_another_process() {
    let pairs = joined_pairs();
    assert!(pairs.len() >= 2, "two reworded pairs the rules join");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tigris.db");
    let stories = |sql: &str| -> i64 {
        rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(sql, [], |row| row.get(0))
            .unwrap()
    };

    // A restart: the second report is stored by a new process.
    {
        let mut first = tigris::store::Store::open(&db).unwrap();
        let a = report(&pairs[0].a, "a1", "https://outlet-a.example/1");
        assert_eq!(
            store_poll(&mut first, "https://outlet-a.example/feed", &[a]),
            1
        );
    }
    let mut daemon = tigris::store::Store::open(&db).unwrap();
    let b = report(&pairs[0].b, "b1", "https://outlet-b.example/1");
    assert_eq!(
        store_poll(&mut daemon, "https://outlet-b.example/feed", &[b]),
        1
    );
    assert_eq!(stories("SELECT count(*) FROM stories"), 1);
    assert_eq!(stories("SELECT max(member_count) FROM stories"), 2);

    // The daemon has that day in memory; a `tigris poll` beside it stores a report of
    // another event, and the daemon then stores a second report of that event.
    {
        let mut beside = tigris::store::Store::open(&db).unwrap();
        let a = report(&pairs[1].a, "c1", "https://outlet-c.example/1");
        assert_eq!(
            store_poll(&mut beside, "https://outlet-c.example/feed", &[a]),
            1
        );
    }
    let b = report(&pairs[1].b, "d1", "https://outlet-d.example/1");
    assert_eq!(
        store_poll(&mut daemon, "https://outlet-d.example/feed", &[b]),
        1
    );
    assert_eq!(stories("SELECT count(*) FROM stories"), 2);
    assert_eq!(
        stories("SELECT count(*) FROM stories WHERE member_count = 2"),
        2,
        "each event is one story of two reports"
    );
}

/// A transaction searches the story index for all its new entries at once, on several
/// threads, before it stores any: an entry must still join the story of one stored earlier in
/// the same transaction. One poll brings both reports of each event and enough other items
/// for the searches to be shared between threads.
#[test]
fn reports_of_one_event_in_one_poll_are_one_story() {
    let pairs: Vec<Pair> = joined_pairs().into_iter().take(10).collect();
    assert!(pairs.len() >= 2, "two reworded pairs the rules join");
    // Words of letters only, none shared between two of these items.
    let word = |mut n: usize| -> String {
        let mut w = String::from("q");
        while n > 0 {
            w.push((b'a' + (n % 26) as u8) as char);
            n /= 26;
        }
        w
    };
    let mut items = Vec::new();
    for (k, pair) in pairs.iter().enumerate() {
        // Adjacent items are published a day apart: within the story window.
        items.push(report(
            &pair.a,
            &format!("a{k}"),
            &format!("https://outlet.example/a{k}"),
        ));
        items.push(report(
            &pair.b,
            &format!("b{k}"),
            &format!("https://outlet.example/b{k}"),
        ));
    }
    let others = 80;
    for i in 0..others {
        let text: Vec<String> = (0..30).map(|j| word(1 + i * 100 + j)).collect();
        items.push(Item::new(
            &format!("o{i}"),
            &format!("https://outlet.example/o{i}"),
            &text[..6].join(" "),
            &text.join(" "),
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tigris.db");
    let mut store = tigris::store::Store::open(&db).unwrap();
    assert_eq!(
        store_poll(&mut store, "https://outlet.example/feed", &items),
        items.len() as u64
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let story_of = |guid: &str| -> i64 {
        conn.query_row(
            "SELECT i.story_id FROM items i JOIN item_sources s ON s.item_id = i.id WHERE s.guid = ?1",
            [guid],
            |row| row.get(0),
        )
        .unwrap()
    };
    for (k, pair) in pairs.iter().enumerate() {
        assert_eq!(
            story_of(&format!("a{k}")),
            story_of(&format!("b{k}")),
            "pair {}: both reports in one story",
            pair.id
        );
    }
    let alone: i64 = conn
        .query_row(
            "SELECT count(*) FROM items i JOIN item_sources s ON s.item_id = i.id
              JOIN stories st ON st.id = i.story_id
             WHERE s.guid LIKE 'o%' AND st.member_count = 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(
        alone, others as i64,
        "each other item is a story of its own"
    );
}

/// A big story's wire copies share every band key, so past 64 copies all of them are crowded:
/// the crowds of one story's items are read (a crowd is left unread only when its items are
/// mostly alone in their stories, a frequent word's), and a later copy still joins the story.
/// Three feeds' polls (three transactions): the second finds the keys crowded, the third reads
/// the crowds.
#[test]
fn a_big_storys_later_copies_join_it_through_crowded_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tigris.db");
    let mut store = tigris::store::Store::open(&db).unwrap();
    let title = "Rockets strike Ain al-Asad air base hosting US troops in western Iraq";
    let text = seed_text(0);
    let copies = |outlet: &str, n: usize| -> Vec<Item> {
        (0..n)
            .map(|k| {
                Item::new(
                    &format!("{outlet}-{k}"),
                    &format!("https://{outlet}.example/wire/{k}"),
                    title,
                    &text,
                )
            })
            .collect()
    };
    let polls = [("alpha", 70), ("bravo", 30), ("charlie", 10)];
    for (outlet, n) in polls {
        let stored = store_poll(
            &mut store,
            &format!("https://{outlet}.example/feed"),
            &copies(outlet, n),
        );
        assert_eq!(stored, n as u64, "{outlet}: every copy a new item");
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (items, stories, largest): (i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM stories),
                    (SELECT max(member_count) FROM stories)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(items, 110);
    assert_eq!((stories, largest), (1, 110), "all copies in one story");
}
