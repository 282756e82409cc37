//! Ingest end to end: the real binary polls fixture feeds from a real HTTP server on
//! 127.0.0.1 into a real SQLite file.

mod common;

use std::time::Duration;

use common::*;

const FAST: &str = "[schedule]\nmax_concurrent_fetches = 4\n[fetch]\ntimeout_secs = 2\nconnect_timeout_secs = 2\nmax_body_bytes = 65536\n";

fn items(prefix: &str, n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| {
            Item::new(
                &format!("{prefix}-{i}"),
                &format!("https://{prefix}.example/story/{i}"),
                &format!("{prefix} story {i}: US forces and Baghdad"),
                &seed_text(i),
            )
        })
        .collect()
}

/// Four formats, three items each.
fn four_formats(server: &FeedServer) -> Vec<(String, String)> {
    vec![
        (
            server.set_feed(
                "rss2",
                rss2("RSS two", &items("rss2", 3)),
                "application/rss+xml",
            ),
            "RSS two".into(),
        ),
        (
            server.set_feed(
                "atom",
                atom("Atom", &items("atom", 3)),
                "application/atom+xml",
            ),
            "Atom".into(),
        ),
        (
            server.set_feed(
                "rss1",
                rss1("RSS one", &items("rss1", 3)),
                "application/rdf+xml",
            ),
            "RSS one".into(),
        ),
        (
            server.set_feed(
                "json",
                json_feed("JSON", &items("json", 3)),
                "application/feed+json",
            ),
            "JSON".into(),
        ),
    ]
}

