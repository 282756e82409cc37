//! The command line: raw arguments (clap) and the commands they run. Each command loads the
//! config, opens what it needs and hands off to the pipeline or the store; printing lives
//! here, not in the stages.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::classify::Classifier;
use crate::config::{Config, ConfigError, DEFAULT_CONFIG_PATH};
use crate::dedup;
use crate::fetch::Fetcher;
use crate::model::Fetched;
use crate::parse;
use crate::pipeline::{FeedReport, Pipeline, PollTotals, Refreshed};
use crate::store::Store;

/// tigris: a news-feed aggregation daemon following US–Iraq relations.
#[derive(Debug, Parser)]
#[command(name = "tigris", version, about, long_about = None)]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, env = "TIGRIS_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every feed on its schedule until SIGTERM or SIGINT.
    Run,
    /// Poll every enabled feed once now, print a line per feed and the totals, and exit.
    Poll,
    /// List the feeds with their health.
    Feeds {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Full-text search over stored items (SQLite FTS5 syntax, or plain words).
    Search {
        /// What to look for, e.g. `"Ain al-Asad"` or `withdrawal OR transition`.
        query: String,
        /// At most this many results.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Parse one feed document (a file or an http(s) URL) and print, as JSON lines, what
    /// tigris would store for each entry.
    Inspect {
        /// A path to a feed file, or an http(s) URL.
        source: String,
    },
    /// Validate the config file and print the feed count.
    CheckConfig,
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let quiet_default = !matches!(cli.command, Command::Run);
    init_logging(if quiet_default { "warn" } else { "info" });
    match cli.command {
        Command::CheckConfig => {
            let config = Config::load(&cli.config)?;
            println!(
                "{}: ok, {} feeds, database {}",
                config.path.display(),
                config.feeds.len(),
                config.storage.database.display()
            );
            Ok(0)
        }
        Command::Run => runtime()?.block_on(run_daemon(&cli.config)),
        Command::Poll => runtime()?.block_on(poll(&cli.config)),
        Command::Feeds { json } => feeds(&cli.config, json),
        Command::Search { query, limit, json } => search(&cli.config, &query, limit, json),
        Command::Inspect { source } => runtime()?.block_on(inspect(&cli.config, &source)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Human-readable logs on stderr; RUST_LOG overrides the default level. Colours only on a
/// terminal, so journald and log files get plain text.
fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Opens the database named by the config and imports the config's feed list.
fn open_store(config: &Config) -> Result<Store> {
    let mut store = Store::open(&config.storage.database)?;
    let sync = store.sync_feeds(&config.feeds, chrono::Utc::now())?;
    if sync.added > 0 || sync.disabled > 0 {
        tracing::info!(
            added = sync.added,
            disabled = sync.disabled,
            "feed list synced from {}",
            config.path.display()
        );
    }
    Ok(store)
}

/// A token cancelled by the first SIGTERM or SIGINT.
fn shutdown_on_signals() -> Result<CancellationToken> {
    use tokio::signal::unix::{SignalKind, signal};
    let cancel = CancellationToken::new();
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let token = cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
        token.cancel();
    });
    Ok(cancel)
}

async fn run_daemon(config_path: &std::path::Path) -> Result<i32> {
    let config = Config::load(config_path)?;
    let store = open_store(&config)?;
    let cancel = shutdown_on_signals()?;
    tracing::info!(
        feeds = config.feeds.len(),
        database = %config.storage.database.display(),
        "tigris {} started",
        env!("CARGO_PKG_VERSION")
    );
    let pipeline = Pipeline::new(&config, store)?;
    pipeline.run(cancel).await?;
    Ok(0)
}

async fn poll(config_path: &std::path::Path) -> Result<i32> {
    let config = Config::load(config_path)?;
    let store = open_store(&config)?;
    let feeds = store.enabled_feeds()?;
    let cancel = shutdown_on_signals()?;
    let pipeline = Pipeline::new(&config, store)?;

    let progress = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(feeds.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let started = Instant::now();
    let totals = pipeline
        .poll_once(feeds, &cancel, |report| {
            progress.suspend(|| println!("{}", report_line(report)));
            progress.inc(1);
        })
        .await;
    progress.finish_and_clear();
    pipeline.checkpoint().await?;
    println!("{}", totals_line(&totals, started.elapsed()));
    if cancel.is_cancelled() {
        eprintln!("tigris: poll interrupted; what finished is stored");
    }
    Ok(0)
}

fn report_line(report: &FeedReport) -> String {
    let name = report.feed.display_name();
    let status = report
        .http_status
        .map(|s| s.to_string())
        .unwrap_or_else(|| "---".into());
    let ms = report.duration.as_millis();
    match &report.result {
        Ok(Refreshed::Stored(o)) => format!(
            "ok      {name}: {} new, {} updated, {} unchanged, {} duplicate (HTTP {status}, {} bytes, {ms} ms)",
            o.new, o.updated, o.unchanged, o.duplicate, report.bytes
        ),
        Ok(Refreshed::NotModified) => {
            format!("ok      {name}: not modified (HTTP {status}, {ms} ms)")
        }
        Ok(Refreshed::UnchangedBody) => format!(
            "ok      {name}: body unchanged (HTTP {status}, {} bytes, {ms} ms)",
            report.bytes
        ),
        Err(e) => format!("FAILED  {name}: {e} ({ms} ms)"),
    }
}

fn totals_line(totals: &PollTotals, elapsed: std::time::Duration) -> String {
    format!(
        "polled {} feeds in {:.2} s: {} new, {} updated, {} unchanged, {} duplicate; {} not modified, {} failed",
        totals.feeds,
        elapsed.as_secs_f64(),
        totals.items.new,
        totals.items.updated,
        totals.items.unchanged,
        totals.items.duplicate,
        totals.not_modified,
        totals.failed
    )
}

fn feeds(config_path: &std::path::Path, json: bool) -> Result<i32> {
    let config = Config::load(config_path)?;
    let store = open_store(&config)?;
    let feeds = store.feed_health()?;
    let mut out = std::io::stdout().lock();
    if json {
        for feed in &feeds {
            writeln!(out, "{}", serde_json::to_string(feed)?)?;
        }
        return Ok(0);
    }
    writeln!(
        out,
        "{:<9} {:>5} {:>6}  {:<20}  {:<20}  NAME",
        "STATE", "FAILS", "ITEMS", "LAST SUCCESS", "NEXT CHECK"
    )?;
    for feed in &feeds {
        writeln!(
            out,
            "{:<9} {:>5} {:>6}  {:<20}  {:<20}  {}",
            feed.state,
            feed.consecutive_failures,
            feed.items,
            short_time(feed.last_success_at.as_deref()),
            short_time(feed.next_check_at.as_deref()),
            feed.name
        )?;
        if feed.name != feed.url {
            writeln!(out, "{:>66}{}", "", feed.url)?;
        }
        if let Some(error) = &feed.last_error {
            writeln!(out, "{:>66}last error: {error}", "")?;
        }
    }
    Ok(0)
}

/// `2026-11-23T14:00:00.000Z` → `2026-11-23 14:00:00`.
fn short_time(t: Option<&str>) -> String {
    match t {
        Some(t) => t.get(..19).unwrap_or(t).replace('T', " "),
        None => "-".into(),
    }
}

fn search(config_path: &std::path::Path, query: &str, limit: usize, json: bool) -> Result<i32> {
    let config = Config::load(config_path)?;
    let store = Store::open(&config.storage.database)?;
    let hits = store.search(query, limit)?;
    let mut out = std::io::stdout().lock();
    for hit in &hits {
        if json {
            writeln!(out, "{}", serde_json::to_string(hit)?)?;
        } else {
            writeln!(
                out,
                "{}  {}\n    {}\n    {}",
                short_time(Some(&hit.published_at)),
                hit.title,
                hit.url.as_deref().unwrap_or("(no link)"),
                hit.snippet
            )?;
        }
    }
    if !json {
        writeln!(out, "{} results", hits.len())?;
    }
    Ok(0)
}

async fn inspect(config_path: &std::path::Path, source: &str) -> Result<i32> {
    // inspect works without a config file; when there is one, its fetch settings apply.
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(ConfigError::Read { .. }) => Config::from_toml(config_path, "")?,
        Err(e) => return Err(e.into()),
    };
    let (body, base, content_type) = match Url::parse(source) {
        Ok(url) if url.scheme() == "http" || url.scheme() == "https" => {
            let fetcher = Fetcher::new(&config.fetch)?;
            match fetcher.fetch_url(&url).await? {
                Fetched::Body(b) => (b.body, Some(b.final_url), b.content_type),
                Fetched::NotModified { .. } => anyhow::bail!("{url}: unexpected 304 Not Modified"),
            }
        }
        _ => {
            let path = std::path::Path::new(source);
            let body = std::fs::read(path).with_context(|| format!("cannot read {source}"))?;
            let base = std::fs::canonicalize(path)
                .ok()
                .and_then(|p| Url::from_file_path(p).ok());
            (body, base, None)
        }
    };
    let parsed = parse::parse_feed(&body, base.as_ref(), source, content_type.as_deref())?;
    let classified = Classifier::new().classify_entries(dedup::key_entries(parsed.entries));
    let mut out = std::io::stdout().lock();
    for item in &classified {
        let k = &item.keyed;
        let e = &k.entry;
        let line = serde_json::json!({
            "id": k.entry_key,
            "guid": e.guid,
            "url": e.url,
            "canonical_url": k.canonical_url,
            "title": e.title,
            "author": e.author,
            "published": e.published,
            "updated": e.updated,
            "categories": e.categories,
            "text": e.text,
            "classification": item.classifications,
        });
        writeln!(out, "{line}")?;
    }
    Ok(0)
}
