//! Serve: the HTTP side of `tigris run` (axum). The merged feed in three formats with the
//! same filters as query parameters, per-topic feeds, a small HTML page for a person, and a
//! health check. Reads go through `store` on a connection of their own (WAL: they never wait
//! for a poll); renders are cached until a poll changes the store, and answered with 304 when
//! the reader already has them. While a render is under way, a request for a feed rendered in
//! the last `STALE_FOR` gets that render at once instead of waiting: during a poll the store
//! changes at every commit (several times a second on a cold poll), and readers would
//! otherwise queue behind one render after another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::FeedMetaConfig;
use crate::model::{DEFAULT_FEED_LIMIT, FeedItem, FeedQuery, MAX_FEED_LIMIT};
use crate::render::{self, FeedMeta, Format};
use crate::store::{Store, StoreError};

/// A bad query parameter: names it and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("query parameter `{name}`: {message}")]
    Invalid { name: String, message: String },
    #[error("query parameter `topic`: no topic `{topic}` (known: {known})")]
    UnknownTopic { topic: String, known: String },
    #[error(
        "unknown query parameter `{0}` (known: topic, min_score, source, since, q, limit, subtopic, stories)"
    )]
    Unknown(String),
}

/// A topic as the server needs it.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub id: String,
    pub name: String,
    pub threshold: f64,
    pub subtopics: Vec<String>,
}

/// A search longer than this is refused: no reader types one, and FTS5 would plan it all.
pub const MAX_SEARCH_CHARS: usize = 500;

/// Parses the merged feed's filters. The same parser serves HTTP query parameters and the
/// `tigris feed` command's options, so both accept and refuse the same things.
pub fn parse_feed_query<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    topics: &[TopicInfo],
) -> Result<FeedQuery, QueryError> {
    let invalid = |name: &str, message: String| QueryError::Invalid {
        name: name.to_string(),
        message,
    };
    let mut query = FeedQuery {
        topic: topics
            .first()
            .map(|t| t.id.clone())
            .unwrap_or_else(|| crate::classify::DEFAULT_TOPIC.to_string()),
        min_score: None,
        source: None,
        since: None,
        q: None,
        limit: DEFAULT_FEED_LIMIT,
        subtopic: None,
        stories: true,
    };
    if let Some(t) = topics
        .iter()
        .find(|t| t.id == crate::classify::DEFAULT_TOPIC)
    {
        query.topic = t.id.clone();
    }
    for (name, value) in params {
        let value = value.trim();
        match name {
            "topic" => {
                if !topics.iter().any(|t| t.id == value) {
                    let known: Vec<&str> = topics.iter().map(|t| t.id.as_str()).collect();
                    return Err(QueryError::UnknownTopic {
                        topic: value.to_string(),
                        known: known.join(", "),
                    });
                }
                query.topic = value.to_string();
            }
            "min_score" => {
                let score: f64 = value
                    .parse()
                    .map_err(|_| invalid(name, format!("`{value}` is not a number")))?;
                if !(0.0..=1.0).contains(&score) {
                    return Err(invalid(name, format!("{score} is not between 0 and 1")));
                }
                query.min_score = Some(score);
            }
            "source" if !value.is_empty() => query.source = Some(value.to_string()),
            "since" => {
                let since = DateTime::parse_from_rfc3339(value).map_err(|e| {
                    invalid(
                        name,
                        format!(
                            "`{value}` is not an RFC 3339 time such as 2026-11-23T00:00:00Z ({e})"
                        ),
                    )
                })?;
                query.since = Some(since.with_timezone(&Utc));
            }
            "q" if value.chars().count() > MAX_SEARCH_CHARS => {
                return Err(invalid(
                    name,
                    format!("longer than {MAX_SEARCH_CHARS} characters"),
                ));
            }
            "q" if !value.is_empty() => query.q = Some(value.to_string()),
            "limit" => {
                let limit: usize = value
                    .parse()
                    .map_err(|_| invalid(name, format!("`{value}` is not a whole number")))?;
                if limit == 0 || limit > MAX_FEED_LIMIT {
                    return Err(invalid(
                        name,
                        format!("{limit} is not between 1 and {MAX_FEED_LIMIT}"),
                    ));
                }
                query.limit = limit;
            }
            "subtopic" if !value.is_empty() => query.subtopic = Some(value.to_string()),
            "stories" => {
                query.stories = match value {
                    "true" | "1" | "yes" => true,
                    "false" | "0" | "no" => false,
                    other => return Err(invalid(name, format!("`{other}` is not true or false"))),
                }
            }
            "source" | "q" | "subtopic" => {}
            other => return Err(QueryError::Unknown(other.to_string())),
        }
    }
    if let Some(subtopic) = &query.subtopic
        && let Some(topic) = topics.iter().find(|t| t.id == query.topic)
        && !topic.subtopics.contains(subtopic)
    {
        return Err(invalid(
            "subtopic",
            format!(
                "topic `{}` has no subtopic `{subtopic}` (known: {})",
                topic.id,
                topic.subtopics.join(", ")
            ),
        ));
    }
    Ok(query)
}

