//! Test harness: a real HTTP server on 127.0.0.1 port 0 serving feed fixtures (with ETag and
//! Last-Modified, answering conditional GETs with 304), and the real `tigris` binary run
//! through its CLI against a config and a SQLite file in a temporary folder.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

pub const SEEDS: [&str; 5] = [
    include_str!("../data/seeds/000_66a024b0265385c0.txt"),
    include_str!("../data/seeds/001_8a5f63cd2e2e5dd1.txt"),
    include_str!("../data/seeds/002_44ea737527027833.txt"),
    include_str!("../data/seeds/003_d1788cc086be3389.txt"),
    include_str!("../data/seeds/004_a0345ad12af6fa6c.txt"),
];

/// The shipped topic files.
pub const SHIPPED_TOPICS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/topics");

/// One item of a generated fixture feed.
#[derive(Clone, Debug)]
pub struct Item {
    pub guid: Option<String>,
    pub link: Option<String>,
    pub title: String,
    pub body: String,
}

impl Item {
    pub fn new(guid: &str, link: &str, title: &str, body: &str) -> Item {
        Item {
            guid: Some(guid.into()),
            link: Some(link.into()),
            title: title.into(),
            body: body.into(),
        }
    }
}

/// A paragraph of a seed article, so fixture text reads like the real subject.
pub fn seed_text(n: usize) -> String {
    let seed = SEEDS[n % SEEDS.len()];
    seed.lines()
        .filter(|l| !l.trim().is_empty())
        .nth(1 + n / SEEDS.len())
        .unwrap_or(seed)
        .to_string()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn rss2(title: &str, items: &[Item]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>{}</title><link>https://rss.example/</link><description>d</description>\n",
        esc(title)
    );
    for (i, item) in items.iter().enumerate() {
        out.push_str("<item>");
        out.push_str(&format!("<title>{}</title>", esc(&item.title)));
        if let Some(link) = &item.link {
            out.push_str(&format!("<link>{}</link>", esc(link)));
        }
        if let Some(guid) = &item.guid {
            out.push_str(&format!("<guid isPermaLink=\"false\">{}</guid>", esc(guid)));
        }
        out.push_str(&format!(
            "<description>{}</description><pubDate>Mon, {:02} Nov 2026 10:00:00 GMT</pubDate></item>\n",
            esc(&format!("<p>{}</p>", item.body)),
            1 + i % 28
        ));
    }
    out.push_str("</channel></rss>\n");
    out
}

pub fn atom(title: &str, items: &[Item]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>{}</title><id>urn:fixture:{}</id><updated>2026-11-20T00:00:00Z</updated>\n",
        esc(title),
        esc(title)
    );
    for item in items {
        out.push_str("<entry>");
        out.push_str(&format!("<title>{}</title>", esc(&item.title)));
        if let Some(guid) = &item.guid {
            out.push_str(&format!("<id>{}</id>", esc(guid)));
        }
        if let Some(link) = &item.link {
            out.push_str(&format!("<link rel=\"alternate\" href=\"{}\"/>", esc(link)));
        }
        out.push_str(&format!(
            "<updated>2026-11-20T08:00:00Z</updated><content type=\"html\">{}</content></entry>\n",
            esc(&format!("<p>{}</p>", item.body))
        ));
    }
    out.push_str("</feed>\n");
    out
}

pub fn rss1(title: &str, items: &[Item]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\"?>\n<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" xmlns=\"http://purl.org/rss/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel rdf:about=\"https://rdf.example/\"><title>{}</title><link>https://rdf.example/</link><description>d</description></channel>\n",
        esc(title)
    );
    for item in items {
        let about = item.link.clone().or(item.guid.clone()).unwrap_or_default();
        out.push_str(&format!(
            "<item rdf:about=\"{}\"><title>{}</title><link>{}</link><description>{}</description><dc:date>2026-11-19T09:00:00Z</dc:date></item>\n",
            esc(&about),
            esc(&item.title),
            esc(item.link.as_deref().unwrap_or("")),
            esc(&item.body)
        ));
    }
    out.push_str("</rdf:RDF>\n");
    out
}

