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
use crate::config::{Config, ConfigError, DEFAULT_CONFIG_PATH, LogFormat};
use crate::dedup;
use crate::fetch::Fetcher;
use crate::parse;
use crate::pipeline::{FeedReport, Pipeline, PollTotals, Refreshed};
use crate::render::Format;
use crate::serve::{ServeState, TopicInfo, feed_meta, parse_feed_query};
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
    /// List the feeds with their health, or manage them (add, remove, enable, disable).
    Feeds {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<FeedsAction>,
    },
    /// Import feeds from an OPML file (any reader's export), or export them as OPML 2.0.
    Opml {
        #[command(subcommand)]
        action: OpmlAction,
    },
    /// Apply `[retention]` now: remove old items (leaving tombstones so feeds do not bring
    /// them back) and old fetch history. The daemon does this daily.
    Prune {
        /// Only print what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rebuild the database file to its smallest size (SQLite `VACUUM`) and switch it to
    /// incremental auto-vacuum and 16 KiB pages (the page size only with the daemon stopped).
    /// Run it with the daemon stopped, or expect polls to wait.
    Vacuum,
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
    /// Validate the config file and its topics, and print the feed count.
    CheckConfig,
    /// List stories (the same news told by several outlets) with how many items and outlets.
    Stories {
        /// Only stories with an item published at or after this RFC 3339 time (default: the
        /// last 24 hours).
        #[arg(long)]
        since: Option<String>,
        /// At most this many stories.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON lines instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print (or write to a file) the merged feed, with the same filters as the server's
    /// query parameters.
    Feed {
        /// atom, rss or json.
        #[arg(long, default_value = "atom")]
        format: String,
        /// The topic (default us-iraq).
        #[arg(long)]
        topic: Option<String>,
        /// Items scoring at least this (default: the topic's threshold).
        #[arg(long)]
        min_score: Option<String>,
        /// Only items carried by this feed (its name, URL or id).
        #[arg(long)]
        source: Option<String>,
        /// Only items published at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Full-text filter.
        #[arg(long)]
        q: Option<String>,
        /// At most this many entries (default 50, at most 500).
        #[arg(long)]
        limit: Option<String>,
        /// Only items of this subtopic.
        #[arg(long)]
        subtopic: Option<String>,
        /// One entry per item rather than one per story.
        #[arg(long)]
        all_items: bool,
        /// Write to this file (atomically) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Score items for a topic: JSON lines `{"id", "title", "summary"}` in (summary may hold
    /// HTML), one JSON line per item out with `id`, `topic`, `score`, `relevant`, `subtopics`,
    /// `evidence`.
    Classify {
        /// The topic id (default: every topic).
        #[arg(long)]
        topic: Option<String>,
        /// Read one plain text (the first line is the title) instead of JSON lines.
        #[arg(long)]
        text: bool,
        /// The input file, or `-` for standard input.
        #[arg(default_value = "-")]
        input: String,
    },
    /// Rescore stored items whose classification is missing or came from another version of
    /// the classifier or of the topic files. `tigris run` does this at start too.
    Reclassify,
    /// Fit a topic's learned weights on a labeled set and write its model file; prints
    /// precision and recall on the held-out split.
    Train {
        /// The topic id.
        #[arg(long, default_value = "us-iraq")]
        topic: String,
        /// The labeled set (JSON lines with `id`, `title`, `summary`, `relevant`, `kind`,
        /// `subtopics`, `split`).
        #[arg(long, default_value = "tests/data/classify/labeled.jsonl")]
        data: PathBuf,
        /// Where to write the model (default: the `model` the topic file names).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `tigris feeds …`: changes to the database's feed list. The config's `[[feeds]]` stay the
/// source of truth for the feeds they list; these act on the others.
#[derive(Debug, Subcommand)]
pub enum FeedsAction {
    /// Add a feed; a running daemon polls it within a minute (at once after SIGHUP).
    Add {
        /// The feed's http(s) URL.
        url: String,
        /// A name to show for it.
        #[arg(long)]
        name: Option<String>,
        /// Its cron schedule (default: `[schedule] default`).
        #[arg(long)]
        schedule: Option<String>,
    },
    /// Remove a feed (by id or URL) with its fetch history and the items only it carried.
    Remove { feed: String },
    /// Resume polling a disabled feed (by id or URL).
    Enable { feed: String },
    /// Stop polling a feed (by id or URL); its items stay.
    Disable { feed: String },
}

/// `tigris opml …`.
#[derive(Debug, Subcommand)]
pub enum OpmlAction {
    /// Add every feed an OPML file lists (folders are flattened); feeds already present are
    /// skipped.
    Import { file: PathBuf },
    /// Write the enabled feeds as OPML 2.0.
    Export {
        /// Write to this file (atomically) instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

mod manage;

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    // The daemon logs in the format its config asks for, so it starts logging once the
    // config is read; a config it cannot read is reported by `main`.
    if !matches!(cli.command, Command::Run) {
        init_logging("warn", LogFormat::Text);
    }
    match cli.command {
        Command::CheckConfig => {
            let config = Config::load(&cli.config)?;
            let classifier = Classifier::load(&config.classify.topics_dir)?;
            let topics: Vec<&str> = classifier.topics().iter().map(|t| t.id.as_str()).collect();
            println!(
                "{}: ok, {} feeds, topics {}, database {}",
                config.path.display(),
                config.feeds.len(),
                topics.join(", "),
                config.storage.database.display()
            );
            Ok(0)
        }
        Command::Feed {
            format,
            topic,
            min_score,
            source,
            since,
            q,
            limit,
            subtopic,
            all_items,
            output,
        } => {
            let stories = all_items.then(|| "false".to_string());
            let params: Vec<(&str, String)> = [
                ("topic", topic),
                ("min_score", min_score),
                ("source", source),
                ("since", since),
                ("q", q),
                ("limit", limit),
                ("subtopic", subtopic),
                ("stories", stories),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect();
            feed(&cli.config, &format, &params, output.as_deref())
        }
        Command::Stories { since, limit, json } => {
            stories(&cli.config, since.as_deref(), limit, json)
        }
        Command::Classify { topic, text, input } => {
            classify(&cli.config, topic.as_deref(), text, &input)
        }
        Command::Reclassify => runtime()?.block_on(reclassify(&cli.config)),
        Command::Train { topic, data, out } => train(&cli.config, &topic, &data, out),
        Command::Run => runtime()?.block_on(run_daemon(&cli.config)),
        Command::Poll => runtime()?.block_on(poll(&cli.config)),
        Command::Feeds { json, action: None } => feeds(&cli.config, json),
        Command::Feeds {
            action: Some(action),
            ..
        } => manage::feeds(&cli.config, action),
        Command::Opml { action } => manage::opml(&cli.config, action),
        Command::Prune { dry_run } => manage::prune(&cli.config, dry_run),
        Command::Vacuum => manage::vacuum(&cli.config),
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

/// Logs on stderr: human-readable lines (colours only on a terminal, so journald and log
/// files get plain text), or one JSON object per line for log shippers. RUST_LOG overrides
/// the default level.
fn init_logging(default_level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
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

/// The topics as the server and the feed writers need them.
fn topic_infos(classifier: &Classifier) -> Vec<TopicInfo> {
    classifier
        .topics()
        .iter()
        .map(|t| TopicInfo {
            id: t.id.clone(),
            name: t.name.clone(),
            threshold: t.threshold,
            subtopics: t.subtopics.iter().map(|s| s.name.clone()).collect(),
        })
        .collect()
}

/// The merged feed's `<ttl>`: the default schedule's interval, in minutes.
fn ttl_minutes(config: &Config) -> u32 {
    config
        .schedule
        .default
        .typical_interval(chrono::Utc::now())
        .map(|d| d.num_minutes().max(1) as u32)
        .unwrap_or(60)
}

async fn run_daemon(config_path: &std::path::Path) -> Result<i32> {
    let config = Config::load(config_path)?;
    init_logging("info", config.log.format);
    let metrics = crate::metrics::install();
    let classifier = Classifier::load(&config.classify.topics_dir)?;
    let topics = topic_infos(&classifier);
    let store = open_store(&config)?;
    // Bind before anything runs, so a taken port stops tigris at once with a clear message.
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("`server.listen`: cannot listen on {}", config.server.listen))?;
    let address = listener.local_addr().context("listener address")?;
    let cancel = shutdown_on_signals()?;
    tracing::info!(
        feeds = config.feeds.len(),
        database = %config.storage.database.display(),
        "tigris {} started",
        env!("CARGO_PKG_VERSION")
    );
    let pipeline = Pipeline::new(&config, store, classifier)?;
    let rescored = pipeline.reclassify().await?;
    if rescored > 0 {
        tracing::info!(items = rescored, "rescored items for changed topics");
    }
    let storied = pipeline.assign_missing_stories().await?;
    if storied > 0 {
        tracing::info!(items = storied, "put earlier items into stories");
    }

    let reader = Store::open(&config.storage.database)?;
    let mut settings = config.feed.clone();
    if settings.base_url == format!("http://{}", config.server.listen) {
        // No base URL configured: links name the address actually bound (port 0 included).
        settings.base_url = format!("http://{address}");
    }
    let state = ServeState::new(
        reader,
        settings,
        topics.clone(),
        ttl_minutes(&config),
        pipeline.changes(),
        metrics,
    );
    let server = tokio::spawn(crate::serve::run(listener, state.clone(), cancel.clone()));
    tracing::info!("listening on http://{address}");

    let writer = config.output.dir.clone().map(|dir| {
        tokio::spawn(write_output_on_change(
            config.clone(),
            dir,
            topics.clone(),
            pipeline.changes(),
            cancel.clone(),
        ))
    });
    let (current, _) = tokio::sync::watch::channel(config.clone());
    let current = std::sync::Arc::new(current);
    tokio::spawn(reload_on_hangup(
        config_path.to_path_buf(),
        current.clone(),
        pipeline.clone(),
        state,
        cancel.clone(),
    )?);
    let maintenance = tokio::spawn(prune_daily(
        pipeline.clone(),
        current.subscribe(),
        cancel.clone(),
    ));
    let watchdog = tokio::spawn(crate::service::watchdog(pipeline.clone(), cancel.clone()));
    crate::service::ready(&format!("serving on http://{address}"));
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            cancel.cancelled().await;
            crate::service::stopping();
        });
    }

    let result = pipeline.run(cancel.clone()).await;
    cancel.cancel();
    match server.await {
        Ok(Err(e)) => tracing::error!("server stopped with an error: {e}"),
        Err(e) => tracing::error!("server task failed: {e}"),
        Ok(Ok(())) => {}
    }
    if let Some(writer) = writer {
        let _ = writer.await;
    }
    let _ = maintenance.await;
    let _ = watchdog.await;
    result?;
    Ok(0)
}

/// Reloads the config on each SIGHUP: feed list, schedules and topics take effect at once. A
/// config or topic file that does not load is refused with its error logged, and the running
/// config stays in force. Keys that need a restart are named in a warning.
fn reload_on_hangup(
    config_path: PathBuf,
    current: std::sync::Arc<tokio::sync::watch::Sender<Config>>,
    pipeline: Pipeline,
    state: std::sync::Arc<ServeState>,
    cancel: CancellationToken,
) -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    Ok(async move {
        loop {
            tokio::select! {
                received = hangup.recv() => if received.is_none() { return },
                () = cancel.cancelled() => return,
            }
            crate::service::reloading();
            let loaded = Config::load(&config_path)
                .map_err(anyhow::Error::from)
                .and_then(|config| {
                    let classifier = Classifier::load(&config.classify.topics_dir)?;
                    Ok((config, classifier))
                });
            let (config, classifier) = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    tracing::error!(
                        "config reload refused, the running config stays in force: {e:#}"
                    );
                    crate::service::ready("config reload refused");
                    continue;
                }
            };
            let needs_restart = restart_keys(&current.borrow(), &config);
            if !needs_restart.is_empty() {
                tracing::warn!(
                    "config reload: {} changed; that takes effect at the next restart",
                    needs_restart.join(", ")
                );
            }
            let topics = topic_infos(&classifier);
            match pipeline.reload(&config, classifier).await {
                Ok(reloaded) => {
                    state.set_topics(topics);
                    tracing::info!(
                        feeds = config.feeds.len(),
                        added = reloaded.feeds_added,
                        disabled = reloaded.feeds_disabled,
                        rescored = reloaded.rescored,
                        "config reloaded from {}",
                        config_path.display()
                    );
                    current.send_replace(config);
                }
                Err(e) => tracing::error!("config reload failed: {e}"),
            }
            crate::service::ready("config reloaded");
        }
    })
}

/// The settings a reload cannot change in a running daemon.
fn restart_keys(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.storage.database != new.storage.database {
        keys.push("storage.database");
    }
    if old.server.listen != new.server.listen {
        keys.push("server.listen");
    }
    if format!("{:?}", old.fetch) != format!("{:?}", new.fetch) {
        keys.push("[fetch]");
    }
    if old.schedule.max_concurrent_fetches != new.schedule.max_concurrent_fetches {
        keys.push("schedule.max_concurrent_fetches");
    }
    if old.output.dir != new.output.dir {
        keys.push("output.dir");
    }
    if old.log.format != new.log.format {
        keys.push("log.format");
    }
    if format!("{:?}", old.feed) != format!("{:?}", new.feed) {
        keys.push("[feed]");
    }
    keys
}

/// Applies retention once a day (the first time a day after the last run recorded in the
/// database, so restarts do not repeat it), with the `[retention]` of the config in force.
async fn prune_daily(
    pipeline: Pipeline,
    config: tokio::sync::watch::Receiver<Config>,
    cancel: CancellationToken,
) {
    const DAY: chrono::TimeDelta = chrono::TimeDelta::days(1);
    loop {
        let next = match pipeline.last_prune().await {
            Ok(Some(last)) => last + DAY,
            // Never pruned: not in the first hour, which belongs to the first polls.
            Ok(None) => chrono::Utc::now() + chrono::TimeDelta::hours(1),
            Err(e) => {
                tracing::error!("retention: {e}");
                chrono::Utc::now() + chrono::TimeDelta::hours(1)
            }
        };
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = cancel.cancelled() => return,
        }
        let retention = config.borrow().retention.clone();
        if let Err(e) = pipeline.prune(retention, false).await {
            tracing::error!("retention: prune failed: {e}");
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
                () = cancel.cancelled() => return,
            }
        }
    }
}

