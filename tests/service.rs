//! Running as a service: the systemd notify protocol (READY, WATCHDOG, STOPPING) over a real
//! datagram socket, the unit file checked by `systemd-analyze verify`, config reload on
//! SIGHUP (a good config takes effect, a bad one is refused and the old one stays), and the
//! Prometheus exposition at `/metrics`. The real binary, a real SQLite file, loopback HTTP.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;

/// Receives notify datagrams until one contains `state`; returns every message seen.
async fn wait_for_state(
    socket: &tokio::net::UnixDatagram,
    state: &str,
    seen: &mut Vec<String>,
) -> bool {
    let mut buffer = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let received = tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await;
        let Ok(Ok(n)) = received else {
            return false;
        };
        let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
        let found = message.lines().any(|l| l == state);
        seen.push(message);
        if found {
            return true;
        }
    }
}

#[tokio::test]
async fn under_systemd_it_sends_ready_then_watchdog_pings_then_stopping() {
    let feeds = FeedServer::start().await;
    let url = feeds.set_feed(
        "a",
        rss2(
            "Baghdad Desk",
            &[Item::new("a1", "https://a.example/1", "One", &seed_text(0))],
        ),
        "application/rss+xml",
    );
    let tigris = Tigris::new();
    tigris.write_config(&[(&url, "A")], "[server]\nlisten = \"127.0.0.1:0\"\n");
    let socket_path = tigris.dir.path().join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&socket_path).unwrap();

    let mut command = tigris.command(&["run"]);
    command
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000");
    let daemon = Daemon::spawn(command).await;
    let mut seen = Vec::new();
    assert!(
        wait_for_state(&socket, "READY=1", &mut seen).await,
        "no READY=1: {seen:?}"
    );
    // READY comes once the server listens: the feed is served by now.
    let health = reqwest::get(daemon.url("/healthz")).await.unwrap();
    assert!(health.status().is_success());
    assert!(
        !seen.iter().any(|m| m.contains("WATCHDOG=1")),
        "a watchdog ping before READY: {seen:?}"
    );
    assert!(
        wait_for_state(&socket, "WATCHDOG=1", &mut seen).await,
        "no WATCHDOG=1 within 30 s: {seen:?}"
    );
    // Pings keep coming at half the 400 ms interval.
    assert!(wait_for_state(&socket, "WATCHDOG=1", &mut seen).await);

    let pid = daemon.child.id().unwrap();
    signal(pid, "TERM");
    assert!(
        wait_for_state(&socket, "STOPPING=1", &mut seen).await,
        "no STOPPING=1 after SIGTERM: {seen:?}"
    );
    let status = daemon.stop_waiting().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_unit_file_passes_systemd_analyze_verify() {
    let Ok(found) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        assert!(
            std::env::var_os("TIGRIS_REQUIRE_SYSTEMD_ANALYZE").is_none(),
            "systemd-analyze is required here but not installed"
        );
        eprintln!("systemd-analyze not installed; unit file not verified");
        return;
    };
    assert!(found.status.success());
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/tigris.service"
    ))
    .unwrap();
    for required in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StateDirectory=tigris",
        "ConfigurationDirectory=tigris",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
        "CapabilityBoundingSet=",
        "ExecReload=",
    ] {
        assert!(unit.contains(required), "the unit lacks {required}");
    }
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tigris.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/tigris", env!("CARGO_BIN_EXE_tigris")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Only complaints about this unit count; a container without a running systemd prints
    // unrelated notes about the host's own units.
    let about_us: Vec<&str> = err.lines().filter(|l| l.contains("tigris")).collect();
    assert!(out.status.success() && about_us.is_empty(), "{err}");
}

