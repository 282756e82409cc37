//! Faults around the database while `tigris run` polls: SIGKILL at random points, a user
//! holding a long read transaction, a full disk, the database file deleted or replaced. The
//! real binary, real SQLite files in temporary folders, a loopback feed server.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;

const DAEMON: &str = "[server]\nlisten = \"127.0.0.1:0\"\n[schedule]\ndefault = \"* * * * * *\"\n[fetch]\ntimeout_secs = 5\n";

/// Items `from..to` of feed `feed`; every fourth links to a story another feed also carries,
/// so cross-feed deduplication runs on every poll.
fn items(feed: usize, from: usize, to: usize) -> Vec<Item> {
    (from..to)
        .map(|i| {
            let link = if i % 4 == 0 {
                format!("https://shared.example/story/{i}")
            } else {
                format!("https://wire{feed}.example/{i}")
            };
            Item::new(
                &format!("f{feed}-{i}"),
                &link,
                &format!("US and Iraqi officials discuss the coalition in Baghdad, part {i}"),
                &seed_text(i + feed),
            )
        })
        .collect()
}

/// (feed url, entry key) of every committed item source.
fn committed(db: &Path) -> HashSet<(String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT f.url, s.entry_key FROM item_sources s JOIN feeds f ON f.id = s.feed_id")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The store's invariants: no two items for one canonical URL, no item without a source.
fn assert_consistent(db: &Path, context: &str) {
    assert_eq!(integrity_ok(db), "ok", "{context}");
    let conn = rusqlite::Connection::open(db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count(
            "SELECT count(*) FROM (SELECT canonical_url FROM items WHERE canonical_url IS NOT NULL
             GROUP BY canonical_url HAVING count(*) > 1)"
        ),
        0,
        "{context}: an item is stored twice"
    );
    assert_eq!(
        count("SELECT count(*) FROM items WHERE id NOT IN (SELECT item_id FROM item_sources)"),
        0,
        "{context}: an item without a source (half-written)"
    );
    assert_eq!(
        count("SELECT count(*) FROM classifications WHERE item_id NOT IN (SELECT id FROM items)"),
        0,
        "{context}: a classification without its item"
    );
}