/// Writes the static feeds at start and after every change, until cancelled. A failure is
/// logged and retried at the next change; it never stops the daemon.
async fn write_output_on_change(
    config: Config,
    dir: PathBuf,
    topics: Vec<TopicInfo>,
    mut changes: tokio::sync::watch::Receiver<u64>,
    cancel: CancellationToken,
) {
    loop {
        let (config, dir, topics) = (config.clone(), dir.clone(), topics.clone());
        let written =
            tokio::task::spawn_blocking(move || write_output(&config, &dir, &topics)).await;
        match written {
            Ok(Ok(paths)) => tracing::info!(files = paths.len(), "static feeds written"),
            Ok(Err(e)) => tracing::error!("static output: {e:#}"),
            Err(e) => tracing::error!("static output task failed: {e}"),
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = cancel.cancelled() => return,
        }
    }
}

fn write_output(
    config: &Config,
    dir: &std::path::Path,
    topics: &[TopicInfo],
) -> Result<Vec<PathBuf>> {
    let store = Store::open(&config.storage.database)?;
    let query = parse_feed_query([], topics)?;
    Ok(crate::output::write_feeds(
        dir,
        &store,
        &config.feed,
        topics,
        &query,
        ttl_minutes(config),
    )?)
}

fn feed(
    config_path: &std::path::Path,
    format: &str,
    params: &[(&str, String)],
    output: Option<&std::path::Path>,
) -> Result<i32> {
    let format: Format = format
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--format: {e}"))?;
    let config = Config::load(config_path)?;
    let classifier = Classifier::load(&config.classify.topics_dir)?;
    let topics = topic_infos(&classifier);
    let query =
        parse_feed_query(params.iter().map(|(k, v)| (*k, v.as_str())), &topics).map_err(|e| {
            anyhow::anyhow!(
                "{}",
                e.to_string()
                    .replace("query parameter `", "--")
                    .replace('`', "")
            )
        })?;
    let store = Store::open(&config.storage.database)?;
    let threshold = topics
        .iter()
        .find(|t| t.id == query.topic)
        .map(|t| t.threshold)
        .unwrap_or(0.5);
    let items = store.feed_items(&query, threshold)?;
    let meta = feed_meta(
        &config.feed,
        &query,
        &topics,
        format!("{}/feed.{}", config.feed.base_url, format.extension()),
        ttl_minutes(&config),
    );
    let bytes = crate::render::render(format, &meta, &items)?;
    match output {
        Some(path) => crate::output::write_atomically(path, &bytes)?,
        None => std::io::stdout().lock().write_all(&bytes)?,
    }
    Ok(0)
}