pub fn json_feed(title: &str, items: &[Item]) -> String {
    let items: Vec<_> = items
        .iter()
        .map(|item| {
            serde_json::json!({
                "id": item.guid,
                "url": item.link,
                "title": item.title,
                "content_html": format!("<p>{}</p>", item.body),
                "date_published": "2026-11-18T07:30:00Z",
            })
        })
        .collect();
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": "https://json.example/",
        "items": items,
    })
    .to_string()
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub path: String,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub user_agent: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct ServerState {
    feeds: Mutex<HashMap<String, (String, &'static str)>>,
    seen: Mutex<Vec<SeenRequest>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A real HTTP server on 127.0.0.1, port chosen by the OS.
pub struct FeedServer {
    pub base: String,
    state: Arc<ServerState>,
}

const LAST_MODIFIED: &str = "Fri, 20 Nov 2026 08:00:00 GMT";

#[derive(serde::Deserialize)]
struct Delay {
    delay_ms: Option<u64>,
}

impl FeedServer {
    pub async fn start() -> FeedServer {
        let state = Arc::new(ServerState::default());
        let app = Router::new()
            .route("/feeds/{name}", get(serve_feed))
            .route("/status/{code}", get(serve_status))
            .route("/slow", get(serve_slow))
            .route("/garbage", get(serve_garbage))
            .route("/huge", get(serve_huge))
            .route("/retry/{mode}", get(serve_retry))
            .route("/redirect/{code}/{name}", get(serve_redirect))
            .route("/loop/{side}", get(serve_loop))
            .route("/chain/{n}", get(serve_chain))
            .route("/bomb", get(serve_bomb))
            .route("/endless", get(serve_endless))
            .route("/trickle", get(serve_trickle))
            .route("/secret", get(serve_secret))
            .with_state(state.clone());
        // Bind first, then spawn: the port is listening before any test uses it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FeedServer { base, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `body` at `/feeds/{name}`; returns the URL.
    pub fn set_feed(&self, name: &str, body: String, content_type: &'static str) -> String {
        self.state
            .feeds
            .lock()
            .unwrap()
            .insert(name.to_string(), (body, content_type));
        self.url(&format!("/feeds/{name}"))
    }

    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn seen_for(&self, path: &str) -> Vec<SeenRequest> {
        self.seen().into_iter().filter(|r| r.path == path).collect()
    }

    pub fn request_count(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// Waits (polling, with a bound) until `path` has been requested at least `n` times.
    pub async fn wait_for_requests_to(&self, path: &str, n: usize, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        while tokio::time::Instant::now() < deadline {
            if self.seen_for(path).len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Waits (polling, with a bound) until the server has answered at least `n` requests.
    pub async fn wait_for_requests(&self, n: usize, bound: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        while tokio::time::Instant::now() < deadline {
            if self.request_count() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

fn record(state: &ServerState, path: String, headers: &HeaderMap, status: u16) {
    let h = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    state.seen.lock().unwrap().push(SeenRequest {
        path,
        if_none_match: h(header::IF_NONE_MATCH),
        if_modified_since: h(header::IF_MODIFIED_SINCE),
        user_agent: h(header::USER_AGENT),
        status,
    });
}

/// Counts concurrent requests while alive.
struct InFlight<'a>(&'a ServerState);
impl<'a> InFlight<'a> {
    fn enter(state: &'a ServerState) -> InFlight<'a> {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(state)
    }
}
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn serve_feed(
    State(state): State<Arc<ServerState>>,
    UrlPath(name): UrlPath<String>,
    Query(delay): Query<Delay>,
    headers: HeaderMap,
) -> Response {
    let _guard = InFlight::enter(&state);
    if let Some(ms) = delay.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let path = format!("/feeds/{name}");
    let feed = state.feeds.lock().unwrap().get(&name).cloned();
    let Some((body, content_type)) = feed else {
        record(&state, path, &headers, 404);
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!(
        "\"{}\"",
        &hex::encode(Sha256::digest(body.as_bytes()))[..16]
    );
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if matches {
        record(&state, path, &headers, 304);
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    record(&state, path, &headers, 200);
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::ETAG, etag),
            (header::LAST_MODIFIED, LAST_MODIFIED.to_string()),
        ],
        body,
    )
        .into_response()
}

async fn serve_status(
    State(state): State<Arc<ServerState>>,
    UrlPath(code): UrlPath<u16>,
    headers: HeaderMap,
) -> Response {
    record(&state, format!("/status/{code}"), &headers, code);
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "server error page",
    )
        .into_response()
}

async fn serve_slow(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    record(&state, "/slow".into(), &headers, 200);
    tokio::time::sleep(Duration::from_secs(20)).await;
    (
        StatusCode::OK,
        "<rss version=\"2.0\"><channel></channel></rss>",
    )
        .into_response()
}

async fn serve_garbage(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    record(&state, "/garbage".into(), &headers, 200);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        "this is \u{0} not <<< a feed",
    )
        .into_response()
}

/// An RSS document far larger than the test configs' body cap, streamed in chunks.
async fn serve_huge(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    record(&state, "/huge".into(), &headers, 200);
    let head = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(b"<rss version=\"2.0\"><channel><title>huge</title>".to_vec())
    });
    let filler =
        futures_util::stream::iter((0..1024).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/rss+xml")],
        Body::from_stream(futures_util::StreamExt::chain(head, filler)),
    )
        .into_response()
}

/// 429 or 503 with a Retry-After in seconds (`seconds`) or as an HTTP date three hours ahead
/// (`date`).
async fn serve_retry(
    State(state): State<Arc<ServerState>>,
    UrlPath(mode): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    record(&state, format!("/retry/{mode}"), &headers, 0);
    match mode.as_str() {
        "seconds" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "7200".to_string())],
        )
            .into_response(),
        _ => {
            let at = chrono::Utc::now() + chrono::Duration::hours(3);
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, date)],
            )
                .into_response()
        }
    }
}

