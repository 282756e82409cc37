//! Operating tigris: bad configs, bad database paths, stopping with SIGTERM, and schedules
//! that survive a restart. The real binary, a real SQLite file, a loopback HTTP server.

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::*;
use tigris::config::Config;
use tigris::store::{FetchRecord, Store};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn a_bad_config_names_the_file_the_line_and_the_key_and_exits_2() {
    let tigris = Tigris::new();
    std::fs::write(
        tigris.config_path(),
        "[fetch]\ntimeout_secs = 5\ntimout = 3\n",
    )
    .unwrap();
    let out = tigris.run(&["check-config"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("tigris.toml:3"), "{err}");
    assert!(err.contains("timout"), "{err}");

    std::fs::write(
        tigris.config_path(),
        "[[feeds]]\nurl = \"https://a.example/rss\"\nschedule = \"*/15 * * *\"\n",
    )
    .unwrap();
    let out = tigris.run(&["poll"]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("feeds[0].schedule"), "{err}");
    assert!(err.contains("tigris.toml:3"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    std::fs::write(tigris.config_path(), "[[feeds]]\nurl = \"not a url\"\n").unwrap();
    let out = tigris.run(&["run"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("feeds[0].url"), "{}", stderr(&out));

    let missing = tigris.dir.path().join("missing.toml");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tigris"))
        .arg("--config")
        .arg(&missing)
        .arg("check-config")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[tokio::test]
async fn check_config_counts_the_feeds_of_the_shipped_config() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config/tigris.toml");
    let config = Config::load(std::path::Path::new(shipped)).unwrap();
    assert!(
        (15..=30).contains(&config.feeds.len()),
        "{}",
        config.feeds.len()
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tigris"))
        .env("TIGRIS_CONFIG", shipped)
        .arg("check-config")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{} feeds", config.feeds.len())),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn an_unwritable_database_path_gives_a_clear_error() {
    let tigris = Tigris::new();
    // A regular file where the database folder should be: not creatable, even for root.
    let blocker = tigris.dir.path().join("blocker");
    std::fs::write(&blocker, "not a folder").unwrap();
    tigris.write_config(&[], "[storage]\ndatabase = \"blocker/tigris.db\"\n");
    let out = tigris.run(&["poll"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cannot create the database folder"), "{err}");
    assert!(err.contains("blocker"), "{err}");

    // A file that is not a SQLite database.
    std::fs::write(tigris.dir.path().join("junk.db"), vec![b'x'; 4096]).unwrap();
    tigris.write_config(&[], "[storage]\ndatabase = \"junk.db\"\n");
    let out = tigris.run(&["feeds"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("junk.db"), "{err}");
    assert_eq!(
        std::fs::read(tigris.dir.path().join("junk.db")).unwrap(),
        vec![b'x'; 4096]
    );
}

fn slow_feeds(server: &FeedServer, n: usize, delay_ms: u64) -> Vec<String> {
    (0..n)
        .map(|i| {
            let items: Vec<Item> = (0..20)
                .map(|j| {
                    Item::new(
                        &format!("f{i}-{j}"),
                        &format!("https://f{i}.example/{j}"),
                        &format!("Feed {i} story {j}"),
                        &seed_text(j),
                    )
                })
                .collect();
            let url = server.set_feed(&format!("f{i}"), rss2("F", &items), "application/rss+xml");
            format!("{url}?delay_ms={delay_ms}")
        })
        .collect()
}

/// Checks what a stop must leave behind: a sound database, no item without a source, and a
/// fetch history row for each feed that was checked.
fn assert_consistent(tigris: &Tigris) {
    assert_eq!(integrity_ok(&tigris.db_path()), "ok");
    assert_eq!(
        tigris
            .count("SELECT count(*) FROM items WHERE id NOT IN (SELECT item_id FROM item_sources)"),
        0
    );
    assert_eq!(
        tigris.count(
            "SELECT count(*) FROM items WHERE id NOT IN (SELECT item_id FROM classifications)"
        ),
        0
    );
    assert_eq!(
        tigris.count("SELECT count(*) FROM feeds WHERE last_checked_at IS NOT NULL"),
        tigris.count("SELECT count(DISTINCT feed_id) FROM fetches")
    );
    // Every checked feed stored all 20 of its items, or none.
    assert_eq!(
        tigris.count(
            "SELECT count(*) FROM feeds f WHERE (SELECT count(*) FROM item_sources s WHERE s.feed_id = f.id) NOT IN (0, 20)"
        ),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_poll_leaves_a_sound_database_and_exits_0() {
    let server = FeedServer::start().await;
    let urls = slow_feeds(&server, 30, 200);
    let feeds: Vec<(&str, &str)> = urls.iter().map(|u| (u.as_str(), "F")).collect();
    let tigris = Tigris::new();
    tigris.write_config(
        &feeds,
        "[schedule]\nmax_concurrent_fetches = 3\nshutdown_grace_secs = 5\n",
    );

    let child = tigris
        .command(&["poll"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(server.wait_for_requests(7, Duration::from_secs(30)).await);
    signal(child.id().unwrap(), "TERM");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("poll stops within the grace period")
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let stored = tigris.count("SELECT count(DISTINCT feed_id) FROM item_sources");
    assert!(
        stored > 0 && stored < 30,
        "stopped part-way: {stored} feeds stored"
    );
    assert_consistent(&tigris);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_daemon_empties_the_wal_file_once_its_polls_are_stored() {
    let server = FeedServer::start().await;
    let urls = slow_feeds(&server, 6, 0);
    let feeds: Vec<(&str, &str)> = urls.iter().map(|u| (u.as_str(), "F")).collect();
    let tigris = Tigris::new();
    tigris.write_config(
        &feeds,
        "[server]\nlisten = \"127.0.0.1:0\"\n[schedule]\ndefault = \"0 0 1 1 *\"\n",
    );
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("fetched", 6, Duration::from_secs(30))
        .await;
    // The commits went to the WAL; a while after the last one, with the daemon still running,
    // the WAL's frames are in the database file and the WAL file is empty.
    let wal = tigris.db_path().with_extension("db-wal");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut size = u64::MAX;
    while tokio::time::Instant::now() < deadline {
        size = std::fs::metadata(&wal).map(|m| m.len()).unwrap();
        if size == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(size, 0, "WAL file of the idle daemon: {size} bytes");
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 120);
    assert_eq!(daemon.stop().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_stops_on_sigterm_checkpoints_and_keeps_its_schedule_across_a_restart() {
    let server = FeedServer::start().await;
    let urls = slow_feeds(&server, 6, 20);
    let feeds: Vec<(&str, &str)> = urls.iter().map(|u| (u.as_str(), "F")).collect();
    let tigris = Tigris::new();
    // Its own port (not the default 8080), and a yearly schedule: no fetch comes due again
    // during the test, whatever the hour.
    tigris.write_config(
        &feeds,
        "[server]\nlisten = \"127.0.0.1:0\"\n[schedule]\ndefault = \"0 0 1 1 *\"\n",
    );

    let mut child = tigris
        .command(&["run"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    // One "fetched" log line per feed.
    let mut fetched = 0;
    while fetched < 6 {
        let line = tokio::time::timeout(Duration::from_secs(30), log.next_line())
            .await
            .expect("daemon logs its fetches")
            .unwrap()
            .expect("daemon is running");
        if line.contains("fetched") {
            assert!(
                line.contains("feed=") && line.contains("new=20") && line.contains("bytes="),
                "{line}"
            );
            fetched += 1;
        }
    }
    signal(child.id().unwrap(), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("daemon stops after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_consistent(&tigris);
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 120);
    // The WAL was checkpointed into the database file.
    let wal = tigris.db_path().with_extension("db-wal");
    assert!(
        std::fs::metadata(&wal)
            .map(|m| m.len() == 0)
            .unwrap_or(true)
    );
    let requests = server.request_count();
    assert_eq!(requests, 6);

    // Restart: every feed's next check is persisted in the future, so nothing is fetched.
    let not_due = tigris.count(
        "SELECT count(*) FROM feeds WHERE next_check_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    );
    assert_eq!(not_due, 6);
    let mut child = tigris
        .command(&["run"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), log.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("daemon is running");
        if line.contains("started") {
            break;
        }
    }
    signal(child.id().unwrap(), "TERM");
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        server.request_count(),
        requests,
        "a restart polled feeds that were not due"
    );
}

#[test]
fn due_feeds_follow_the_persisted_next_check_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let config = Config::from_toml(
        &dir.path().join("tigris.toml"),
        "[[feeds]]\nurl = \"https://a.example/rss\"\n[[feeds]]\nurl = \"https://b.example/rss\"\nschedule = \"0 * * * *\"\n",
    )
    .unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 14, 7, 0).unwrap();
    {
        let mut store = Store::open(&db).unwrap();
        store.sync_feeds(&config.feeds, t0).unwrap();
        let due = store.due_feeds(t0).unwrap();
        assert_eq!(due.len(), 2, "never-checked feeds are due at once");
        for feed in &due {
            let schedule = tigris::schedule::CronSchedule::parse(&feed.schedule).unwrap();
            let next = tigris::schedule::next_check_at(&schedule, t0);
            let record = FetchRecord {
                started_at: t0,
                http_status: Some(304),
                bytes: 0,
                duration: Duration::from_millis(5),
                etag: None,
                last_modified: None,
                next_check_at: next,
                state: tigris::schedule::FeedState::Ok,
                failing_since: None,
                permanent_redirect: None,
            };
            store
                .store_unchanged(feed, &record, "not_modified")
                .unwrap();
        }
    }
    // Reopened, as after a restart.
    let store = Store::open(&db).unwrap();
    assert!(store.due_feeds(t0).unwrap().is_empty());
    let at_quarter = Utc.with_ymd_and_hms(2026, 11, 23, 14, 15, 0).unwrap();
    let due: Vec<String> = store
        .due_feeds(at_quarter)
        .unwrap()
        .into_iter()
        .map(|f| f.url.to_string())
        .collect();
    assert_eq!(due, vec!["https://a.example/rss".to_string()]);
    let at_hour = Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap();
    assert_eq!(store.due_feeds(at_hour).unwrap().len(), 2);

    // A feed dropped from the config is disabled, not deleted.
    let mut store = store;
    let sync = store.sync_feeds(&config.feeds[..1], at_hour).unwrap();
    assert_eq!(sync.disabled, 1);
    assert_eq!(store.due_feeds(at_hour).unwrap().len(), 1);
    assert_eq!(store.feed_health().unwrap().len(), 2);
}

#[test]
fn a_version_1_database_is_migrated_with_its_rows_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(include_str!("../migrations/0001_initial.sql"))
            .unwrap();
        conn.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO items (title, content_text, content_hash, first_seen_at, last_changed_at)
                 VALUES ('Old item', 'text', 'h', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
             INSERT INTO classifications (item_id, topic, score, relevant, reasons, classifier, classified_at)
                 VALUES (1, 'us-iraq', 0.7, 1, '[\"old reason\"]', 'keywords-v0', '2026-01-01T00:00:00.000Z');",
        )
        .unwrap();
    }
    let store = Store::open(&db).unwrap();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count() as i64;
    assert_eq!(store.schema_version().unwrap(), migrations);
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (evidence, subtopics): (String, String) = conn
        .query_row(
            "SELECT evidence, subtopics FROM classifications WHERE item_id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(evidence, "[\"old reason\"]");
    assert_eq!(subtopics, "[]");
    let title: String = conn
        .query_row("SELECT title FROM relevant_items", [], |r| r.get(0))
        .unwrap();
    assert_eq!(title, "Old item");
}
