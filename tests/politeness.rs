//! Polite and resilient fetching against local servers that misbehave on purpose: rate
//! limits, backoff, gone feeds, redirects, bombs, endless and trickling bodies, the per-host
//! limit, private addresses and XML entities. Each test checks what the database says and that
//! the good feed of the same poll was stored.

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;

const LIMITS: &str = "[schedule]\nmax_concurrent_fetches = 8\n[fetch]\ntimeout_secs = 2\nconnect_timeout_secs = 2\nmax_body_bytes = 65536\n";

fn good(server: &FeedServer) -> String {
    server.set_feed(
        "good",
        rss2(
            "Good",
            &[Item::new(
                "g1",
                "https://good.example/1",
                "US troops in Baghdad",
                &seed_text(0),
            )],
        ),
        "application/rss+xml",
    )
}

/// (state, consecutive_failures, next_check_at, last_error) of the feed with this URL.
fn health(tigris: &Tigris, url: &str) -> (String, i64, DateTime<Utc>, Option<String>) {
    tigris
        .db()
        .query_row(
            "SELECT state, consecutive_failures, next_check_at, last_error FROM feeds WHERE config_url = ?1",
            [url],
            |r| {
                let next: String = r.get(2)?;
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    DateTime::parse_from_rfc3339(&next).unwrap().with_timezone(&Utc),
                    r.get(3)?,
                ))
            },
        )
        .unwrap()
}

fn good_was_stored(tigris: &Tigris) {
    assert_eq!(
        tigris.count("SELECT count(*) FROM items WHERE url = 'https://good.example/1'"),
        1,
        "the good feed of the same poll was stored"
    );
}

