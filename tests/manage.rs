//! Managing a running installation: `tigris feeds add/remove/enable/disable`, OPML import and
//! export (round trip, and a real reader's export), and retention (`tigris prune` with its
//! tombstones, `tigris vacuum`). The real binary, a real SQLite file, a loopback HTTP server.

mod common;

use common::*;

/// An RFC 822 date `days` before now.
fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::TimeDelta::days(days)).to_rfc2822()
}

fn rss_dated(title: &str, items: &[(&str, &str, &str, String)]) -> String {
    // (guid, title, body, RFC 822 date)
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>{title}</title><link>https://dated.example/</link><description>d</description>\n"
    );
    for (guid, title, body, date) in items {
        out.push_str(&format!(
            "<item><title>{title}</title><link>https://dated.example/{guid}</link><guid isPermaLink=\"false\">{guid}</guid><description>{body}</description><pubDate>{date}</pubDate></item>\n"
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

#[tokio::test]
async fn feeds_add_disable_enable_remove_and_the_config_stays_the_source_of_truth() {
    let feeds = FeedServer::start().await;
    let listed = feeds.set_feed(
        "listed",
        rss2(
            "Listed",
            &[Item::new(
                "l1",
                "https://shared.example/1",
                "Shared story",
                &seed_text(0),
            )],
        ),
        "application/rss+xml",
    );
    let extra = feeds.set_feed(
        "extra",
        rss2(
            "Extra",
            &[
                Item::new(
                    "e1",
                    "https://shared.example/1",
                    "Shared story",
                    &seed_text(0),
                ),
                Item::new("e2", "https://extra.example/2", "Only here", &seed_text(1)),
            ],
        ),
        "application/rss+xml",
    );
    let tigris = Tigris::new();
    tigris.write_config(&[(&listed, "Listed")], "");

    // Bad input is refused, naming what was wrong.
    let out = tigris.run(&["feeds", "add", "ftp://x.example/feed"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ftp://x.example/feed"),
        "{}",
        stderr(&out)
    );
    let out = tigris
        .run(&["feeds", "add", &extra, "--schedule", "every hour"])
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--schedule `every hour`"),
        "{}",
        stderr(&out)
    );

    let out = tigris
        .run(&[
            "feeds",
            "add",
            &extra,
            "--name",
            "Extra Desk",
            "--schedule",
            "0 * * * *",
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("added feed"), "{}", stdout(&out));
    let again = tigris.run(&["feeds", "add", &extra]).await;
    assert!(
        stdout(&again).contains("already present"),
        "{}",
        stdout(&again)
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM feeds WHERE origin = 'cli' AND name = 'Extra Desk' AND schedule = '0 * * * *'"),
        1
    );

    // Opening the store syncs the config's list; a feed added by hand survives it.
    let poll = tigris.run(&["poll"]).await;
    assert!(poll.status.success(), "{}", stderr(&poll));
    assert!(stdout(&poll).contains("Extra Desk"), "{}", stdout(&poll));
    assert_eq!(
        tigris.count("SELECT count(*) FROM feeds WHERE enabled = 1"),
        2
    );
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 2);

    // The config's feeds are the config's.
    for action in ["remove", "disable"] {
        let out = tigris.run(&["feeds", action, &listed]).await;
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("tigris.toml:") && err.contains("source of truth"),
            "{err}"
        );
    }
    let out = tigris.run(&["feeds", "remove", "no-such-feed"]).await;
    assert!(
        stderr(&out).contains("no feed `no-such-feed`"),
        "{}",
        stderr(&out)
    );

    let out = tigris.run(&["feeds", "disable", &extra]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = feeds.seen_for("/feeds/extra").len();
    let poll = tigris.run(&["poll"]).await;
    assert!(!stdout(&poll).contains("Extra Desk"), "{}", stdout(&poll));
    assert_eq!(
        feeds.seen_for("/feeds/extra").len(),
        requests,
        "a disabled feed was polled"
    );
    let out = tigris.run(&["feeds", "enable", &extra]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        tigris.count("SELECT count(*) FROM feeds WHERE enabled = 1"),
        2
    );

    // Removing takes the items only it carried; the shared one stays with the other feed.
    let id = tigris
        .count("SELECT id FROM feeds WHERE origin = 'cli'")
        .to_string();
    let out = tigris.run(&["feeds", "remove", &id]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 items only it carried"),
        "{}",
        stdout(&out)
    );
    assert_eq!(tigris.count("SELECT count(*) FROM feeds"), 1);
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 1);
    assert_eq!(tigris.count("SELECT count(*) FROM item_sources"), 1);
    assert_eq!(integrity_ok(&tigris.db_path()), "ok");
}

/// An export in the shape a widely used reader (Feedly) writes: OPML 1.0, feeds inside
/// category folders, `text` and `title` on each outline, and one feed in two folders.
const READER_EXPORT: &str = include_str!("data/opml/feedly-export.opml");

#[tokio::test]
async fn opml_import_flattens_folders_and_export_round_trips() {
    let tigris = Tigris::new();
    tigris.write_config(&[], "");
    let file = tigris.dir.path().join("subscriptions.opml");
    std::fs::write(&file, READER_EXPORT).unwrap();
    let out = tigris
        .run(&["opml", "import", file.to_str().unwrap()])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("5 feeds listed: 4 added, 1 already present, 0 skipped"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM feeds WHERE origin = 'opml'"),
        4
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM feeds WHERE name = 'Rudaw English' AND url = 'https://www.rudaw.net/english/rss'"),
        1,
        "a nested outline lost its title"
    );
    // Importing again adds nothing.
    let again = tigris
        .run(&["opml", "import", file.to_str().unwrap()])
        .await;
    assert!(
        stdout(&again).contains("0 added, 5 already present"),
        "{}",
        stdout(&again)
    );

    let export = tigris.run(&["opml", "export"]).await;
    assert!(export.status.success(), "{}", stderr(&export));
    let exported = stdout(&export);
    assert!(exported.contains("<opml version=\"2.0\">"), "{exported}");
    let listed = tigris::opml::read("export", &exported).unwrap();
    let mut urls: Vec<(String, Option<String>)> = listed
        .iter()
        .map(|f| (f.url.clone(), f.title.clone()))
        .collect();
    urls.sort();

    // Into a fresh database: the same feeds with the same titles.
    let other = Tigris::new();
    other.write_config(&[], "");
    let path = other.dir.path().join("export.opml");
    std::fs::write(&path, &exported).unwrap();
    let out = other.run(&["opml", "import", path.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let db = other.db();
    let mut stmt = db
        .prepare("SELECT url, name FROM feeds ORDER BY url")
        .unwrap();
    let mut round: Vec<(String, Option<String>)> = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    round.sort();
    assert_eq!(round, urls);
    assert_eq!(round.len(), 4);

    // An outline that is not an http(s) feed is skipped and named; the others go in.
    let odd = other.dir.path().join("odd.opml");
    std::fs::write(
        &odd,
        "<opml version=\"2.0\"><head/><body><outline text=\"Write to us\" xmlUrl=\"mailto:desk@example.org\"/><outline text=\"UN News\" xmlUrl=\"https://news.un.org/feed/rss\"/></body></opml>",
    )
    .unwrap();
    let out = other.run(&["opml", "import", odd.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("\"Write to us\"") && stderr(&out).contains("mailto:"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("1 added"), "{}", stdout(&out));

    let bad = other.dir.path().join("not.opml");
    std::fs::write(&bad, "<rss version=\"2.0\"><channel/></rss>").unwrap();
    let out = other.run(&["opml", "import", bad.to_str().unwrap()]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not.opml"), "{}", stderr(&out));
}

#[tokio::test]
async fn prune_removes_old_items_keeps_relevant_ones_and_tombstones_stop_them_coming_back() {
    let feeds = FeedServer::start().await;
    let relevant_body = seed_text(0);
    // With days = 30, per_feed = 3: old1 and old2 are too old, new1 is the fourth newest, and
    // oldrel is too old and fifth but relevant and within the 3 relevant years.
    let mut items = vec![
        (
            "old1",
            "Village fair opens",
            "Pumpkins and jam at the fair.",
            days_ago(700),
        ),
        (
            "old2",
            "Harbour dredging",
            "The harbour was dredged again.",
            days_ago(690),
        ),
        (
            "oldrel",
            "US forces in Iraq: coalition transition talks",
            relevant_body.as_str(),
            days_ago(500),
        ),
        ("new1", "Choir concert", "The choir sang.", days_ago(7)),
        ("new2", "Bakery opens", "Bread for sale.", days_ago(6)),
        ("new3", "Bus timetable", "Buses run later.", days_ago(5)),
        ("new4", "Library hours", "Open on Sundays.", days_ago(4)),
    ];
    let url = feeds.set_feed("dated", rss_dated("Dated", &items), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(
        &[(&url, "Dated")],
        "[retention]\ndays = 30\nper_feed = 3\nkeep_relevant_days = 1095\nfetch_history_days = 30\n",
    );
    let poll = tigris.run(&["poll"]).await;
    assert!(poll.status.success(), "{}", stderr(&poll));
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 7);
    let relevant = tigris.count(
        "SELECT count(*) FROM classifications c JOIN item_sources s USING (item_id) WHERE s.entry_key LIKE '%oldrel' AND c.relevant = 1",
    );
    assert_eq!(
        relevant, 1,
        "the fixture's relevant item was not classified relevant"
    );
    // Fetch history from long ago.
    tigris
        .db()
        .execute(
            "INSERT INTO fetches (feed_id, started_at, outcome, duration_ms) SELECT id, '2025-01-01T00:00:00.000Z', 'ok', 5 FROM feeds",
            [],
        )
        .unwrap();

    let dry = tigris.run(&["prune", "--dry-run"]).await;
    assert!(dry.status.success(), "{}", stderr(&dry));
    let text = stdout(&dry);
    assert!(
        text.contains("would remove 3 items (2 older than 30 days, 1 beyond their feeds' 3 newest); kept 1 relevant; would remove 1 fetch history rows"),
        "{text}"
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM items"),
        7,
        "a dry run removed items"
    );

    let out = tigris.run(&["prune"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("removed 3 items"), "{}", stdout(&out));
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 4);
    assert_eq!(tigris.count("SELECT count(*) FROM tombstones"), 3);
    assert_eq!(
        tigris.count("SELECT count(*) FROM items i JOIN item_sources s ON s.item_id = i.id WHERE s.entry_key LIKE '%oldrel' OR s.entry_key LIKE '%new4' OR s.entry_key LIKE '%new3' OR s.entry_key LIKE '%new2'"),
        4,
        "the wrong items went"
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM fetches WHERE started_at < '2026-01-01'"),
        0
    );
    // Nothing left dangling: full-text rows, stories, classifications.
    let db = tigris.db();
    db.execute(
        "INSERT INTO items_fts (items_fts) VALUES ('integrity-check')",
        [],
    )
    .unwrap();
    assert_eq!(tigris.count("SELECT count(*) FROM items_fts"), 4);
    assert_eq!(
        tigris.count(
            "SELECT count(*) FROM classifications WHERE item_id NOT IN (SELECT id FROM items)"
        ),
        0
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM stories WHERE representative_item_id NOT IN (SELECT id FROM items)"),
        0
    );
    assert_eq!(integrity_ok(&tigris.db_path()), "ok");

    // The feed still lists the pruned items (and one new one): only the new one is stored.
    items.push(("new5", "Market day", "Fish and bread.", days_ago(1)));
    feeds.set_feed("dated", rss_dated("Dated", &items), "application/rss+xml");
    let poll = tigris.run(&["poll"]).await;
    assert!(poll.status.success(), "{}", stderr(&poll));
    assert!(stdout(&poll).contains("1 new"), "{}", stdout(&poll));
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 5);
    assert_eq!(
        tigris.count("SELECT count(*) FROM item_sources WHERE entry_key LIKE '%old1' OR entry_key LIKE '%old2'"),
        0,
        "a pruned item came back"
    );

    // The file shrinks: incremental auto-vacuum is on for new databases; vacuum rebuilds.
    assert_eq!(tigris.count("PRAGMA auto_vacuum"), 2);
    let out = tigris.run(&["vacuum"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("bytes before"), "{}", stdout(&out));
    assert_eq!(integrity_ok(&tigris.db_path()), "ok");
}

#[tokio::test]
async fn the_daemon_prunes_when_a_day_has_passed_since_the_last_prune() {
    let feeds = FeedServer::start().await;
    let url = feeds.set_feed(
        "dated",
        rss_dated(
            "Dated",
            &[
                (
                    "old",
                    "Village fair opens",
                    "Pumpkins and jam.",
                    days_ago(400),
                ),
                ("new", "Bakery opens", "Bread for sale.", days_ago(1)),
            ],
        ),
        "application/rss+xml",
    );
    let tigris = Tigris::new();
    tigris.write_config(
        &[(&url, "Dated")],
        "[server]\nlisten = \"127.0.0.1:0\"\n[retention]\ndays = 30\n",
    );
    let poll = tigris.run(&["poll"]).await;
    assert!(poll.status.success(), "{}", stderr(&poll));
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 2);
    // The last prune was two days ago: the daemon's daily prune is due at start.
    tigris
        .db()
        .execute(
            "INSERT INTO maintenance (task, last_run_at) VALUES ('prune', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-2 days'))",
            [],
        )
        .unwrap();
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log(
            "retention: 1 items pruned",
            1,
            std::time::Duration::from_secs(30),
        )
        .await;
    assert!(daemon.stop().await.success());
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 1);
    assert_eq!(
        tigris.count("SELECT count(*) FROM maintenance WHERE task = 'prune' AND last_run_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')"),
        1
    );
}

#[tokio::test]
async fn vacuum_gives_an_older_file_the_page_size_new_databases_get() {
    let feeds = FeedServer::start().await;
    let items: Vec<Item> = (0..5)
        .map(|i| {
            Item::new(
                &format!("p{i}"),
                &format!("https://pages.example/{i}"),
                &format!("Story {i}"),
                &seed_text(i),
            )
        })
        .collect();
    let url = feeds.set_feed("pages", rss2("Pages", &items), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Pages")], "");
    let poll = tigris.run(&["poll"]).await;
    assert!(poll.status.success(), "{}", stderr(&poll));
    let page_size = |t: &Tigris| t.count("PRAGMA page_size");
    assert_eq!(page_size(&tigris), 16_384, "a new database's pages");

    // A database from before 16 KiB pages: rebuilt with 4 KiB ones, as SQLite made them.
    tigris
        .db()
        .execute_batch(
            "PRAGMA journal_mode = DELETE; PRAGMA page_size = 4096; VACUUM;
             PRAGMA journal_mode = WAL;",
        )
        .unwrap();
    assert_eq!(page_size(&tigris), 4096);

    // While another connection has the file open, vacuum rebuilds it at once and leaves
    // the page size alone.
    let reader = tigris.db();
    reader
        .query_row("SELECT count(*) FROM items", [], |row| row.get::<_, i64>(0))
        .unwrap();
    let started = std::time::Instant::now();
    let out = tigris.run(&["vacuum"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "vacuum waited for the other connection"
    );
    assert_eq!(page_size(&tigris), 4096);
    drop(reader);

    // Alone with the file, it converts it, and the file stays in WAL mode with every row.
    let out = tigris.run(&["vacuum"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(page_size(&tigris), 16_384);
    let mode: String = tigris
        .db()
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(tigris.count("PRAGMA auto_vacuum"), 2);
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 5);
    assert_eq!(integrity_ok(&tigris.db_path()), "ok");
    let search = tigris.run(&["search", "Iraq"]).await;
    assert!(search.status.success(), "{}", stderr(&search));
    let poll = tigris.run(&["poll"]).await;
    assert!(poll.status.success(), "{}", stderr(&poll));
}