/// A redirect with status `code` to `/feeds/{name}`.
async fn serve_redirect(
    State(state): State<Arc<ServerState>>,
    UrlPath((code, name)): UrlPath<(u16, String)>,
    headers: HeaderMap,
) -> Response {
    record(&state, format!("/redirect/{code}/{name}"), &headers, code);
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::LOCATION, format!("/feeds/{name}"))],
    )
        .into_response()
}

/// `/loop/a` and `/loop/b` redirect to each other.
async fn serve_loop(
    State(state): State<Arc<ServerState>>,
    UrlPath(side): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    record(&state, format!("/loop/{side}"), &headers, 302);
    let other = if side == "a" { "b" } else { "a" };
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/loop/{other}"))],
    )
        .into_response()
}

/// `/chain/n` redirects to `/chain/n-1`; `/chain/0` is a feed.
async fn serve_chain(
    State(state): State<Arc<ServerState>>,
    UrlPath(n): UrlPath<u32>,
    headers: HeaderMap,
) -> Response {
    record(&state, format!("/chain/{n}"), &headers, 302);
    if n == 0 {
        return (StatusCode::OK, rss2("Chain", &[])).into_response();
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/chain/{}", n - 1))],
    )
        .into_response()
}

/// A gzip bomb: 32 MiB of spaces, gzip-compressed to a few tens of kilobytes.
async fn serve_bomb(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    use std::io::Write;
    record(&state, "/bomb".into(), &headers, 200);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(b"<rss version=\"2.0\"><channel><title>bomb</title>")
        .unwrap();
    let block = vec![b' '; 1024 * 1024];
    for _ in 0..32 {
        encoder.write_all(&block).unwrap();
    }
    let compressed = encoder.finish().unwrap();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/rss+xml"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        compressed,
    )
        .into_response()
}