fn minutes_from_now(t: DateTime<Utc>) -> i64 {
    (t - Utc::now()).num_minutes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_honoured_and_failures_back_off_until_a_success_resets_them() {
    let server = FeedServer::start().await;
    let seconds = server.url("/retry/seconds");
    let date = server.url("/retry/date");
    let plain_429 = server.url("/status/429");
    let broken = server.url("/status/500");
    let good = good(&server);
    let tigris = Tigris::new();
    tigris.write_config(
        &[
            (&seconds, "A"),
            (&date, "B"),
            (&plain_429, "C"),
            (&broken, "D"),
            (&good, "Good"),
        ],
        LIMITS,
    );
    let out = tigris.run(&["poll"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    good_was_stored(&tigris);

    let (state, failures, next, error) = health(&tigris, &seconds);
    assert_eq!((state.as_str(), failures), ("failing", 1));
    assert!(
        (119..=121).contains(&minutes_from_now(next)),
        "Retry-After: 7200 → {next}"
    );
    assert!(error.unwrap().contains("Retry-After: 7200"));
    let (_, _, next, _) = health(&tigris, &date);
    assert!(
        (178..=181).contains(&minutes_from_now(next)),
        "Retry-After date → {next}"
    );
    // 429 without Retry-After backs off like any failure: the schedule's interval (15 min)
    // plus the feed's jitter (under 90 s).
    let (_, _, next, _) = health(&tigris, &plain_429);
    assert!((13..=17).contains(&minutes_from_now(next)), "{next}");

    // A second failure doubles the wait; `tigris poll` polls every feed whatever is due.
    assert!(tigris.run(&["poll"]).await.status.success());
    let (state, failures, next, _) = health(&tigris, &broken);
    assert_eq!((state.as_str(), failures), ("failing", 2));
    assert!((28..=32).contains(&minutes_from_now(next)), "{next}");
    assert!(tigris.run(&["poll"]).await.status.success());
    let (_, failures, next, _) = health(&tigris, &broken);
    assert_eq!(failures, 3);
    assert!((58..=62).contains(&minutes_from_now(next)), "{next}");

    // The feed recovers (its URL now answers with a feed): one success resets it.
    let fixed = server.set_feed("fixed", rss2("Fixed", &[]), "application/rss+xml");
    tigris
        .db()
        .execute(
            "UPDATE feeds SET url = ?1 WHERE config_url = ?2",
            [&fixed, &broken],
        )
        .unwrap();
    assert!(tigris.run(&["poll"]).await.status.success());
    let (state, failures, next, error) = health(&tigris, &broken);
    assert_eq!((state.as_str(), failures, error), ("ok", 0, None));
    assert!(minutes_from_now(next) <= 16, "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_feed_is_marked_and_no_longer_polled() {
    let server = FeedServer::start().await;
    let gone = server.url("/status/410");
    let good = good(&server);
    let tigris = Tigris::new();
    tigris.write_config(&[(&gone, "Gone"), (&good, "Good")], LIMITS);
    assert!(tigris.run(&["poll"]).await.status.success());
    good_was_stored(&tigris);
    let (state, _, _, error) = health(&tigris, &gone);
    assert_eq!(state, "gone");
    assert!(error.unwrap().contains("410"));
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(
        server.seen_for("/status/410").len(),
        1,
        "a gone feed is not polled again"
    );
    let listing = stdout(&tigris.run(&["feeds"]).await);
    assert!(listing.lines().any(|l| l.starts_with("gone")), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_redirect_seen_twice_moves_the_feed_and_a_temporary_one_does_not() {
    let server = FeedServer::start().await;
    server.set_feed(
        "moved",
        rss2(
            "Moved",
            &[Item::new(
                "m1",
                "https://m.example/1",
                "Moved story",
                "text",
            )],
        ),
        "application/rss+xml",
    );
    server.set_feed(
        "temp",
        rss2(
            "Temp",
            &[Item::new("t1", "https://t.example/1", "Temp story", "text")],
        ),
        "application/rss+xml",
    );
    let permanent = server.url("/redirect/301/moved");
    let temporary = server.url("/redirect/302/temp");
    let tigris = Tigris::new();
    tigris.write_config(
        &[(&permanent, "Permanent"), (&temporary, "Temporary")],
        LIMITS,
    );
    let url_of = |t: &Tigris, config_url: &str| -> String {
        t.db()
            .query_row(
                "SELECT url FROM feeds WHERE config_url = ?1",
                [config_url],
                |r| r.get(0),
            )
            .unwrap()
    };

    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 2);
    assert_eq!(
        url_of(&tigris, &permanent),
        permanent,
        "one 301 does not move the feed yet"
    );
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(
        url_of(&tigris, &permanent),
        server.url("/feeds/moved"),
        "the second 301 moves it"
    );
    assert_eq!(
        url_of(&tigris, &temporary),
        temporary,
        "302 never moves a feed"
    );
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(
        server.seen_for("/redirect/301/moved").len(),
        2,
        "polled at its new URL"
    );
    assert_eq!(server.seen_for("/redirect/302/temp").len(), 3);
    // The config still lists the old URL; the feed is matched on it, not added again.
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(tigris.count("SELECT count(*) FROM feeds"), 2);
    assert_eq!(tigris.count("SELECT count(*) FROM items"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_loops_long_chains_bombs_endless_and_trickling_bodies_fail_alone() {
    let server = FeedServer::start().await;
    let good = good(&server);
    let cases = [
        (server.url("/loop/a"), "redirect loop"),
        (server.url("/chain/9"), "more than 5 redirects"),
        (server.url("/bomb"), "exceeds the 65536-byte limit"),
        (server.url("/endless"), "exceeds the 65536-byte limit"),
        (server.url("/trickle"), "timed out"),
    ];
    let mut feeds = vec![(good.as_str(), "Good")];
    feeds.extend(cases.iter().map(|(u, _)| (u.as_str(), "Bad")));
    let tigris = Tigris::new();
    tigris.write_config(&feeds, LIMITS);
    let started = std::time::Instant::now();
    let out = tigris.run(&["poll"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    good_was_stored(&tigris);
    for (url, expected) in &cases {
        let (state, failures, _, error) = health(&tigris, url);
        let error = error.unwrap_or_default();
        assert_eq!((state.as_str(), failures), ("failing", 1), "{url}");
        assert!(error.contains(expected), "{url}: {error}");
    }
    // A chain within the limit is followed.
    let tigris = Tigris::new();
    tigris.write_config(&[(&server.url("/chain/5"), "Chain")], LIMITS);
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(health(&tigris, &server.url("/chain/5")).0, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_two_fetches_hit_one_host_at_once() {
    let server = FeedServer::start().await;
    let urls: Vec<String> = (0..8)
        .map(|i| {
            let url = server.set_feed(&format!("h{i}"), rss2("H", &[]), "application/rss+xml");
            format!("{url}?delay_ms=150")
        })
        .collect();
    let feeds: Vec<(&str, &str)> = urls.iter().map(|u| (u.as_str(), "H")).collect();
    let tigris = Tigris::new();
    tigris.write_config(&feeds, "[schedule]\nmax_concurrent_fetches = 8\n");
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(server.request_count(), 8);
    assert_eq!(server.max_in_flight(), 2, "the per-host limit (default 2)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_unless_allowed() {
    let server = FeedServer::start().await;
    let good = good(&server);
    let tigris = Tigris::new();
    // Written by hand: the harness's configs allow loopback.
    std::fs::write(
        tigris.config_path(),
        format!(
            "[classify]\ntopics_dir = \"{SHIPPED_TOPICS}\"\n[[feeds]]\nurl = \"{good}\"\n[[feeds]]\nurl = \"http://localhost:9/rss\"\n"
        ),
    )
    .unwrap();
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(
        server.request_count(),
        0,
        "nothing reached the loopback server"
    );
    let (_, _, _, error) = health(&tigris, &good);
    assert!(error.unwrap().contains("allow_private_networks"));
    let (_, _, _, error) = health(&tigris, "http://localhost:9/rss");
    assert!(error.unwrap().contains("private or local address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_entities_are_never_fetched_and_cannot_blow_up() {
    let server = FeedServer::start().await;
    let secret = server.url("/secret");
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM \"{secret}\">]>\n<rss version=\"2.0\"><channel><title>X</title>\n<item><guid>x1</guid><title>US troops &xxe; Baghdad</title><description>d</description></item></channel></rss>"
    );
    let mut laughs = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE rss [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        laughs.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    laughs.push_str("]>\n<rss version=\"2.0\"><channel><title>L</title><item><guid>l1</guid><title>&lol9;</title></item></channel></rss>");
    let a = server.set_feed("xxe", xxe, "application/rss+xml");
    let b = server.set_feed("laughs", laughs, "application/rss+xml");
    let good = good(&server);
    let tigris = Tigris::new();
    tigris.write_config(&[(&a, "XXE"), (&b, "Laughs"), (&good, "Good")], LIMITS);
    let started = std::time::Instant::now();
    let out = tigris.run(&["poll"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        server.seen_for("/secret").is_empty(),
        "an external entity was fetched"
    );
    good_was_stored(&tigris);
    let titles: Vec<String> = tigris
        .db()
        .prepare("SELECT title FROM items")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        titles
            .iter()
            .all(|t| !t.contains("SECRET") && t.len() < 10_000),
        "{titles:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_failing_for_a_week_is_dead_and_checked_daily_and_listed() {
    let server = FeedServer::start().await;
    let broken = server.url("/status/500");
    let tigris = Tigris::new();
    tigris.write_config(&[(&broken, "Broken")], LIMITS);
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(health(&tigris, &broken).0, "failing");
    // The failures began eight days ago (the database is the clock the daemon reads).
    tigris
        .db()
        .execute(
            "UPDATE feeds SET failing_since = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-8 days')",
            [],
        )
        .unwrap();
    assert!(tigris.run(&["poll"]).await.status.success());
    let (state, failures, next, _) = health(&tigris, &broken);
    assert_eq!((state.as_str(), failures), ("dead", 2));
    // A day plus the feed's jitter (under 90 s on this schedule) from the poll, which was a
    // moment ago: whole minutes from now round down, so a jitter near 0 reads as 1,439.
    assert!(
        (24 * 60 - 1..=24 * 60 + 5).contains(&minutes_from_now(next)),
        "{next}"
    );
    let listing = stdout(&tigris.run(&["feeds"]).await);
    assert!(listing.lines().any(|l| l.starts_with("dead")), "{listing}");
    // Dead, not dropped: `tigris poll` still tries it, and a success brings it back.
    let fixed = server.set_feed("back", rss2("Back", &[]), "application/rss+xml");
    tigris
        .db()
        .execute("UPDATE feeds SET url = ?1", [&fixed])
        .unwrap();
    assert!(tigris.run(&["poll"]).await.status.success());
    assert_eq!(health(&tigris, &broken).0, "ok");
}