async fn poll(config_path: &std::path::Path) -> Result<i32> {
    let config = Config::load(config_path)?;
    let classifier = Classifier::load(&config.classify.topics_dir)?;
    let topics = topic_infos(&classifier);
    let store = open_store(&config)?;
    let feeds = store.enabled_feeds()?;
    let cancel = shutdown_on_signals()?;
    let pipeline = Pipeline::new(&config, store, classifier)?;
    pipeline.assign_missing_stories().await?;

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
    let changed = totals.items.new + totals.items.updated + totals.items.duplicate > 0;
    if let (true, Some(dir)) = (changed, &config.output.dir) {
        write_output(&config, dir, &topics)?;
    }
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
        "{:<9} {:<6} {:>5} {:>6}  {:<20}  {:<20}  NAME",
        "STATE", "ORIGIN", "FAILS", "ITEMS", "LAST SUCCESS", "NEXT CHECK"
    )?;
    for feed in &feeds {
        writeln!(
            out,
            "{:<9} {:<6} {:>5} {:>6}  {:<20}  {:<20}  {}",
            feed.state,
            feed.origin,
            feed.consecutive_failures,
            feed.items,
            short_time(feed.last_success_at.as_deref()),
            short_time(feed.next_check_at.as_deref()),
            feed.name
        )?;
        if feed.name != feed.url {
            writeln!(out, "{:>73}{}", "", feed.url)?;
        }
        if let Some(error) = &feed.last_error {
            writeln!(out, "{:>73}last error: {error}", "")?;
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
            let fetched = fetcher.fetch_url(&url).await?;
            match fetched.body {
                Some(body) => (body, Some(fetched.final_url), fetched.content_type),
                None => anyhow::bail!("{url}: unexpected 304 Not Modified"),
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
    let classifier = Classifier::load(&config.classify.topics_dir)?;
    let classified = classifier.classify_entries(dedup::key_entries(parsed.entries));
    // With a database, say which stored story each entry would join.
    let mut store = if config.storage.database.exists() {
        Some(Store::open(&config.storage.database)?)
    } else {
        None
    };
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
            // The store's rows hold the evidence as JSON text; the same verdicts as values.
            "classification": classifier.classify(&e.title, &e.text),
            "story": match &mut store {
                Some(store) => store
                    .story_for(&item.print, e.published.unwrap_or_else(chrono::Utc::now))?
                    .map(|(id, title, similarity)| serde_json::json!({
                        "id": id, "title": title, "similarity": similarity,
                    })),
                None => None,
            },
        });
        writeln!(out, "{line}")?;
    }
    Ok(0)
}