/// The feed metadata of a query in a format, served (or written) at `self_url`.
pub fn feed_meta(
    settings: &FeedMetaConfig,
    query: &FeedQuery,
    topics: &[TopicInfo],
    self_url: String,
    ttl_minutes: u32,
) -> FeedMeta {
    let topic_name = topics
        .iter()
        .find(|t| t.id == query.topic)
        .map(|t| t.name.as_str())
        .unwrap_or(query.topic.as_str());
    let is_default = query.topic == crate::classify::DEFAULT_TOPIC;
    let title = if is_default {
        settings.title.clone()
    } else {
        format!("tigris: {topic_name}")
    };
    // The id names the filters, not the format: the three formats of one query are one feed.
    let filters = format!("{query:?}");
    let digest = hex::encode(Sha256::digest(filters.as_bytes()));
    FeedMeta {
        title,
        subtitle: settings.subtitle.clone(),
        self_url,
        site_url: format!("{}/", settings.base_url),
        id: format!("urn:tigris:feed:{}:{}", query.topic, &digest[..16]),
        ttl_minutes,
    }
}

/// A rendered response kept until the store changes.
#[derive(Clone)]
struct Cached {
    generation: u64,
    rendered_at: std::time::Instant,
    body: axum::body::Bytes,
    etag: String,
    last_modified: DateTime<Utc>,
}

/// What the handlers share.
pub struct ServeState {
    store: Mutex<Store>,
    settings: FeedMetaConfig,
    /// Replaced when the daemon reloads its config (SIGHUP).
    topics: std::sync::RwLock<Arc<Vec<TopicInfo>>>,
    ttl_minutes: u32,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    changes: watch::Receiver<u64>,
    cache: Mutex<HashMap<String, Cached>>,
    /// One render at a time: a burst of readers of an uncached feed waits for the first
    /// render instead of each rendering.
    render_lock: tokio::sync::Mutex<()>,
}

/// At most this many distinct renders are cached; beyond it the cache starts over.
const CACHE_ENTRIES: usize = 256;

/// How old a render may be to be served while another render is under way.
const STALE_FOR: std::time::Duration = std::time::Duration::from_secs(2);