#[tokio::test]
async fn sighup_reloads_feeds_and_topics_and_refuses_a_bad_config() {
    let feeds = FeedServer::start().await;
    let a = feeds.set_feed(
        "a",
        rss2(
            "Desk A",
            &[Item::new("a1", "https://a.example/1", "One", &seed_text(0))],
        ),
        "application/rss+xml",
    );
    let b = feeds.set_feed(
        "b",
        rss2(
            "Desk B",
            &[Item::new("b1", "https://b.example/1", "Two", &seed_text(1))],
        ),
        "application/rss+xml",
    );
    let tigris = Tigris::new();
    let topics = tigris.dir.path().join("topics");
    std::fs::create_dir_all(&topics).unwrap();
    for file in ["us-iraq.toml", "us-iraq.model.tsv"] {
        std::fs::copy(format!("{SHIPPED_TOPICS}/{file}"), topics.join(file)).unwrap();
    }
    let sections = "[classify]\ntopics_dir = \"topics\"\n[server]\nlisten = \"127.0.0.1:0\"\n";
    tigris.write_config(&[(&a, "A")], sections);
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("fetched", 1, Duration::from_secs(30))
        .await;
    assert!(feeds.seen_for("/feeds/b").is_empty());
    let dust = reqwest::get(daemon.url("/topics/dust-storms.atom"))
        .await
        .unwrap();
    assert_eq!(dust.status(), 404);

    // A good new config: a second feed and a second topic.
    tigris.write_config(&[(&a, "A"), (&b, "B")], sections);
    std::fs::write(
        topics.join("dust-storms.toml"),
        "id = \"dust-storms\"\nname = \"Dust storms\"\nthreshold = 0.5\nbias = -3.0\n\n[groups.storm]\nweight = 3.0\nterms = [\"dust storm\", \"sandstorm\"]\n",
    )
    .unwrap();
    let pid = daemon.child.id().unwrap();
    signal(pid, "HUP");
    daemon
        .wait_for_log("config reloaded", 1, Duration::from_secs(30))
        .await;
    assert!(
        feeds
            .wait_for_requests_to("/feeds/b", 1, Duration::from_secs(30))
            .await,
        "the feed added by the reload was not polled"
    );
    let dust = reqwest::get(daemon.url("/topics/dust-storms.atom"))
        .await
        .unwrap();
    assert_eq!(dust.status(), 200, "the reloaded topic is not served");

    // A bad config: refused with its line, the running config stays.
    std::fs::write(
        tigris.config_path(),
        format!("{sections}\n[schedule]\ndefault = \"every day\"\n\n[[feeds]]\nurl = \"{a}\"\n"),
    )
    .unwrap();
    signal(pid, "HUP");
    daemon
        .wait_for_log("config reload refused", 1, Duration::from_secs(30))
        .await;
    let refused = daemon
        .log()
        .into_iter()
        .find(|l| l.contains("config reload refused"))
        .unwrap();
    assert!(
        refused.contains("tigris.toml:7") && refused.contains("schedule.default"),
        "{refused}"
    );
    let health = reqwest::get(daemon.url("/healthz")).await.unwrap();
    assert!(health.status().is_success(), "the daemon stopped serving");
    assert_eq!(
        tigris.count("SELECT count(*) FROM feeds WHERE enabled = 1"),
        2,
        "the refused config changed the feed list"
    );
    let dust = reqwest::get(daemon.url("/topics/dust-storms.atom"))
        .await
        .unwrap();
    assert_eq!(dust.status(), 200);
    assert!(daemon.stop().await.success());
}

/// The Prometheus text exposition, read the way a scraper reads it: `# TYPE` lines and
/// `name{labels} value` samples.
struct Exposition {
    types: HashMap<String, String>,
    samples: HashMap<String, f64>,
}

fn parse_exposition(text: &str) -> Exposition {
    let mut types = HashMap::new();
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            types.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let (series, value) = line.rsplit_once(' ').expect("series value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value: {line}"));
            samples.insert(series.to_string(), value);
        }
    }
    Exposition { types, samples }
}