async fn reclassify(config_path: &std::path::Path) -> Result<i32> {
    let config = Config::load(config_path)?;
    let classifier = Classifier::load(&config.classify.topics_dir)?;
    let store = Store::open(&config.storage.database)?;
    let pipeline = Pipeline::new(&config, store, classifier)?;
    let started = Instant::now();
    let rescored = pipeline.reclassify().await?;
    pipeline.checkpoint().await?;
    println!(
        "rescored {rescored} items in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

/// One line of `tigris classify` input.
#[derive(serde::Deserialize)]
struct ClassifyInput {
    id: serde_json::Value,
    title: String,
    #[serde(default)]
    summary: String,
}

fn classify(
    config_path: &std::path::Path,
    topic: Option<&str>,
    plain: bool,
    input: &str,
) -> Result<i32> {
    let config = Config::load(config_path)?;
    let classifier = Classifier::load(&config.classify.topics_dir)?;
    let topics: Vec<&crate::classify::Topic> = match topic {
        Some(id) => vec![classifier.topic(id).with_context(|| {
            let known: Vec<&str> = classifier.topics().iter().map(|t| t.id.as_str()).collect();
            format!("--topic {id}: no such topic (known: {})", known.join(", "))
        })?],
        None => classifier.topics().iter().collect(),
    };
    let reader: Box<dyn std::io::BufRead> = if input == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(input).with_context(|| format!("cannot read {input}"))?;
        Box::new(std::io::BufReader::new(file))
    };
    let mut out = std::io::stdout().lock();
    let emit =
        |out: &mut dyn Write, id: &serde_json::Value, title: &str, text: &str| -> Result<()> {
            for topic in &topics {
                let c = crate::classify::classify_topic(topic, title, text);
                let line = serde_json::json!({
                    "id": id,
                    "topic": c.topic,
                    "score": c.score,
                    "relevant": c.relevant,
                    "subtopics": c.subtopics,
                    "evidence": c.evidence,
                    "classifier": c.classifier,
                });
                writeln!(out, "{line}")?;
            }
            Ok(())
        };
    if plain {
        let mut text = String::new();
        let mut reader = reader;
        reader
            .read_to_string(&mut text)
            .context("cannot read the input text")?;
        let (title, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        emit(
            &mut out,
            &serde_json::Value::Null,
            title.trim(),
            &parse::html_to_text(body),
        )?;
        return Ok(0);
    }
    let mut bad_lines = 0;
    for (index, line) in std::io::BufRead::lines(reader).enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("{input}: cannot read line {number}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ClassifyInput>(&line) {
            Ok(item) => emit(
                &mut out,
                &item.id,
                &item.title,
                &parse::html_to_text(&item.summary),
            )?,
            Err(e) => {
                bad_lines += 1;
                eprintln!("tigris: {input}:{number}: bad input line: {e}");
            }
        }
    }
    Ok(if bad_lines > 0 { 1 } else { 0 })
}

fn train(
    config_path: &std::path::Path,
    topic_id: &str,
    data: &std::path::Path,
    out: Option<PathBuf>,
) -> Result<i32> {
    use crate::classify::train::{self, TrainSettings};
    let config = Config::load(config_path)?;
    let path = config.classify.topics_dir.join(format!("{topic_id}.toml"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--topic {topic_id}: cannot read {}", path.display()))?;
    // Train from the topic file alone: its groups and rules define the features.
    let topic = crate::classify::Topic::from_toml(&path, &text)?;
    let out = out
        .or_else(|| topic.model_path.clone())
        .with_context(|| format!("{}: names no `model` file; give --out", path.display()))?;
    let items = train::read_labeled(data)?;
    let started = Instant::now();
    let model = train::train(&topic, &items, TrainSettings::default(), data)?;
    let tsv = model.to_tsv(&topic, &data.display().to_string());
    std::fs::write(&out, &tsv).with_context(|| format!("cannot write {}", out.display()))?;
    let mut trained = topic.clone();
    trained.apply_model(&out, &tsv)?;
    let heldout: Vec<_> = items.iter().filter(|i| i.split == "heldout").collect();
    println!(
        "trained `{topic_id}` on {} items in {:.2} s: {} weights written to {}",
        model.trained_on,
        started.elapsed().as_secs_f64(),
        model.weights.len() + 1,
        out.display()
    );
    println!(
        "held-out ({} items): {}",
        heldout.len(),
        train::evaluate(&trained, heldout.iter().copied())
    );
    println!(
        "keyword filter `iraq` on the same items: {}",
        train::evaluate_keyword("iraq", heldout.iter().copied())
    );
    Ok(0)
}

fn stories(
    config_path: &std::path::Path,
    since: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32> {
    let since = match since {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| anyhow::anyhow!("--since: `{text}` is not an RFC 3339 time ({e})"))?,
        None => chrono::Utc::now() - chrono::Duration::days(1),
    };
    let config = Config::load(config_path)?;
    let store = Store::open(&config.storage.database)?;
    let stories = store.stories(since, limit)?;
    let mut out = std::io::stdout().lock();
    for story in &stories {
        if json {
            writeln!(out, "{}", serde_json::to_string(story)?)?;
        } else {
            writeln!(
                out,
                "{:>3} items {:>3} outlets  {}  {}",
                story.items,
                story.outlets,
                short_time(Some(&story.last_published_at)),
                story.title
            )?;
        }
    }
    if !json {
        writeln!(out, "{} stories", stories.len())?;
    }
    Ok(0)
}