/// xorshift64: enough randomness for kill points, reproducible from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[tokio::test]
async fn sigkill_at_random_points_during_polls_loses_and_duplicates_nothing() {
    let rounds: usize = std::env::var("TIGRIS_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(25);
    let seed: u64 = std::env::var("TIGRIS_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("kill test: {rounds} rounds, TIGRIS_KILL_SEED={seed}");
    let mut rng = Rng(seed);
    let server = FeedServer::start().await;
    let tigris = Tigris::new();
    let feed_count = 3;
    let urls: Vec<String> = (0..feed_count)
        .map(|f| {
            server.set_feed(
                &format!("k{f}"),
                rss2("K", &items(f, 0, 5)),
                "application/rss+xml",
            )
        })
        .collect();
    let named: Vec<(&str, &str)> = urls.iter().map(|u| (u.as_str(), "K")).collect();
    tigris.write_config(&named, DAEMON);
    let db = tigris.db_path();
    let mut killed_with_items = 0;
    for round in 0..rounds {
        // Every round brings new items, so every poll writes.
        let total = 5 + 8 * (round + 1);
        for f in 0..feed_count {
            server.set_feed(
                &format!("k{f}"),
                rss2("K", &items(f, 0, total)),
                "application/rss+xml",
            );
        }
        let daemon = Daemon::start(&tigris).await;
        // The kill point: anywhere from before the first fetch to after a few polls.
        tokio::time::sleep(Duration::from_millis(rng.next(1500))).await;
        let before = if db.exists() {
            committed(&db)
        } else {
            HashSet::new()
        };
        let mut child = daemon.child;
        signal(child.id().unwrap(), "KILL");
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(!status.success(), "round {round}: the daemon was killed");
        if !db.exists() {
            continue;
        }
        let context = format!("round {round} (seed {seed})");
        assert_consistent(&db, &context);
        let after = committed(&db);
        let lost: Vec<_> = before.difference(&after).collect();
        assert!(lost.is_empty(), "{context}: committed items lost: {lost:?}");
        killed_with_items += usize::from(!after.is_empty());
    }
    assert!(
        killed_with_items > 0,
        "no round got as far as storing an item"
    );
    // After the last kill the daemon starts clean and its next poll completes.
    let daemon = Daemon::start(&tigris).await;
    // Fetched, or not modified when a killed round had already stored the last version.
    daemon
        .wait_for_log("tigris::pipeline", feed_count, Duration::from_secs(60))
        .await;
    let failed: Vec<String> = daemon
        .log()
        .into_iter()
        .filter(|l| l.contains("failed"))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let total = 5 + 8 * rounds;
    let expected = feed_count * total;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while committed(&db).len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(committed(&db).len(), expected);
    assert_eq!(daemon.stop().await.code(), Some(0));
    assert_consistent(&db, "after the final poll");
    eprintln!(
        "kill test: {rounds} rounds, {killed_with_items} killed with items stored, all consistent"
    );
}

#[tokio::test]
async fn a_long_read_transaction_does_not_stop_polls_and_keeps_its_snapshot() {
    let server = FeedServer::start().await;
    let url = server.set_feed(
        "long",
        rss2("Long", &items(0, 0, 10)),
        "application/rss+xml",
    );
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Long")], DAEMON);
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("new=10", 1, Duration::from_secs(30))
        .await;

    // A user in `sqlite3`: BEGIN, a first read, then nothing for as long as they like.
    let mut reader = rusqlite::Connection::open(tigris.db_path()).unwrap();
    let tx = reader.transaction().unwrap();
    let snapshot = |tx: &rusqlite::Transaction| -> (i64, i64) {
        tx.query_row(
            "SELECT (SELECT count(*) FROM items), (SELECT count(DISTINCT item_id) FROM item_sources)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    let first = snapshot(&tx);
    assert_eq!(first.0, 10);

    for (poll, total) in [(1, 20), (2, 30)] {
        server.set_feed(
            "long",
            rss2("Long", &items(0, 0, total)),
            "application/rss+xml",
        );
        daemon
            .wait_for_log("new=10", 1 + poll, Duration::from_secs(30))
            .await;
        // Committed for everyone else...
        assert_eq!(tigris.count("SELECT count(*) FROM items"), total as i64);
        // ...while the reader's snapshot stays as it was, and consistent with itself.
        assert_eq!(snapshot(&tx), first);
    }
    let body = reqwest::get(daemon.url("/feed.json?limit=100"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains("https://wire0.example/29"),
        "the server sees the new items"
    );
    tx.commit().unwrap();
    let fresh: i64 = reader
        .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fresh, 30);
    assert_eq!(daemon.stop().await.code(), Some(0));
    assert_consistent(&tigris.db_path(), "after the long reader");
}

/// Limits the size of any file process `pid` writes (RLIMIT_FSIZE); `None` lifts the limit.
fn limit_file_size(pid: u32, bytes: Option<u64>) {
    let limit = bytes.unwrap_or(libc::RLIM_INFINITY);
    let new = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: prlimit reads `new` and writes nothing (null old limit).
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

fn file_len(path: PathBuf) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[tokio::test]
async fn a_full_disk_fails_the_poll_clearly_keeps_serving_and_polls_resume() {
    let server = FeedServer::start().await;
    let url = server.set_feed("disk", rss2("Disk", &items(0, 0, 5)), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Disk")], DAEMON);
    // A file size limit stands in for a full disk: writes past it fail (EFBIG) as they would
    // with ENOSPC. SIGXFSZ is ignored so the write fails instead of the process dying; an
    // ignored signal stays ignored across exec.
    let daemon = Daemon::start_with(&tigris, |command| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
    })
    .await;
    daemon
        .wait_for_log("new=5", 1, Duration::from_secs(30))
        .await;
    let pid = daemon.child.id().unwrap();
    let db = tigris.db_path();
    let full = [
        db.clone(),
        db.with_extension("db-wal"),
        db.with_extension("db-shm"),
    ]
    .into_iter()
    .map(file_len)
    .max()
    .unwrap();
    limit_file_size(pid, Some(full));
    let stored_before = tigris.count("SELECT count(*) FROM items");

    // A poll that needs far more room than there is.
    let big: Vec<Item> = (0..300)
        .map(|i| {
            let mut item = items(0, i, i + 1).remove(0);
            item.body = format!("{} {}", item.body, seed_text(i).repeat(6));
            item
        })
        .collect();
    server.set_feed("disk", rss2("Disk", &big), "application/rss+xml");
    daemon
        .wait_for_log("storing failed", 1, Duration::from_secs(30))
        .await;
    let failure = daemon
        .log()
        .into_iter()
        .find(|l| l.contains("storing failed"))
        .unwrap();
    assert!(failure.contains("database"), "{failure}");
    eprintln!("full disk logged: {failure}");

    // Nothing of the failed poll is half there, and the server still answers.
    assert_eq!(tigris.count("SELECT count(*) FROM items"), stored_before);
    assert_consistent(&db, "while the disk is full");
    let response = reqwest::get(daemon.url("/feed.atom")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("https://wire0.example/1")
    );
    let health = reqwest::get(daemon.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);

    // Space comes back: the next poll stores the lot.
    limit_file_size(pid, None);
    daemon
        .wait_for_log("new=295", 1, Duration::from_secs(60))
        .await;
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 300);
    assert_eq!(daemon.stop().await.code(), Some(0));
    assert_consistent(&db, "after space returned");
}

#[tokio::test]
async fn a_database_deleted_while_running_is_a_clear_error_not_silent_loss() {
    let server = FeedServer::start().await;
    let url = server.set_feed("gone", rss2("Gone", &items(0, 0, 5)), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Gone")], DAEMON);
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("new=5", 1, Duration::from_secs(30))
        .await;
    let db = tigris.db_path();
    for path in [
        db.clone(),
        db.with_extension("db-wal"),
        db.with_extension("db-shm"),
    ] {
        let _ = std::fs::remove_file(path);
    }
    server.set_feed(
        "gone",
        rss2("Gone", &items(0, 0, 12)),
        "application/rss+xml",
    );
    daemon
        .wait_for_log("storing failed", 1, Duration::from_secs(30))
        .await;
    let failure = daemon
        .log()
        .into_iter()
        .find(|l| l.contains("storing failed"))
        .unwrap();
    eprintln!("deleted database logged: {failure}");
    assert!(
        failure.contains("deleted or replaced") && failure.contains("tigris.db"),
        "{failure}"
    );
    // Nothing was written into the unlinked file and reported as stored.
    assert!(
        !daemon.log().iter().any(|l| l.contains("new=7")),
        "{:#?}",
        daemon.log()
    );
    daemon.stop().await;
}

#[tokio::test]
async fn a_database_replaced_while_running_is_a_clear_error() {
    let server = FeedServer::start().await;
    let url = server.set_feed("swap", rss2("Swap", &items(0, 0, 5)), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Swap")], DAEMON);
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("new=5", 1, Duration::from_secs(30))
        .await;
    // Another database moved over the path (a restore from backup, say).
    let db = tigris.db_path();
    let other = db.with_file_name("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    std::fs::rename(&other, &db).unwrap();
    server.set_feed("swap", rss2("Swap", &items(0, 0, 9)), "application/rss+xml");
    daemon
        .wait_for_log("storing failed", 1, Duration::from_secs(30))
        .await;
    let failure = daemon
        .log()
        .into_iter()
        .find(|l| l.contains("storing failed"))
        .unwrap();
    eprintln!("replaced database logged: {failure}");
    assert!(failure.contains("deleted or replaced"), "{failure}");
    // It goes on refusing, poll after poll, rather than writing where no one will look.
    daemon
        .wait_for_log("deleted or replaced", 2, Duration::from_secs(30))
        .await;
    assert!(!daemon.log().iter().any(|l| l.contains("new=4")));
    daemon.stop().await;
}