async fn scrape(daemon: &Daemon) -> Exposition {
    let response = reqwest::get(daemon.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse_exposition(&response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_expose_fetches_items_feeds_and_cache_and_counters_move_after_a_poll() {
    let feeds = FeedServer::start().await;
    let items: Vec<Item> = (0..3)
        .map(|i| {
            Item::new(
                &format!("m{i}"),
                &format!("https://m.example/{i}"),
                &format!("US troops and Iraq talks, part {i}"),
                &seed_text(i),
            )
        })
        .collect();
    let url = feeds.set_feed("m", rss2("Metrics Desk", &items), "application/rss+xml");
    let tigris = Tigris::new();
    // Every second, so a changed feed is polled again within the test.
    std::fs::write(
        tigris.config_path(),
        format!(
            "[classify]\ntopics_dir = \"{SHIPPED_TOPICS}\"\n[server]\nlisten = \"127.0.0.1:0\"\n[fetch]\nallow_private_networks = true\n\n[[feeds]]\nurl = \"{url}\"\nschedule = \"* * * * * *\"\n"
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&tigris).await;
    daemon
        .wait_for_log("fetched", 1, Duration::from_secs(30))
        .await;

    let first = scrape(&daemon).await;
    for (name, kind) in [
        ("tigris_fetches_total", "counter"),
        ("tigris_fetch_duration_seconds", "histogram"),
        ("tigris_items_total", "counter"),
        ("tigris_feeds", "gauge"),
        ("tigris_relevant_items", "gauge"),
        ("tigris_stored_items", "gauge"),
        ("tigris_database_bytes", "gauge"),
    ] {
        assert_eq!(
            first.types.get(name).map(String::as_str),
            Some(kind),
            "{name}: {:?}",
            first.types
        );
    }
    assert_eq!(first.samples[r#"tigris_items_total{kind="new"}"#], 3.0);
    assert_eq!(first.samples[r#"tigris_feeds{state="ok"}"#], 1.0);
    assert_eq!(first.samples[r#"tigris_feeds{state="failing"}"#], 0.0);
    assert_eq!(first.samples["tigris_stored_items"], 3.0);
    assert!(first.samples["tigris_database_bytes"] > 0.0);
    assert!(first.samples[r#"tigris_fetches_total{outcome="ok"}"#] >= 1.0);
    assert!(first.samples["tigris_fetch_duration_seconds_count"] >= 1.0);
    assert!(
        first
            .samples
            .contains_key(r#"tigris_fetch_duration_seconds_bucket{le="0.1"}"#)
    );

    // Two reads of the feed: the second is a render-cache hit.
    for _ in 0..2 {
        reqwest::get(daemon.url("/feed.atom")).await.unwrap();
    }
    let mut grown = items.clone();
    grown.push(Item::new(
        "m3",
        "https://m.example/3",
        "US strike after militia attack in Iraq",
        &seed_text(3),
    ));
    feeds.set_feed("m", rss2("Metrics Desk", &grown), "application/rss+xml");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let second = loop {
        let now = scrape(&daemon).await;
        if now.samples[r#"tigris_items_total{kind="new"}"#] >= 4.0 {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new-items counter never moved"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(second.samples[r#"tigris_items_total{kind="new"}"#], 4.0);
    // The re-poll was due: how late it started is measured.
    assert_eq!(
        second
            .types
            .get("tigris_poll_lag_seconds")
            .map(String::as_str),
        Some("histogram")
    );
    assert!(second.samples["tigris_poll_lag_seconds_count"] >= 1.0);
    assert_eq!(second.samples["tigris_stored_items"], 4.0);
    assert!(second.samples[r#"tigris_render_cache_total{result="hit"}"#] >= 1.0);
    assert!(second.samples[r#"tigris_render_cache_total{result="miss"}"#] >= 1.0);
    assert!(
        second.samples["tigris_fetch_duration_seconds_count"]
            > first.samples["tigris_fetch_duration_seconds_count"]
    );
    assert!(daemon.stop().await.success());
}

#[tokio::test]
async fn json_logs_are_one_json_object_per_line() {
    let tigris = Tigris::new();
    tigris.write_config(
        &[],
        "[server]\nlisten = \"127.0.0.1:0\"\n[log]\nformat = \"json\"\n",
    );
    let daemon = Daemon::start(&tigris).await;
    let lines = daemon.log();
    assert!(daemon.stop().await.success());
    assert!(!lines.is_empty());
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "{lines:?}"
    );
}