impl ServeState {
    pub fn new(
        store: Store,
        settings: FeedMetaConfig,
        topics: Vec<TopicInfo>,
        ttl_minutes: u32,
        changes: watch::Receiver<u64>,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Arc<ServeState> {
        Arc::new(ServeState {
            store: Mutex::new(store),
            settings,
            topics: std::sync::RwLock::new(Arc::new(topics)),
            ttl_minutes,
            metrics,
            changes,
            cache: Mutex::new(HashMap::new()),
            render_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The topics served now.
    pub fn topics(&self) -> Arc<Vec<TopicInfo>> {
        self.topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves `topics` from now on (after a config reload); cached renders are dropped.
    pub fn set_topics(&self, topics: Vec<TopicInfo>) {
        *self.topics.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(topics);
        self.lock_cache().clear();
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the reader connection in a blocking thread.
    async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = state.store.lock().unwrap_or_else(|p| p.into_inner());
            f(&store)
        })
        .await
        .unwrap_or_else(|e| {
            Err(StoreError::Search {
                query: String::new(),
                reason: format!("reader task failed: {e}"),
            })
        })
    }

    /// The cached response for `key`, rendering it with `render` when the store changed.
    async fn cached<F, Fut>(self: &Arc<Self>, key: String, render: F) -> Result<Cached, Response>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<u8>, Response>>,
    {
        let generation = *self.changes.borrow();
        if let Some(hit) = self
            .lock_cache()
            .get(&key)
            .filter(|c| c.generation == generation)
        {
            crate::metrics::record_render(crate::metrics::Render::Hit);
            return Ok(hit.clone());
        }
        let _rendering = match self.render_lock.try_lock() {
            Ok(rendering) => rendering,
            Err(_) => {
                let recent = self
                    .lock_cache()
                    .get(&key)
                    .filter(|c| c.rendered_at.elapsed() < STALE_FOR)
                    .cloned();
                if let Some(recent) = recent {
                    crate::metrics::record_render(crate::metrics::Render::Stale);
                    return Ok(recent);
                }
                self.render_lock.lock().await
            }
        };
        let previous = self.lock_cache().get(&key).cloned();
        if let Some(hit) = previous.as_ref().filter(|c| c.generation == generation) {
            crate::metrics::record_render(crate::metrics::Render::Hit);
            return Ok(hit.clone());
        }
        crate::metrics::record_render(crate::metrics::Render::Miss);
        let body = render().await?;
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
        // Bytes that did not change keep their Last-Modified.
        let last_modified = match previous {
            Some(p) if p.etag == etag => p.last_modified,
            _ => Utc::now(),
        };
        let fresh = Cached {
            generation,
            rendered_at: std::time::Instant::now(),
            body: body.into(),
            etag,
            last_modified,
        };
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, fresh.clone());
        Ok(fresh)
    }
}

/// The route table.
pub fn router(state: Arc<ServeState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route(
            "/feed.atom",
            get(|s, q, h| feed(s, q, h, Format::Atom, None)),
        )
        .route("/feed.rss", get(|s, q, h| feed(s, q, h, Format::Rss, None)))
        .route(
            "/feed.json",
            get(|s, q, h| feed(s, q, h, Format::Json, None)),
        )
        .route("/topics/{file}", get(topic_feed))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_page))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// A client must send its request head within this time, or the connection is closed: a
/// reader that trickles header bytes (slowloris) cannot hold a connection open.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A request head larger than this is refused (431) before it is parsed further. Feed
/// readers send a few hundred bytes; 16 KiB leaves room for large cookies.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// A request that takes longer than this to answer gets 408 instead of holding a task.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// After shutdown is asked for, connections get this long to finish their requests.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves on `listener` until `cancel` fires, then finishes the requests in progress.
///
/// Connections are served with hyper-util's builder rather than `axum::serve`, which has no
/// header read timeout or header size limit to set.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: Arc<ServeState>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

    let app = router(state).layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        REQUEST_TIMEOUT,
    ));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors or a connection reset before it was accepted:
                    // the listener itself is fine, so wait a moment and go on.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = cancel.cancelled() => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after shutdown; closing them");
    }
    Ok(())
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message + "\n",
    )
        .into_response()
}

fn unavailable(error: &StoreError) -> Response {
    tracing::error!("serving a feed: {error}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("the database is not available: {error}\n"),
    )
        .into_response()
}

