//! Hostile readers of `tigris run`'s HTTP server: a client that trickles its request head, a
//! head far larger than any feed reader sends, absurd or malformed filter values (an FTS5
//! syntax error in `q` among them), and 200 concurrent readers while polls run. The real
//! binary, real sockets on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DAEMON: &str = "[server]\nlisten = \"127.0.0.1:0\"\n[schedule]\ndefault = \"* * * * * *\"\n[fetch]\ntimeout_secs = 5\n";

/// The server's header read timeout (`tigris::serve::HEADER_READ_TIMEOUT`), with slack for a
/// loaded machine.
fn header_deadline() -> Duration {
    tigris::serve::HEADER_READ_TIMEOUT + Duration::from_secs(10)
}

async fn daemon_with_items(server: &FeedServer) -> (Tigris, Daemon) {
    let items: Vec<Item> = (0..30)
        .map(|i| {
            Item::new(
                &format!("h{i}"),
                &format!("https://wire.example/h{i}"),
                &format!("US and Iraq talks on troop withdrawal from Baghdad, round {i}"),
                &seed_text(i),
            )
        })
        .collect();
    let url = server.set_feed("wire", rss2("Wire", &items), "application/rss+xml");
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "Wire")], DAEMON);
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("fetched", 1, Duration::from_secs(30))
        .await;
    (tigris, daemon)
}