/// A body that never ends.
async fn serve_endless(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    record(&state, "/endless".into(), &headers, 200);
    let stream = futures_util::stream::repeat_with(|| Ok::<_, std::io::Error>(vec![b' '; 8192]));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/rss+xml")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// One byte every half second, forever.
async fn serve_trickle(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    record(&state, "/trickle".into(), &headers, 200);
    let stream = futures_util::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        Some((Ok::<_, std::io::Error>(vec![b' ']), ()))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/rss+xml")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// What an XML external entity would fetch; the tests assert nobody asks for it.
async fn serve_secret(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    record(&state, "/secret".into(), &headers, 200);
    (StatusCode::OK, "SECRET-CONTENT").into_response()
}

/// A temporary folder holding a config, its database, and a way to run the real binary.
pub struct Tigris {
    pub dir: tempfile::TempDir,
}

impl Tigris {
    pub fn new() -> Tigris {
        Tigris {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tigris.toml")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data/tigris.db")
    }

    /// Writes a config with `feeds` (url, name) and extra TOML for the other sections. The
    /// topics are the shipped ones unless `sections` has a `[classify]` table; loopback
    /// addresses are allowed.
    pub fn write_config(&self, feeds: &[(&str, &str)], sections: &str) {
        let mut text = String::new();
        if !sections.contains("[classify]") {
            text.push_str(&format!("[classify]\ntopics_dir = \"{SHIPPED_TOPICS}\"\n"));
        }
        // The test servers are on loopback, which tigris refuses by default.
        if sections.contains("[fetch]") {
            text.push_str(
                &sections.replace("[fetch]\n", "[fetch]\nallow_private_networks = true\n"),
            );
        } else {
            text.push_str(sections);
            text.push_str("\n[fetch]\nallow_private_networks = true\n");
        }
        text.push('\n');
        for (url, name) in feeds {
            text.push_str(&format!(
                "[[feeds]]\nurl = \"{url}\"\nname = \"{name}\"\n\n"
            ));
        }
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tigris"));
        cmd.arg("--config")
            .arg(self.config_path())
            .args(args)
            .env_remove("RUST_LOG")
            .env_remove("TIGRIS_CONFIG")
            .kill_on_drop(true);
        cmd
    }

    /// Runs the binary to completion with a bound.
    pub async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(Duration::from_secs(120), self.command(args).output())
            .await
            .expect("tigris did not finish within 120 s")
            .expect("tigris binary runs")
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.db_path()).unwrap()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |row| row.get(0)).unwrap()
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Sends a signal to a child process with the system's `kill`.
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Stores one poll of the feed at `url` bringing `items` (published on 1 November 2026, the
/// first item of an `rss2` document) through the pipeline's stages, as a `tigris poll` would.
pub fn store_poll(store: &mut tigris::store::Store, url: &str, items: &[Item]) -> u64 {
    use tigris::config::FeedConfig;
    use tigris::schedule::{CronSchedule, FeedState};

    let classifier = tigris::classify::Classifier::load(std::path::Path::new(SHIPPED_TOPICS))
        .expect("shipped topics load");
    let url = url::Url::parse(url).unwrap();
    store
        .sync_feeds(
            &[FeedConfig {
                line: 1,
                url: url.clone(),
                name: None,
                schedule: CronSchedule::parse("0 * * * *").unwrap(),
            }],
            chrono::Utc::now(),
        )
        .unwrap();
    let feed = store
        .enabled_feeds()
        .unwrap()
        .into_iter()
        .find(|f| f.url == url)
        .unwrap();
    let body = rss2("Outlet", items);
    let mut parsed =
        tigris::parse::parse_feed(body.as_bytes(), Some(&url), url.as_str(), None).unwrap();
    let keyed = tigris::dedup::key_entries(std::mem::take(&mut parsed.entries));
    let entries = classifier.classify_entries(keyed);
    let started_at = chrono::Utc::now();
    let record = tigris::store::FetchRecord {
        started_at,
        http_status: Some(200),
        bytes: body.len() as u64,
        duration: std::time::Duration::from_millis(1),
        etag: None,
        last_modified: None,
        next_check_at: started_at + chrono::Duration::hours(1),
        state: FeedState::Ok,
        failing_since: None,
        permanent_redirect: None,
    };
    store
        .store_poll(&feed, &record, "hash", &parsed, &entries)
        .unwrap()
        .new
}

pub fn integrity_ok(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

/// `tigris run` started by a test: its address (from its "listening on" log line) and its
/// log lines, collected as they come.
pub struct Daemon {
    pub child: tokio::process::Child,
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts the daemon (its config should listen on 127.0.0.1:0) and waits until it listens.
    pub async fn start(tigris: &Tigris) -> Daemon {
        Daemon::spawn(tigris.command(&["run"])).await
    }

    /// As [`Daemon::start`], with `configure` applied to the command first.
    pub async fn start_with(
        tigris: &Tigris,
        configure: impl FnOnce(&mut tokio::process::Command),
    ) -> Daemon {
        let mut command = tigris.command(&["run"]);
        configure(&mut command);
        Daemon::spawn(command).await
    }

    /// Starts `tigris run` as `command` says (extra environment, say) and waits until it
    /// listens.
    pub async fn spawn(mut command: tokio::process::Command) -> Daemon {
        use tokio::io::AsyncBufReadExt;
        let mut child = command
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let base = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), reader.next_line())
                .await
                .expect("daemon starts listening within 30 s")
                .unwrap()
                .unwrap_or_else(|| panic!("daemon exited: {:?}", lines.lock().unwrap()));
            lines.lock().unwrap().push(line.clone());
            // The address ends the text line, or the message string of a JSON line.
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect::<String>();
            }
        };
        let collected = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = reader.next_line().await {
                collected.lock().unwrap().push(line);
            }
        });
        Daemon { child, base, lines }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (bounded) until `count` log lines contain `needle`.
    pub async fn wait_for_log(&self, needle: &str, count: usize, bound: Duration) {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let seen = self.log().iter().filter(|l| l.contains(needle)).count();
            if seen >= count {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited {bound:?} for {count} log lines with {needle:?}: {:#?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGTERM, and the exit status (bounded).
    pub async fn stop(self) -> std::process::ExitStatus {
        signal(self.child.id().unwrap(), "TERM");
        self.stop_waiting().await
    }

    /// The exit status of a daemon already told to stop (bounded).
    pub async fn stop_waiting(mut self) -> std::process::ExitStatus {
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("daemon stops within 20 s of SIGTERM")
            .unwrap()
    }
}