/// Query pairs, percent-decoded, in order.
fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn topic_feed(
    State(state): State<Arc<ServeState>>,
    Path(file): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some((topic, ext)) = file.rsplit_once('.') else {
        return (
            StatusCode::NOT_FOUND,
            "use /topics/<topic>.atom, .rss or .json\n",
        )
            .into_response();
    };
    let Ok(format) = ext.parse::<Format>() else {
        return (
            StatusCode::NOT_FOUND,
            "use /topics/<topic>.atom, .rss or .json\n",
        )
            .into_response();
    };
    if !state.topics().iter().any(|t| t.id == topic) {
        return (StatusCode::NOT_FOUND, format!("no topic `{topic}`\n")).into_response();
    }
    feed(
        State(state),
        RawQuery(raw),
        headers,
        format,
        Some(topic.to_string()),
    )
    .await
}

async fn feed(
    State(state): State<Arc<ServeState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    format: Format,
    path_topic: Option<String>,
) -> Response {
    let params = pairs(raw.as_deref());
    let mut query = match parse_feed_query(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &state.topics(),
    ) {
        Ok(q) => q,
        Err(e @ QueryError::UnknownTopic { .. }) => {
            return (StatusCode::NOT_FOUND, format!("{e}\n")).into_response();
        }
        Err(e) => return bad_request(e.to_string()),
    };
    let path = match &path_topic {
        Some(topic) => {
            query.topic = topic.clone();
            format!("/topics/{topic}.{}", format.extension())
        }
        None => format!("/feed.{}", format.extension()),
    };
    let self_url = match raw.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => format!("{}{path}?{r}", state.settings.base_url),
        None => format!("{}{path}", state.settings.base_url),
    };
    let key = self_url.clone();
    let threshold = state
        .topics()
        .iter()
        .find(|t| t.id == query.topic)
        .map(|t| t.threshold)
        .unwrap_or(0.5);
    let render_state = state.clone();
    let cached = state
        .cached(key, || async move {
            let meta = feed_meta(
                &render_state.settings,
                &query,
                &render_state.topics(),
                self_url,
                render_state.ttl_minutes,
            );
            let q = query.clone();
            let items: Vec<FeedItem> = match render_state
                .read(move |store| store.feed_items(&q, threshold))
                .await
            {
                Ok(items) => items,
                Err(e @ StoreError::Search { .. }) => {
                    return Err(bad_request(format!("query parameter `q`: {e}")));
                }
                Err(e) => return Err(unavailable(&e)),
            };
            tokio::task::spawn_blocking(move || render::render(format, &meta, &items))
                .await
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())?
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
        })
        .await;
    match cached {
        Ok(cached) => conditional(&headers, cached, format.content_type()),
        Err(response) => response,
    }
}

/// 304 when the reader's validators match, else the body with ETag and Last-Modified.
fn conditional(headers: &HeaderMap, cached: Cached, content_type: &'static str) -> Response {
    let last_modified = cached
        .last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&cached.etag) {
        response_headers.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&last_modified) {
        response_headers.insert(header::LAST_MODIFIED, v);
    }
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // RFC 9110 §13.1.2: If-None-Match wins over If-Modified-Since when both are sent.
    let not_modified = match headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        Some(tags) => tags
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == cached.etag || t == "*"),
        None => headers
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .is_some_and(|since| cached.last_modified.timestamp() <= since.timestamp()),
    };
    if not_modified {
        return (StatusCode::NOT_MODIFIED, response_headers).into_response();
    }
    (StatusCode::OK, response_headers, cached.body).into_response()
}

/// The Prometheus exposition: counters from the running daemon, figures from the database.
async fn metrics_page(State(state): State<Arc<ServeState>>) -> Response {
    let Some(handle) = state.metrics.clone() else {
        return (StatusCode::NOT_FOUND, "metrics are off in this process\n").into_response();
    };
    match state.read(|store| store.stats()).await {
        Ok(stats) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            crate::metrics::render(&handle, &stats),
        )
            .into_response(),
        Err(e) => unavailable(&e),
    }
}

