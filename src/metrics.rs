//! Metrics: the Prometheus exposition served at `/metrics`. Counters and histograms are
//! recorded where things happen (a fetch ends, a render is served from cache or not, a due
//! feed starts late) through the `metrics` facade; figures that live in the database (feeds
//! by state, relevant items, database size) are read from `store` at scrape time.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::pipeline::{FeedReport, PipelineError, Refreshed};
use crate::store::StoreStats;

/// Fetches by outcome: `ok`, `not_modified`, `unchanged_body`, `error`.
pub const FETCHES: &str = "tigris_fetches_total";
/// How long a feed's refresh took (fetch, parse, classify, store), in seconds.
pub const FETCH_DURATION: &str = "tigris_fetch_duration_seconds";
/// Items stored, by kind: `new`, `updated`, `duplicate`.
pub const ITEMS: &str = "tigris_items_total";
/// How late a due feed's refresh started, in seconds.
pub const POLL_LAG: &str = "tigris_poll_lag_seconds";
/// Renders of the merged feed: `hit` (served from the cache) or `miss` (rendered).
pub const RENDER_CACHE: &str = "tigris_render_cache_total";
/// Items removed by retention.
pub const PRUNED: &str = "tigris_pruned_items_total";
/// Feeds by health state (database).
pub const FEEDS: &str = "tigris_feeds";
/// Items relevant to each topic (database).
pub const RELEVANT: &str = "tigris_relevant_items";
/// Items stored (database).
pub const STORED: &str = "tigris_stored_items";
/// The database file and its write-ahead log, in bytes.
pub const DATABASE_BYTES: &str = "tigris_database_bytes";

/// The feed states `tigris_feeds` always reports, so a state that empties drops to 0.
const FEED_STATES: [&str; 6] = ["ok", "failing", "dead", "gone", "new", "disabled"];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls return the same handle). `None`
/// if another recorder was installed first, in which case `/metrics` says so.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(FETCH_DURATION.to_string()),
                    &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(POLL_LAG.to_string()),
                        &[0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0],
                    )
                });
            let handle = builder.and_then(|b| b.install_recorder());
            match handle {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("metrics are off: {e}");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(FETCHES, "Feed fetches by outcome.");
    describe_histogram!(
        FETCH_DURATION,
        Unit::Seconds,
        "Time to refresh one feed: fetch, parse, classify, store."
    );
    describe_counter!(ITEMS, "Items stored, by kind (new, updated, duplicate).");
    describe_histogram!(
        POLL_LAG,
        Unit::Seconds,
        "How late a due feed's refresh started."
    );
    describe_counter!(
        RENDER_CACHE,
        "Merged-feed requests served from the render cache (hit) or rendered (miss)."
    );
    describe_counter!(PRUNED, "Items removed by retention.");
    describe_gauge!(FEEDS, "Feeds by health state.");
    describe_gauge!(RELEVANT, "Stored items relevant to each topic.");
    describe_gauge!(STORED, "Stored items.");
    describe_gauge!(
        DATABASE_BYTES,
        Unit::Bytes,
        "The database file and its WAL."
    );
    metrics::gauge!("tigris_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Records one feed's refresh.
pub fn record_fetch(report: &FeedReport) {
    let outcome = match &report.result {
        Ok(Refreshed::Stored(_)) => "ok",
        Ok(Refreshed::NotModified) => "not_modified",
        Ok(Refreshed::UnchangedBody) => "unchanged_body",
        Err(PipelineError::Fetch(_)) => "fetch_error",
        Err(PipelineError::Parse(_)) => "parse_error",
        Err(_) => "error",
    };
    metrics::counter!(FETCHES, "outcome" => outcome).increment(1);
    metrics::histogram!(FETCH_DURATION).record(report.duration.as_secs_f64());
    if let Ok(Refreshed::Stored(stored)) = &report.result {
        metrics::counter!(ITEMS, "kind" => "new").increment(stored.new);
        metrics::counter!(ITEMS, "kind" => "updated").increment(stored.updated);
        metrics::counter!(ITEMS, "kind" => "duplicate").increment(stored.duplicate);
    }
}

/// Records how late a due feed's refresh started.
pub fn record_poll_lag(seconds: f64) {
    metrics::histogram!(POLL_LAG).record(seconds.max(0.0));
}

/// Records a merged-feed request answered from the cache or by a render.
/// How a merged-feed request was answered.
#[derive(Debug, Clone, Copy)]
pub enum Render {
    /// From the render cache, current.
    Hit,
    /// From the render cache, a render of the last seconds, while a new one was under way.
    Stale,
    /// Rendered.
    Miss,
}

pub fn record_render(how: Render) {
    let result = match how {
        Render::Hit => "hit",
        Render::Stale => "stale",
        Render::Miss => "miss",
    };
    metrics::counter!(RENDER_CACHE, "result" => result).increment(1);
}

/// Records items removed by retention.
pub fn record_pruned(items: usize) {
    metrics::counter!(PRUNED).increment(items as u64);
}

/// The exposition text, with the database's figures as of now.
pub fn render(handle: &PrometheusHandle, stats: &StoreStats) -> String {
    for state in FEED_STATES {
        let count = stats
            .feeds_by_state
            .iter()
            .find(|(s, _)| s == state)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        metrics::gauge!(FEEDS, "state" => state).set(count as f64);
    }
    // A topic that no longer has relevant items (or was removed by a reload) drops to 0
    // rather than keeping its last figure.
    static REPORTED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut reported = REPORTED.lock().unwrap_or_else(|p| p.into_inner());
    for topic in reported.iter() {
        if !stats.relevant_by_topic.iter().any(|(t, _)| t == topic) {
            metrics::gauge!(RELEVANT, "topic" => topic.clone()).set(0.0);
        }
    }
    for (topic, count) in &stats.relevant_by_topic {
        metrics::gauge!(RELEVANT, "topic" => topic.clone()).set(*count as f64);
        if !reported.contains(topic) {
            reported.push(topic.clone());
        }
    }
    metrics::gauge!(STORED).set(stats.items as f64);
    metrics::gauge!(DATABASE_BYTES).set(stats.database_bytes as f64);
    handle.render()
}