fn host_port(daemon: &Daemon) -> String {
    daemon.base.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn a_client_that_trickles_its_request_head_is_cut_off() {
    let server = FeedServer::start().await;
    let (_tigris, daemon) = daemon_with_items(&server).await;
    let mut slow = tokio::net::TcpStream::connect(host_port(&daemon))
        .await
        .unwrap();
    slow.write_all(b"GET /feed.atom HTTP/1.1\r\nHost: tigris\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One header byte a second, never the blank line that ends the head.
    let closed = async {
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                read = slow.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return true,
                    // hyper may answer 408 before closing; the connection still ends.
                    Ok(_) => continue,
                },
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if slow.write_all(b"X").await.is_err() {
                        return true;
                    }
                }
            }
        }
    };
    let cut = tokio::time::timeout(header_deadline(), closed).await;
    assert!(
        cut.is_ok(),
        "a trickling client still connected after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() >= tigris::serve::HEADER_READ_TIMEOUT - Duration::from_secs(1));
    // Meanwhile and after, everyone else is served.
    let ok = reqwest::get(daemon.url("/healthz")).await.unwrap();
    assert_eq!(ok.status(), 200);
    daemon.stop().await;
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_and_the_server_goes_on() {
    let server = FeedServer::start().await;
    let (_tigris, daemon) = daemon_with_items(&server).await;
    let mut client = tokio::net::TcpStream::connect(host_port(&daemon))
        .await
        .unwrap();
    let huge = "a".repeat(256 * 1024);
    let head = format!("GET /feed.atom HTTP/1.1\r\nHost: tigris\r\nX-Padding: {huge}\r\n\r\n");
    // The server may close before taking it all; a failed write is a refusal too.
    let _ = client.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // Many headers, each small, add up the same way.
    let many: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let response = reqwest::Client::new()
        .get(daemon.url("/feed.atom"))
        .header("X-Big", "b".repeat(8 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "an 8 KiB header is still fine");
    let mut client = tokio::net::TcpStream::connect(host_port(&daemon))
        .await
        .unwrap();
    let _ = client
        .write_all(format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes())
        .await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let ok = reqwest::get(daemon.url("/feed.atom")).await.unwrap();
    assert_eq!(ok.status(), 200);
    daemon.stop().await;
}

#[tokio::test]
async fn absurd_or_malformed_filters_are_400_never_500() {
    let server = FeedServer::start().await;
    let (_tigris, daemon) = daemon_with_items(&server).await;
    let long = "x".repeat(10_000);
    let cases: Vec<(&str, String)> = vec![
        ("limit", "-1".into()),
        ("limit", "0".into()),
        ("limit", "99999999999999999999999999".into()),
        ("limit", "1e3".into()),
        ("limit", "%00".into()),
        ("limit", "".into()),
        ("limit", "1000001".into()),
        ("since", "yesterday".into()),
        ("since", "2026-13-45T00:00:00Z".into()),
        ("since", "+275760-09-13T00:00:00Z".into()),
        ("since", "99999-01-01T00:00:00Z".into()),
        ("since", long.clone()),
        ("since", "%FF%FE".into()),
        ("min_score", "NaN".into()),
        ("min_score", "inf".into()),
        // Bare FTS5 operators are a syntax error SQLite reports; it is the reader's.
        ("q", "AND".into()),
        ("q", "OR%20OR".into()),
        ("q", "NOT".into()),
        ("q", long.clone()),
        ("stories", "maybe".into()),
    ];
    let client = reqwest::Client::new();
    for path in ["/feed.atom", "/feed.json", "/topics/us-iraq.rss"] {
        for (name, value) in &cases {
            let url = daemon.url(&format!("{path}?{name}={value}"));
            let response = client.get(&url).send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_eq!(
                status,
                400,
                "{path}?{name}={}: {body}",
                value.chars().take(40).collect::<String>()
            );
            assert!(body.contains(name), "{name}: {body}");
        }
    }
    // Search text that would be FTS5 syntax (quotes, columns, stars, brackets) is taken as
    // words to look for, not as a query language: an answer, never an error.
    for q in [
        "%22unbalanced",
        "NEAR(",
        "nosuchcolumn:iraq",
        "*",
        "(((",
        "%5E%2B-",
        "Baghdad%22%20OR",
    ] {
        let response = client
            .get(daemon.url(&format!("/feed.atom?q={q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "q={q}");
    }
    // A valid far-future `since` is no error, just an empty feed.
    let response = client
        .get(daemon.url("/feed.json?since=9999-12-31T23:59:59Z&limit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    daemon.stop().await;
}

#[tokio::test]
async fn two_hundred_concurrent_readers_during_polls_all_get_their_feed() {
    let server = FeedServer::start().await;
    // Several feeds, each answered slowly, so polls are in flight while the readers read.
    let mut feeds = Vec::new();
    for f in 0..4 {
        let items: Vec<Item> = (0..40)
            .map(|i| {
                Item::new(
                    &format!("c{f}-{i}"),
                    &format!("https://wire{f}.example/c{i}"),
                    &format!("Iraq and US officials meet in Baghdad over troops, report {f}-{i}"),
                    &seed_text(i + f),
                )
            })
            .collect();
        let url = server.set_feed(
            &format!("c{f}"),
            rss2("Wire", &items),
            "application/rss+xml",
        );
        feeds.push(format!("{url}?delay_ms=300"));
    }
    let tigris = Tigris::new();
    let named: Vec<(&str, &str)> = feeds.iter().map(|u| (u.as_str(), "Wire")).collect();
    tigris.write_config(&named, DAEMON);
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("fetched", 4, Duration::from_secs(30))
        .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let paths = [
        "/feed.atom",
        "/feed.rss",
        "/feed.json",
        "/feed.atom?limit=5",
        "/feed.json?q=Baghdad",
        "/topics/us-iraq.atom",
        "/",
        "/healthz",
    ];
    let polls_before = server.request_count();
    let readers = (0..200).map(|i| {
        let client = client.clone();
        let url = daemon.url(paths[i % paths.len()]);
        async move {
            let started = Instant::now();
            let response = client
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
            if status != 200 || body.is_empty() {
                return Err(format!("{url}: {status}"));
            }
            Ok::<_, String>(started.elapsed())
        }
    });
    let results = futures_util::future::join_all(readers).await;
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} readers failed: {errors:#?}",
        errors.len()
    );
    let mut latencies: Vec<Duration> = results.into_iter().filter_map(Result::ok).collect();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    let p50 = latencies[latencies.len() / 2];
    eprintln!(
        "200 concurrent readers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0
    );
    // Polls went on while they read.
    assert!(
        server
            .wait_for_requests(polls_before + 4, Duration::from_secs(30))
            .await
    );
    assert!(p99 < Duration::from_secs(10), "p99 {p99:?}");
    daemon.stop().await;
}