async fn index(State(state): State<Arc<ServeState>>, headers: HeaderMap) -> Response {
    let page_state = state.clone();
    let cached = state
        .cached("/".to_string(), || async move {
            let query = parse_feed_query([], &page_state.topics())
                .map_err(|e| bad_request(e.to_string()))?;
            let threshold = page_state
                .topics()
                .iter()
                .find(|t| t.id == query.topic)
                .map(|t| t.threshold)
                .unwrap_or(0.5);
            let q = query.clone();
            let items = page_state
                .read(move |store| store.feed_items(&q, threshold))
                .await
                .map_err(|e| unavailable(&e))?;
            Ok(index_html(&page_state.settings, &page_state.topics(), &query, &items).into_bytes())
        })
        .await;
    match cached {
        Ok(cached) => conditional(&headers, cached, "text/html; charset=utf-8"),
        Err(response) => response,
    }
}

/// The page a person sees: the latest relevant items and the subscribe links, with
/// autodiscovery links so a reader given the site's address finds the feeds. Everything
/// from feeds is escaped; links are http(s) only.
fn index_html(
    settings: &FeedMetaConfig,
    topics: &[TopicInfo],
    query: &FeedQuery,
    items: &[FeedItem],
) -> String {
    use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
    let base = &settings.base_url;
    let mut html = String::with_capacity(16 * 1024);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    html.push_str(&format!("<title>{}</title>\n", text(&settings.title)));
    for (format, mime, label) in [
        (Format::Atom, "application/atom+xml", "Atom"),
        (Format::Rss, "application/rss+xml", "RSS"),
        (Format::Json, "application/feed+json", "JSON Feed"),
    ] {
        html.push_str(&format!(
            "<link rel=\"alternate\" type=\"{mime}\" title=\"{} ({label})\" href=\"{}/feed.{}\">\n",
            attr(&settings.title),
            attr(base),
            format.extension()
        ));
    }
    html.push_str("<style>body{font:16px/1.5 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}li{margin:.8rem 0}.meta{color:#555;font-size:.9rem}</style>\n");
    html.push_str("</head>\n<body>\n");
    html.push_str(&format!(
        "<h1>{}</h1>\n<p>{}</p>\n",
        text(&settings.title),
        text(&settings.subtitle)
    ));
    html.push_str(&format!(
        "<p>Subscribe: <a href=\"{b}/feed.atom\">Atom</a> · <a href=\"{b}/feed.rss\">RSS</a> · <a href=\"{b}/feed.json\">JSON Feed</a></p>\n",
        b = attr(base)
    ));
    if topics.len() > 1 {
        html.push_str("<p>Topics: ");
        for (i, topic) in topics.iter().enumerate() {
            if i > 0 {
                html.push_str(" · ");
            }
            html.push_str(&format!(
                "<a href=\"{}/topics/{}.atom\">{}</a>",
                attr(base),
                attr(&topic.id),
                text(&topic.name)
            ));
        }
        html.push_str("</p>\n");
    }
    html.push_str(&format!(
        "<h2>Latest ({} items, topic {})</h2>\n<ol>\n",
        items.len(),
        text(&query.topic)
    ));
    for item in items {
        html.push_str("<li>");
        match item.url.as_deref().and_then(render::safe_url) {
            Some(url) => html.push_str(&format!(
                "<a href=\"{}\">{}</a>",
                attr(&url),
                text(&item.title)
            )),
            None => html.push_str(&text(&item.title)),
        }
        let sources: Vec<&str> = item.sources.iter().map(|s| s.feed_name.as_str()).collect();
        html.push_str(&format!(
            "<div class=\"meta\">{} · {} · score {:.2}{}</div>",
            text(&sources.join(", ")),
            item.published.format("%Y-%m-%d %H:%M UTC"),
            item.score,
            if item.subtopics.is_empty() {
                String::new()
            } else {
                format!(" · {}", text(&item.subtopics.join(", ")))
            }
        ));
        html.push_str("</li>\n");
    }
    html.push_str("</ol>\n</body>\n</html>\n");
    html
}