fn refs(feeds: &[(String, String)]) -> Vec<(&str, &str)> {
    feeds
        .iter()
        .map(|(u, n)| (u.as_str(), n.as_str()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_poll_stores_every_item_and_second_poll_gets_304_and_stores_nothing() {
    let server = FeedServer::start().await;
    let feeds = four_formats(&server);
    let tigris = Tigris::new();
    tigris.write_config(&refs(&feeds), FAST);

    let first = tigris.run(&["poll"]).await;
    assert!(first.status.success(), "{}", stderr(&first));
    let out = stdout(&first);
    assert!(out.contains("polled 4 feeds"), "{out}");
    assert!(out.contains("12 new"), "{out}");
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 12);
    assert_eq!(tigris.count("SELECT count(*) FROM item_sources"), 12);
    assert_eq!(
        tigris.count("SELECT count(*) FROM classifications WHERE topic = 'us-iraq'"),
        12
    );
    // Every format gave titles, absolute links and times.
    assert_eq!(
        tigris.count(
            "SELECT count(*) FROM items WHERE url LIKE 'https://%' AND title LIKE '%story%' AND published_at IS NOT NULL"
        ),
        12
    );
    for (url, _) in &feeds {
        let path = url.trim_start_matches(&server.base);
        let seen = server.seen_for(path);
        assert_eq!(seen.len(), 1);
        assert!(seen[0].if_none_match.is_none());
        let ua = seen[0].user_agent.clone().unwrap_or_default();
        assert!(ua.starts_with("tigris/") && ua.contains("https://"), "{ua}");
    }

    let second = tigris.run(&["poll"]).await;
    assert!(second.status.success(), "{}", stderr(&second));
    let out = stdout(&second);
    assert!(out.contains("0 new, 0 updated"), "{out}");
    assert!(out.contains("4 not modified"), "{out}");
    for (url, _) in &feeds {
        let path = url.trim_start_matches(&server.base);
        let seen = server.seen_for(path);
        assert_eq!(seen.len(), 2, "{path}");
        assert!(seen[1].if_none_match.is_some(), "{path}: no If-None-Match");
        assert!(
            seen[1].if_modified_since.is_some(),
            "{path}: no If-Modified-Since"
        );
        assert_eq!(seen[1].status, 304);
    }
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 12);
    assert_eq!(
        tigris.count("SELECT count(*) FROM fetches WHERE outcome = 'not_modified'"),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_gains_two_items_adds_two_and_an_edited_title_updates_its_row() {
    let server = FeedServer::start().await;
    let mut list = items("gain", 3);
    let url = server.set_feed("gain", rss2("Gain", &list), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Gain")], FAST);
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 3);

    list[0].title = "gain story 0, corrected: US forces leave Baghdad".into();
    list.extend(items("gain-more", 2));
    server.set_feed("gain", rss2("Gain", &list), "application/rss+xml");
    let second = tigris.run(&["poll"]).await;
    let out = stdout(&second);
    assert!(out.contains("2 new, 1 updated, 2 unchanged"), "{out}");
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 5);
    assert_eq!(
        tigris.count(
            "SELECT count(*) FROM items WHERE title = 'gain story 0, corrected: US forces leave Baghdad'"
        ),
        1
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM item_sources WHERE entry_key = 'guid:gain-0'"),
        1
    );
    // The full-text index follows the edit.
    let search = tigris.run(&["search", "corrected"]).await;
    assert!(stdout(&search).contains("1 results"), "{}", stdout(&search));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_deleted_by_hand_without_foreign_keys_does_not_stop_new_items_taking_its_id() {
    let server = FeedServer::start().await;
    let mut list = items("hand", 2);
    let url = server.set_feed("hand", rss2("Hand", &list), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Hand")], FAST);
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 2);

    // A user removes the newest item with the sqlite3 shell, where foreign keys are off: its
    // classification and fingerprint stay, under the id the next new item gets.
    let db = tigris.db();
    db.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    let gone: i64 = db
        .query_row("SELECT max(id) FROM items", [], |row| row.get(0))
        .unwrap();
    db.execute("DELETE FROM item_sources WHERE item_id = ?1", [gone])
        .unwrap();
    db.execute("DELETE FROM items WHERE id = ?1", [gone])
        .unwrap();
    drop(db);
    assert_eq!(
        tigris.count(
            "SELECT count(*) FROM classifications WHERE item_id NOT IN (SELECT id FROM items)"
        ),
        1
    );

    list.extend(items("hand-more", 1));
    server.set_feed("hand", rss2("Hand", &list), "application/rss+xml");
    let second = tigris.run(&["poll"]).await;
    assert!(second.status.success(), "{}", stderr(&second));
    let out = stdout(&second);
    // The deleted entry comes back as new, with the feed's new one.
    assert!(out.contains("2 new, 0 updated, 1 unchanged"), "{out}");
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 3);
    assert!(tigris.count("SELECT max(id) FROM items") > gone);
    // Each item has its own classification and fingerprint, and nothing hangs off a missing item.
    for table in ["classifications", "story_prints"] {
        assert_eq!(
            tigris.count(&format!(
                "SELECT count(*) FROM {table} t JOIN items i ON i.id = t.item_id"
            )),
            3,
            "{table}"
        );
        assert_eq!(
            tigris.count(&format!(
                "SELECT count(*) FROM {table} WHERE item_id NOT IN (SELECT id FROM items)"
            )),
            0,
            "{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_story_in_two_feeds_with_tracking_parameters_is_one_item_with_two_sources() {
    let server = FeedServer::start().await;
    let text = seed_text(2);
    let a = server.set_feed(
        "wire-a",
        rss2(
            "Wire A",
            &[Item::new(
                "a-1",
                "https://news.example/2026/11/iraq-talks?utm_source=rss&utm_medium=feed",
                "Iraq and US agree on coalition timetable",
                &text,
            )],
        ),
        "application/rss+xml",
    );
    let b = server.set_feed(
        "wire-b",
        atom(
            "Wire B",
            &[Item::new(
                "tag:b,2026:77",
                "https://NEWS.example/2026/11/iraq-talks?fbclid=XYZ&utm_campaign=c#comments",
                "US, Iraq agree coalition timetable",
                &text,
            )],
        ),
        "application/atom+xml",
    );
    let tigris = Tigris::new();
    tigris.write_config(&[(&a, "Wire A"), (&b, "Wire B")], FAST);
    let out = tigris.run(&["poll"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("1 new"), "{}", stdout(&out));
    assert!(stdout(&out).contains("1 duplicate"), "{}", stdout(&out));
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 1);
    assert_eq!(tigris.count("SELECT count(*) FROM item_sources"), 2);
    let canonical: String = tigris
        .db()
        .query_row("SELECT canonical_url FROM items", [], |r| r.get(0))
        .unwrap();
    assert_eq!(canonical, "https://news.example/2026/11/iraq-talks");
    let sources: String = tigris
        .db()
        .query_row("SELECT sources FROM latest_items", [], |r| r.get(0))
        .unwrap();
    assert!(
        sources.contains("Wire A") && sources.contains("Wire B"),
        "{sources}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_with_no_guid_and_no_link_keeps_its_id_across_polls() {
    let server = FeedServer::start().await;
    let bare = Item {
        guid: None,
        link: None,
        title: "Militia drone attack on Erbil air base".into(),
        body: seed_text(3),
    };
    let mut list = vec![bare.clone()];
    let url = server.set_feed("bare", rss2("Bare", &list), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Bare")], FAST);
    assert!(tigris.run(&["poll"]).await.status.success());
    let key = |t: &Tigris| -> (i64, String) {
        t.db()
            .query_row("SELECT item_id, entry_key FROM item_sources", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
    };
    let first = key(&tigris);
    assert!(first.1.starts_with("hash:"), "{first:?}");

    // A changed document (so neither 304 nor the body hash short-cuts the parse).
    list.push(Item::new(
        "other",
        "https://bare.example/2",
        "Another story",
        "text",
    ));
    server.set_feed("bare", rss2("Bare", &list), "application/rss+xml");
    let out = tigris.run(&["poll"]).await;
    assert!(
        stdout(&out).contains("1 new, 0 updated, 1 unchanged"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        tigris.count(
            "SELECT count(*) FROM items WHERE title = 'Militia drone attack on Erbil air base'"
        ),
        1
    );
    let second: (i64, String) = tigris
        .db()
        .query_row(
            "SELECT item_id, entry_key FROM item_sources WHERE entry_key LIKE 'hash:%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(first, second);

    // `tigris inspect` shows the same id for the same document.
    let file = tigris.dir.path().join("bare.xml");
    std::fs::write(&file, rss2("Bare", &[bare])).unwrap();
    let inspect = tigris.run(&["inspect", file.to_str().unwrap()]).await;
    assert!(stdout(&inspect).contains(&first.1), "{}", stdout(&inspect));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_feeds_fail_alone_and_are_recorded_in_fetch_history() {
    let server = FeedServer::start().await;
    let good = server.set_feed(
        "good",
        rss2("Good", &items("good", 2)),
        "application/rss+xml",
    );
    let bad = [
        (server.url("/status/500"), "HTTP 500"),
        (server.url("/slow"), "timed out"),
        (server.url("/garbage"), "not a feed"),
        (server.url("/huge"), "exceeds the 65536-byte limit"),
    ];
    let mut feeds = vec![(good.as_str(), "Good")];
    feeds.extend(bad.iter().map(|(u, _)| (u.as_str(), "Bad")));
    // Names must be unique per line only for the reader; the URL is the key.
    let tigris = Tigris::new();
    tigris.write_config(&feeds, FAST);
    let started = std::time::Instant::now();
    let out = tigris.run(&["poll"]).await;
    assert!(
        out.status.success(),
        "a poll with failed feeds exits 0: {}",
        stderr(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the slow feed was not cut off"
    );
    let text = stdout(&out);
    assert!(text.contains("4 failed"), "{text}");
    assert!(text.contains("2 new"), "{text}");
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 2);

    let db = tigris.db();
    for (url, expected) in &bad {
        let (error, failures): (String, i64) = db
            .query_row(
                "SELECT fe.error, f.consecutive_failures FROM fetches fe JOIN feeds f ON f.id = fe.feed_id
                  WHERE f.url = ?1 AND fe.outcome = 'error'",
                [url],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("no error recorded for {url}: {e}"));
        assert!(error.contains(expected), "{url}: {error}");
        assert!(
            error.contains(url.trim_end_matches('/')),
            "error names the URL: {error}"
        );
        assert_eq!(failures, 1);
    }
    let status: i64 = db
        .query_row(
            "SELECT http_status FROM fetches fe JOIN feeds f ON f.id = fe.feed_id WHERE f.url = ?1",
            [&bad[0].0],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, 500);

    let health = tigris.run(&["feeds"]).await;
    let listing = stdout(&health);
    assert!(listing.contains("failing"), "{listing}");
    assert!(listing.contains("last error:"), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_max_concurrent_fetches_run_at_once() {
    let server = FeedServer::start().await;
    let mut urls = Vec::new();
    for i in 0..8 {
        let url = server.set_feed(
            &format!("c{i}"),
            rss2("C", &items(&format!("c{i}"), 1)),
            "application/rss+xml",
        );
        urls.push(format!("{url}?delay_ms=150"));
    }
    let feeds: Vec<(&str, &str)> = urls.iter().map(|u| (u.as_str(), "C")).collect();
    let tigris = Tigris::new();
    tigris.write_config(&feeds, "[schedule]\nmax_concurrent_fetches = 2\n");
    let out = tigris.run(&["poll"]).await;
    assert!(stdout(&out).contains("8 new"), "{}", stdout(&out));
    assert_eq!(server.max_in_flight(), 2);
}

/// A parsed poll waits for room in the store writer's backlog (2,000 entries) before it gives
/// back its fetch slot; a feed with more entries than the backlog holds takes all of it rather
/// than waiting forever for room that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_with_more_entries_than_the_writers_backlog_is_stored_whole() {
    let server = FeedServer::start().await;
    let big: Vec<Item> = (0..3_100)
        .map(|i| {
            Item::new(
                &format!("big-{i}"),
                &format!("https://big.example/story/{i}"),
                &format!("Dispatch {i}"),
                &format!("Report number{i} from desk{i} about topic{i} and region{i}."),
            )
        })
        .collect();
    let big_url = server.set_feed("big", rss2("Big", &big), "application/rss+xml");
    let small_urls: Vec<String> = (0..3)
        .map(|i| {
            server.set_feed(
                &format!("small{i}"),
                rss2("Small", &items(&format!("small{i}"), 2)),
                "application/rss+xml",
            )
        })
        .collect();
    let mut feeds = vec![(big_url.as_str(), "Big")];
    feeds.extend(small_urls.iter().map(|u| (u.as_str(), "Small")));
    let tigris = Tigris::new();
    tigris.write_config(&feeds, "[schedule]\nmax_concurrent_fetches = 2\n");

    let out = tigris.run(&["poll"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("3106 new"), "{}", stdout(&out));
    assert_eq!(
        tigris.count(&format!(
            "SELECT count(*) FROM item_sources s JOIN feeds f ON f.id = s.feed_id
              WHERE f.config_url = '{big_url}'"
        )),
        3_100
    );
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 3_106);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_feeds_and_inspect_show_what_was_stored() {
    let server = FeedServer::start().await;
    let url = server.set_feed(
        "s",
        rss2(
            "Search",
            &[Item::new(
                "s1",
                "https://s.example/1",
                "Rockets hit Ain al-Asad air base hosting US troops",
                &seed_text(1),
            )],
        ),
        "application/rss+xml",
    );
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Search desk")], FAST);
    assert!(tigris.run(&["poll"]).await.status.success());

    let hits = tigris.run(&["search", "\"Ain al-Asad\""]).await;
    assert!(
        stdout(&hits).contains("Rockets hit Ain al-Asad"),
        "{}",
        stdout(&hits)
    );
    // Not FTS5 syntax: searched as plain words rather than refused.
    let hits = tigris.run(&["search", "US-Iraq al-Asad"]).await;
    assert!(hits.status.success(), "{}", stderr(&hits));

    let feeds = tigris.run(&["feeds", "--json"]).await;
    let row: serde_json::Value =
        serde_json::from_str(stdout(&feeds).lines().next().unwrap()).unwrap();
    assert_eq!(row["name"], "Search desk");
    assert_eq!(row["state"], "ok");
    assert_eq!(row["items"], 1);

    let inspect = tigris.run(&["inspect", &url]).await;
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    let line: serde_json::Value =
        serde_json::from_str(stdout(&inspect).lines().next().unwrap()).unwrap();
    assert_eq!(line["id"], "guid:s1");
    assert_eq!(line["url"], "https://s.example/1");
    assert_eq!(line["classification"][0]["topic"], "us-iraq");
    assert_eq!(line["classification"][0]["relevant"], true);
    assert!(
        line["published"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-01T10:00:00")
    );
}

#[tokio::test]
async fn inspect_reads_every_fixture_format_with_absolute_links() {
    let tigris = Tigris::new();
    tigris.write_config(&[], "");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/feeds");
    for (file, first_url) in [
        (
            "rss2.xml",
            "https://baghdad-desk.example/000?utm_source=rss&utm_medium=feed",
        ),
        ("atom.xml", "https://erbil-wire.example/news/story-000.html"),
        ("rss1.rdf", "https://rdf-monitor.example/item/000"),
        (
            "feed.json",
            "https://baghdad-desk.example/000?fbclid=abc123#top",
        ),
    ] {
        let out = tigris.run(&["inspect", &format!("{dir}/{file}")]).await;
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 5, "{file}");
        let first = &lines[0];
        assert_eq!(first["url"].as_str(), Some(first_url), "{file}");
        assert!(first["published"].as_str().is_some(), "{file}");
        assert!(first["text"].as_str().unwrap().len() > 100, "{file}");
        assert!(
            !first["text"].as_str().unwrap().contains("<p>"),
            "{file}: text keeps HTML"
        );
        if file == "rss2.xml" || file == "feed.json" {
            // Both carry the same stories under different tracking parameters.
            assert_eq!(
                first["canonical_url"], "https://baghdad-desk.example/000",
                "{file}"
            );
        }
    }
    let out = tigris
        .run(&["inspect", &format!("{dir}/missing.xml")])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.xml"), "{}", stderr(&out));
}