async fn healthz(State(state): State<Arc<ServeState>>) -> Response {
    match state.read(|store| store.last_poll_at()).await {
        Ok(last_poll) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({
                "status": "ok",
                "database": "reachable",
                "last_poll": last_poll,
            })),
        )
            .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "unavailable",
                "database": e.to_string(),
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(changes: watch::Receiver<u64>) -> (Arc<ServeState>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("tigris.db")).unwrap();
        let settings = FeedMetaConfig {
            title: "t".into(),
            subtitle: "s".into(),
            base_url: "http://127.0.0.1:1".into(),
        };
        (
            ServeState::new(store, settings, Vec::new(), 60, changes, None),
            dir,
        )
    }

    async fn body(state: &Arc<ServeState>, text: &'static str) -> String {
        let cached = state
            .cached("k".into(), || async move { Ok(text.as_bytes().to_vec()) })
            .await
            .unwrap_or_else(|_| panic!("render failed"));
        String::from_utf8(cached.body.to_vec()).unwrap()
    }

    /// Starts a render of "v2" that ends when the returned sender fires; returns once it
    /// is under way.
    async fn render_slowly(
        state: &Arc<ServeState>,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<Result<axum::body::Bytes, Response>>,
    ) {
        let (started, has_started) = tokio::sync::oneshot::channel();
        let (finish, may_finish) = tokio::sync::oneshot::channel::<()>();
        let state = state.clone();
        let slow = tokio::spawn(async move {
            state
                .cached("k".into(), || async move {
                    started.send(()).unwrap();
                    may_finish.await.unwrap();
                    Ok(b"v2".to_vec())
                })
                .await
                .map(|c| c.body)
        });
        has_started.await.unwrap();
        (finish, slow)
    }

    #[tokio::test]
    async fn a_reader_gets_the_last_render_while_a_new_one_is_under_way() {
        let (changes, watched) = watch::channel(0u64);
        let (state, _dir) = state(watched);
        assert_eq!(body(&state, "v1").await, "v1");
        // Cached until the store changes.
        assert_eq!(body(&state, "other").await, "v1");
        changes.send_replace(1);
        let (finish, slow) = render_slowly(&state).await;
        // The render of generation 1 is under way: the last one is served at once.
        let at_once = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            body(&state, "never rendered"),
        )
        .await;
        assert_eq!(
            at_once.ok().as_deref(),
            Some("v1"),
            "served without waiting"
        );
        finish.send(()).unwrap();
        assert_eq!(&slow.await.unwrap().ok().unwrap()[..], b"v2");
        assert_eq!(body(&state, "other").await, "v2");
    }

    #[tokio::test]
    async fn a_render_older_than_stale_for_is_waited_for() {
        let (changes, watched) = watch::channel(0u64);
        let (state, _dir) = state(watched);
        assert_eq!(body(&state, "v1").await, "v1");
        // Made old.
        if let Some(c) = state.lock_cache().get_mut("k") {
            c.rendered_at -= STALE_FOR;
        }
        changes.send_replace(1);
        let (finish, slow) = render_slowly(&state).await;
        let waiting = {
            let state = state.clone();
            tokio::spawn(async move { body(&state, "never rendered").await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            !waiting.is_finished(),
            "an old render is not served while rendering"
        );
        finish.send(()).unwrap();
        slow.await.unwrap().ok().unwrap();
        // It waited for the render of its generation and got it.
        assert_eq!(waiting.await.unwrap(), "v2");
    }
}
