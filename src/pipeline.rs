//! Pipeline: the one place that orders the stages. [`Pipeline::refresh_feed`] reads top to
//! bottom: fetch, then parse, then dedup, then classify, then store. [`Pipeline::poll_once`]
//! refreshes a set of feeds with bounded concurrency (`tigris poll`); [`Pipeline::run`] is the
//! daemon's scheduler loop (`tigris run`). Both stop on a cancellation token: no new fetches,
//! in-flight ones get a grace period, and every store transaction either commits or never
//! starts.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::classify::Classifier;
use crate::config::{Config, RetentionConfig};
use crate::dedup;
use crate::fetch::{FetchError, Fetcher};
use crate::model::{FeedSource, Fetched, StoreOutcome};
use crate::parse::{self, ParseError};
use crate::schedule::{self, CheckOutcome, CronSchedule, FeedState};
use crate::store::{FetchRecord, PRUNE_TASK, PolledFeed, PrunePlan, Store, StoreError};

/// Why refreshing one feed failed. A failure is recorded against its feed; it never stops
/// the poll of the others.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stage's blocking task panicked (a bug); the feed is recorded as failed.
    #[error("{url}: internal error: {reason}")]
    Internal { url: String, reason: String },
}

/// How a feed's refresh ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// A document was parsed and its entries stored.
    Stored(StoreOutcome),
    /// The server answered 304 Not Modified.
    NotModified,
    /// The body was byte-for-byte the last one parsed; no parse was needed.
    UnchangedBody,
}

/// What refreshing one feed did, for the poll summary and the logs.
#[derive(Debug)]
pub struct FeedReport {
    pub feed: FeedSource,
    pub result: Result<Refreshed, PipelineError>,
    pub http_status: Option<u16>,
    pub bytes: u64,
    pub duration: Duration,
}

/// What the blocking half of a refresh leaves to do: store a poll that needed no parse (a
/// 304, or the same body as last time), or a parsed one.
enum Processed {
    Unchanged(FetchRecord, Refreshed),
    ToStore(Box<PolledFeed>),
}

/// Totals over a poll.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollTotals {
    pub feeds: u64,
    pub items: StoreOutcome,
    pub not_modified: u64,
    pub failed: u64,
}

impl PollTotals {
    pub fn add(&mut self, report: &FeedReport) {
        self.feeds += 1;
        match &report.result {
            Ok(Refreshed::Stored(outcome)) => self.items.add(*outcome),
            Ok(Refreshed::NotModified | Refreshed::UnchangedBody) => self.not_modified += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// The stages, wired. Cheap to clone; clones share the HTTP client and the database.
#[derive(Clone)]
pub struct Pipeline {
    fetcher: Fetcher,
    /// Replaced when the daemon reloads its config (SIGHUP).
    classifier: Arc<RwLock<Arc<Classifier>>>,
    store: Arc<Mutex<Store>>,
    default_schedule: CronSchedule,
    max_concurrent_fetches: usize,
    max_per_host: usize,
    /// One semaphore per host, for the per-host limit.
    hosts: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    /// The threads that parse, one a core but the store writer's (see `parse_threads`);
    /// fetches go on while bodies wait for one.
    parsers: Arc<Parsers>,
    politeness: schedule::Politeness,
    shutdown_grace: Duration,
    /// Counts the polls and rescorings that changed stored items; readers of the store
    /// (the server's render cache, the static output) watch it.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// Wakes the scheduler loop early (the feed list changed).
    wake: Arc<tokio::sync::Notify>,
    /// Liveness probes for the watchdog: the scheduler loop answers each one it receives.
    probes: mpsc::Sender<oneshot::Sender<()>>,
    probe_inbox: Arc<tokio::sync::Mutex<mpsc::Receiver<oneshot::Sender<()>>>>,
    /// Parsed polls on their way to the store writer (see [`StoreWriter`]).
    writer: std::sync::mpsc::Sender<StoreJob>,
    /// Room, in entries, for parsed polls handed to the store writer and not yet stored (see
    /// [`STORE_BACKLOG`]).
    backlog: Arc<Semaphore>,
}

/// Entries that parsed polls may hold waiting for the store writer (and in its transaction),
/// once they have given back their fetch slots. A parsed poll waits for room here holding its
/// slot, so the polls waiting for the writer take at most this many entries' memory plus a
/// slot's poll each. Room beyond the few polls the fetch slots hold lets the writer's
/// transactions grow (`StoreWriter::MAX_ENTRIES`): in the benchmark farm's cold poll (1,000
/// feeds x 50 items, 16 slots) the polls held their slots until stored, and the writer made
/// 169 commits of ~280 items; each commit writes again every page it touched, and the indexes
/// whose keys come in no order (a story day, a canonical URL, the items syndicated into a
/// second feed) touch most of their pages each time: 360 MB of WAL for a 185 MB database.
/// Interleaved cold polls, 8 each: wall median 3.38 -> 2.79 s, user CPU 4.21 -> 3.80 s,
/// system CPU 0.81 -> 0.71 s, peak memory 85 -> 96 MB with room for 3,000 entries (for 6,000,
/// 110 MB; unbounded, 206 MB). A waiting entry takes ~5 KB (its text, HTML, evidence and
/// fingerprint), and the peak came within 1 MB of the benchmark's 100 MB aim, so the room is
/// 2,000: release builds, 8 alternated runs each, 2.92 s and 95 MB with 3,000 against 2.98 s
/// and 90 MB with 2,000.
const STORE_BACKLOG: u32 = 2_000;

/// A poll waiting for the store writer, and where its outcome goes.
enum StoreJob {
    Parsed {
        poll: PolledFeed,
        /// The outcome, and the poll itself: the task that waits for it frees it, off the
        /// writer's thread (freeing a stored poll's entries was ~4 % of the writer's CPU in a
        /// cold poll).
        stored: oneshot::Sender<(Result<StoreOutcome, StoreError>, PolledFeed)>,
    },
    Unchanged(UnchangedPoll),
}

/// A poll that needed no parse: its fetch record, and the fetch history's outcome name.
struct UnchangedPoll {
    feed: FeedSource,
    fetch: FetchRecord,
    outcome: &'static str,
    stored: oneshot::Sender<Result<(), StoreError>>,
}

impl StoreJob {
    /// What it adds to a transaction, in entries (an unchanged poll's rows count as one).
    fn entries(&self) -> usize {
        match self {
            StoreJob::Parsed { poll, .. } => poll.entries.len(),
            StoreJob::Unchanged(_) => 1,
        }
    }
}

/// The one thread that stores polls. It takes every poll that has queued up while it was
/// writing (up to [`StoreWriter::MAX_ENTRIES`] entries) and stores them in one transaction
/// (the parsed ones) and one more (those that needed no parse): one commit and one full-text
/// index segment for many feeds, instead of one each. If a transaction fails, its polls are
/// stored again one by one. When the store is
/// the slower stage, the queue grows and so do the transactions; when it is not, a poll is
/// stored as soon as it arrives.
struct StoreWriter {
    store: Arc<Mutex<Store>>,
    inbox: std::sync::mpsc::Receiver<StoreJob>,
}

impl StoreWriter {
    /// Entries one transaction takes at most. The store's lock is held for one transaction
    /// (~0.2 s at this size in the benchmark farm's cold poll), and the scheduler's look for
    /// due feeds, the health probe and a failed fetch's record wait for it (the server reads
    /// through a connection of its own).
    const MAX_ENTRIES: usize = 2_000;
    /// How long no poll must come before the items waiting for the full-text index are
    /// indexed. Polls come every few milliseconds while many feeds are polled (a cold poll of
    /// the benchmark farm stores ~50 a second), so the index is then filled in batches
    /// (`store::full_text`), and a single feed's poll is searchable a moment after it is
    /// stored.
    const INDEX_WHEN_IDLE: Duration = Duration::from_millis(20);

    fn start(store: Arc<Mutex<Store>>) -> std::io::Result<std::sync::mpsc::Sender<StoreJob>> {
        let (jobs, inbox) = std::sync::mpsc::channel();
        let writer = StoreWriter { store, inbox };
        std::thread::Builder::new()
            .name("tigris-store".into())
            .spawn(move || writer.run())?;
        Ok(jobs)
    }

    /// Until every sender is gone (the pipeline and its clones dropped).
    fn run(self) {
        // Freed memory is handed back at most every `TRIM_EVERY` while polls are stored, and
        // once the writer has been idle that long. The WAL file is emptied at every idle
        // moment until it is empty: a reader's snapshot (the server rendering the feed the
        // last commit changed) makes an attempt give up.
        let mut trimmed = Instant::now();
        let mut untrimmed = false;
        // New items wait for the full-text index until thousands have come (the store
        // transaction then indexes them) or until no poll has come for `INDEX_WHEN_IDLE`:
        // the writer then has the time, and the merged feed's `q` filter and `tigris search`
        // find the new items a moment after they are stored.
        let mut unindexed = false;
        loop {
            let wait = if unindexed {
                Self::INDEX_WHEN_IDLE
            } else {
                TRIM_EVERY
            };
            let first = match self.inbox.recv_timeout(wait) {
                Ok(first) => first,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if unindexed => {
                    unindexed = false;
                    match lock(&self.store).index_waiting() {
                        Ok(0) => {}
                        Ok(indexed) => tracing::info!(indexed, "new items indexed for search"),
                        Err(e) => tracing::warn!("new items not indexed for search yet: {e}"),
                    }
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    lock(&self.store).settle_wal();
                    if std::mem::take(&mut untrimmed) {
                        release_freed_memory();
                        trimmed = Instant::now();
                    }
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut entries = first.entries();
            let mut batch = vec![first];
            while entries < Self::MAX_ENTRIES {
                let Ok(next) = self.inbox.try_recv() else {
                    break;
                };
                entries += next.entries();
                batch.push(next);
            }
            self.store(batch);
            untrimmed = true;
            unindexed = true;
            if trimmed.elapsed() >= TRIM_EVERY {
                release_freed_memory();
                trimmed = Instant::now();
                untrimmed = false;
            }
        }
    }

    fn store(&self, batch: Vec<StoreJob>) {
        let mut polls = Vec::new();
        let mut replies = Vec::new();
        let mut unchanged = Vec::new();
        for job in batch {
            match job {
                StoreJob::Parsed { poll, stored } => {
                    polls.push(poll);
                    replies.push(stored);
                }
                StoreJob::Unchanged(poll) => unchanged.push(poll),
            }
        }
        if !unchanged.is_empty() {
            self.store_unchanged(unchanged);
        }
        if polls.is_empty() {
            return;
        }
        // A panic is a bug, but it must not stop every later poll from being stored: the
        // batch's senders are dropped (each poll reports an internal error) and the thread
        // goes on. The transaction rolled back when its guard dropped, and the store drops
        // its story index at its next use (`StoryIndex::settle`).
        let stored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut store = lock(&self.store);
            match store.store_polls(&polls) {
                Ok(each) => each.into_iter().map(Ok).collect::<Vec<_>>(),
                // Nothing of the batch was kept. Each poll is tried alone, so that the one that
                // failed (or each, when the database is at fault: a full disk, a replaced
                // file) gets its own error and the others are stored after all.
                Err(_) if polls.len() > 1 => polls
                    .iter()
                    .map(|p| {
                        store.store_poll(&p.feed, &p.fetch, &p.body_hash, &p.parsed, &p.entries)
                    })
                    .collect(),
                Err(e) => vec![Err(e)],
            }
        }));
        if let Ok(each) = stored {
            for ((reply, result), poll) in replies.into_iter().zip(each).zip(polls) {
                // The refresh may have been abandoned at shutdown: nobody waits.
                let _ = reply.send((result, poll));
            }
        }
    }

    /// Polls that needed no parse, in one transaction; if it fails, one by one (each then
    /// gets its own error), as for parsed polls.
    fn store_unchanged(&self, jobs: Vec<UnchangedPoll>) {
        let stored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut store = lock(&self.store);
            let polls: Vec<_> = jobs
                .iter()
                .map(|job| (&job.feed, &job.fetch, job.outcome))
                .collect();
            match store.store_unchanged_all(&polls) {
                Ok(()) => polls.iter().map(|_| Ok(())).collect::<Vec<_>>(),
                Err(_) if polls.len() > 1 => polls
                    .iter()
                    .map(|(feed, fetch, outcome)| store.store_unchanged(feed, fetch, outcome))
                    .collect(),
                Err(e) => vec![Err(e)],
            }
        }));
        if let Ok(each) = stored {
            for (job, result) in jobs.into_iter().zip(each) {
                let _ = job.stored.send(result);
            }
        }
    }
}

/// How many parse threads a machine of `cores` cores gets: one a core but the store
/// writer's. A cold poll of many feeds is bound by the store writer, the one thread that can
/// write to SQLite, and parsing takes less CPU than storing (the benchmark farm's cold poll:
/// ~1.5 s of parse against ~1.85 s of store); a parse thread for every core only takes the
/// writer's core from it. On 2 cores, one parse thread instead of two, interleaved cold polls
/// of the farm: wall medians 2.88 -> 2.63 s (6 each) and 2.67 -> 2.53 s (8 each), user CPU
/// 3.84 -> 3.59 s (one thread's caches of stems and regexes serve every feed), the store
/// writer runnable but off its core 0.87 -> 0.65 s. A re-poll where a few feeds changed is
/// bound by parsing instead, but its parses are few: with 5 % of the farm's feeds changed,
/// medians of 0.18 s (two threads) and 0.185 s (one), 12 each, within the noise.
fn parse_threads(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

/// The parse threads: a fixed set (see `parse_threads`), taking parses from one queue in the
/// order they come. Parsing is CPU-bound, so more threads than cores only add memory and
/// context switches. It used to run on tokio's blocking pool under a semaphore of one permit
/// a core, but that pool starts a new thread whenever none is idle at the moment a parse is
/// handed over, and ~8 threads took turns: each with a malloc arena of its own, its own regex
/// caches and its own cache of word stems (which then missed more). The benchmark farm's cold
/// poll, 4 interleaved runs each: peak memory 97-102 MB -> 88-89 MB, wall median 3.13 ->
/// 2.90 s, user CPU 4.40 -> 4.09 s.
/// tokio's blocking pool is left to the rest (rendering for the server, the store's reads),
/// which then never waits behind a parse. Written here, a queue and a few threads over std,
/// rather than taken from a crate: the pool needs nothing else.
struct Parsers {
    jobs: std::sync::mpsc::Sender<ParseJob>,
}

type ParseJob = Box<dyn FnOnce() + Send>;

impl Parsers {
    fn start(threads: usize) -> Result<Parsers, PipelineError> {
        let (jobs, queue) = std::sync::mpsc::channel::<ParseJob>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tigris-parse-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job (never while
                        // one runs), so nothing can poison it.
                        let job = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(job) = job else { break };
                        // A panic is a bug; the job's caller gets an error and the thread
                        // goes on with the next.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| PipelineError::Internal {
                    url: "parse".into(),
                    reason: format!("cannot start a parse thread: {e}"),
                })?;
        }
        Ok(Parsers { jobs })
    }

    /// Runs `parse` on a parse thread; `None` if it panicked.
    async fn run<T: Send + 'static>(
        &self,
        parse: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = oneshot::channel();
        let job: ParseJob = Box::new(move || {
            let _ = done.send(parse());
        });
        // The threads run until the pool is dropped, so the queue is open while it exists.
        self.jobs.send(job).ok()?;
        result.await.ok()
    }
}

/// How often the store writer hands freed memory back to the system (see
/// [`release_freed_memory`]).
const TRIM_EVERY: Duration = Duration::from_millis(250);

/// Hands the pages malloc holds free back to the system (glibc's `malloc_trim`); the store
/// writer calls it every `TRIM_EVERY` while it stores polls, and once idle. glibc gives each
/// thread that allocates an arena of its own (up to 8 a core), and an arena keeps the memory
/// freed in it: a parsed feed is built on a parse thread and freed on another once stored,
/// so every parse thread's arena keeps its high-water mark. Measured on the benchmark
/// farm's cold poll (interleaved runs, 4 each): peak 110-118 MB without it; after every
/// transaction 93-96 MB for ~0.4 s more system CPU (the pages are faulted in again), every
/// 250 ms 96-99 MB for ~0.25 s, every second 99-103 MB for none measurable. Fewer arenas
/// (`M_ARENA_MAX` 4) saved as much memory but made the poll 9 % slower: the writer then
/// shares an arena's lock.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_freed_memory() {
    // SAFETY: `malloc_trim` only returns free pages of malloc's heaps to the system; it
    // takes malloc's own locks and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

/// What a config reload changed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reloaded {
    pub feeds_added: usize,
    pub feeds_disabled: usize,
    pub rescored: u64,
}

impl Pipeline {
    pub fn new(
        config: &Config,
        store: Store,
        classifier: Classifier,
    ) -> Result<Pipeline, PipelineError> {
        let (probes, probe_inbox) = mpsc::channel(4);
        let mut store = store;
        store.checkpoint_in_background()?;
        let store = Arc::new(Mutex::new(store));
        let writer = StoreWriter::start(store.clone()).map_err(|e| PipelineError::Internal {
            url: "database".into(),
            reason: format!("cannot start the store writer thread: {e}"),
        })?;
        Ok(Pipeline {
            fetcher: Fetcher::new(&config.fetch)?,
            classifier: Arc::new(RwLock::new(Arc::new(classifier))),
            store,
            default_schedule: config.schedule.default.clone(),
            max_concurrent_fetches: config.schedule.max_concurrent_fetches,
            max_per_host: config.fetch.max_per_host,
            hosts: Arc::new(Mutex::new(HashMap::new())),
            parsers: Arc::new(Parsers::start(parse_threads(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ))?),
            politeness: config.schedule.politeness,
            shutdown_grace: config.schedule.shutdown_grace,
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
            wake: Arc::new(tokio::sync::Notify::new()),
            probes,
            probe_inbox: Arc::new(tokio::sync::Mutex::new(probe_inbox)),
            writer,
            backlog: Arc::new(Semaphore::new(STORE_BACKLOG as usize)),
        })
    }

    /// The classifier in force.
    pub fn classifier(&self) -> Arc<Classifier> {
        self.classifier
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes a reloaded config's feed list and topics into use: syncs the feeds, swaps the
    /// classifier, rescores what the new topics score differently and wakes the scheduler.
    /// Settings that need a restart (database, listen address, fetch limits) are not touched.
    pub async fn reload(
        &self,
        config: &Config,
        classifier: Classifier,
    ) -> Result<Reloaded, PipelineError> {
        let feeds = config.feeds.clone();
        let sync = self
            .with_store(move |store| store.sync_feeds(&feeds, Utc::now()))
            .await?;
        *self.classifier.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(classifier);
        let rescored = self.reclassify().await?;
        self.wake.notify_one();
        Ok(Reloaded {
            feeds_added: sync.added,
            feeds_disabled: sync.disabled,
            rescored,
        })
    }

    /// Whether the scheduler loop and the database both answer within `within`: what the
    /// systemd watchdog ping vouches for.
    pub async fn alive(&self, within: Duration) -> bool {
        let (answer, answered) = oneshot::channel();
        let scheduler = async { self.probes.send(answer).await.is_ok() && answered.await.is_ok() };
        let database = self.with_store(|store| store.ping());
        let both = async { scheduler.await && database.await.is_ok() };
        tokio::time::timeout(within, both).await.unwrap_or(false)
    }

    /// Applies retention now (see [`prune`]) on a blocking thread.
    pub async fn prune(
        &self,
        retention: RetentionConfig,
        dry_run: bool,
    ) -> Result<PrunePlan, PipelineError> {
        let store = self.store.clone();
        let plan =
            tokio::task::spawn_blocking(move || prune(&store, &retention, Utc::now(), dry_run))
                .await
                .map_err(|e| PipelineError::Internal {
                    url: "database".into(),
                    reason: e.to_string(),
                })??;
        if !dry_run && !plan.item_ids.is_empty() {
            self.note_change();
        }
        Ok(plan)
    }

    /// When the last prune ran.
    pub async fn last_prune(&self) -> Result<Option<chrono::DateTime<Utc>>, PipelineError> {
        self.with_store(|store| store.last_run(PRUNE_TASK)).await
    }

    /// A receiver that sees a new value after each poll or rescoring that changed items.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn note_change(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Runs `f` on the store in a blocking thread (SQLite calls block).
    async fn with_store<T, F>(&self, f: F) -> Result<T, PipelineError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&store)))
            .await
            .map_err(|e| PipelineError::Internal {
                url: "database".into(),
                reason: e.to_string(),
            })?
            .map_err(PipelineError::from)
    }

    /// The feed's own schedule. The expression was validated when it entered the database;
    /// a hand-edited bad one falls back to the default schedule rather than stopping the feed.
    fn schedule_of(&self, feed: &FeedSource) -> CronSchedule {
        CronSchedule::parse(&feed.schedule).unwrap_or_else(|_| self.default_schedule.clone())
    }

    /// Fills in the record's next check time and the feed's state after `outcome`.
    fn plan(&self, feed: &FeedSource, record: &mut FetchRecord, outcome: CheckOutcome) {
        let next = schedule::plan_next_check(
            &self.schedule_of(feed),
            feed.url.as_str(),
            record.started_at,
            outcome,
            feed.consecutive_failures,
            feed.failing_since,
            &self.politeness,
        );
        record.next_check_at = next.at;
        record.state = next.state;
        record.failing_since = next.failing_since;
    }

    /// The per-host limit: a permit for `url`'s host.
    async fn host_permit(&self, url: &url::Url) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let host = url.host_str()?.to_ascii_lowercase();
        let semaphore = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .entry(host)
                .or_insert_with(|| Arc::new(Semaphore::new(self.max_per_host)))
                .clone()
        };
        semaphore.acquire_owned().await.ok()
    }

    /// Refreshes one feed: fetch, parse, dedup, classify, store. Never fails as a whole: the
    /// outcome, good or bad, is recorded against the feed and returned in the report.
    ///
    /// `slot` is the refresh's place among the concurrent fetches, if it has one: a parsed
    /// poll keeps it until it has room in the store writer's backlog ([`STORE_BACKLOG`], which
    /// bounds the memory of the polls waiting for the writer), a poll that needed no parse
    /// gives it back as soon as it knows. The latter's rows are a few dozen bytes, and held
    /// slots made the writer commit 304s two or three at a time as they came instead of all
    /// that queued meanwhile, each commit writing the same pages to the WAL again: a re-poll
    /// of the benchmark farm's 1,000 feeds answering 304 wrote 25-27 MB with held slots,
    /// 6.5-11 MB without (`strace`, 3 runs each).
    pub async fn refresh_feed(
        &self,
        feed: FeedSource,
        slot: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> FeedReport {
        let host = self.host_permit(&feed.url).await;
        let started_at = Utc::now();
        let clock = Instant::now();
        let fetched = self.fetcher.fetch(&feed).await;
        // The per-host limit is on requests: the host is done with once the body is read.
        drop(host);
        let (http_status, bytes) = match &fetched {
            Ok(fetched) => (Some(fetched.status), fetched.bytes()),
            Err(e) => (e.status(), 0),
        };
        let mut record = FetchRecord {
            started_at,
            http_status,
            bytes,
            duration: clock.elapsed(),
            etag: None,
            last_modified: None,
            next_check_at: started_at,
            state: FeedState::Ok,
            failing_since: None,
            permanent_redirect: None,
        };

        let result = match fetched {
            Ok(fetched) => {
                let processed = if fetched.body.is_none() {
                    // A 304 has no body: nothing to hash or parse, only its next check to plan
                    // (a few microseconds), done here rather than through a parse permit and a
                    // blocking thread (two thread hand-offs a feed in an unchanged re-poll).
                    self.process_blocking(&feed, fetched, record.clone())
                } else {
                    let pipeline = self.clone();
                    let source = feed.clone();
                    let record = record.clone();
                    self.parsers
                        .run(move || pipeline.process_blocking(&source, fetched, record))
                        .await
                        .unwrap_or_else(|| {
                            Err(PipelineError::Internal {
                                url: feed_url(&feed),
                                reason: "the parse panicked".into(),
                            })
                        })
                };
                match processed {
                    Ok(Processed::Unchanged(record, refreshed)) => {
                        drop(slot);
                        self.store_unchanged(&feed, record, refreshed).await
                    }
                    Ok(Processed::ToStore(poll)) => {
                        let room = u32::try_from(poll.entries.len())
                            .unwrap_or(u32::MAX)
                            .clamp(1, STORE_BACKLOG);
                        // The backlog is never closed, so waiting for it only ends with room.
                        let room = self.backlog.clone().acquire_many_owned(room).await.ok();
                        drop(slot);
                        let stored = self.store_poll(*poll).await;
                        drop(room);
                        stored
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e.into()),
        };

        // A fetch or parse failure is a fact about the feed: record it, with the backoff it
        // earns. (A store failure was the database's; recording it would most likely fail
        // the same way.)
        if let Err(
            error @ (PipelineError::Fetch(_)
            | PipelineError::Parse(_)
            | PipelineError::Internal { .. }),
        ) = &result
        {
            let outcome = match error {
                PipelineError::Fetch(FetchError::Gone { .. }) => CheckOutcome::Gone,
                PipelineError::Fetch(FetchError::Status {
                    status: 429 | 503,
                    retry_after,
                    ..
                }) => CheckOutcome::RateLimited {
                    retry_after: retry_after
                        .as_deref()
                        .and_then(|r| schedule::parse_retry_after(r, started_at)),
                },
                _ => CheckOutcome::Failed,
            };
            self.plan(&feed, &mut record, outcome);
            let message = error.to_string();
            let failed = feed.clone();
            let record = record.clone();
            if let Err(store_error) = self
                .with_store(move |store| store.store_failure(&failed, &record, &message))
                .await
            {
                tracing::error!(feed = %feed.url, "cannot record the failure: {store_error}");
            }
        }

        let report = FeedReport {
            feed,
            result,
            http_status,
            bytes,
            duration: clock.elapsed(),
        };
        // Counted before it is logged: whoever reads the log line finds it in the metrics.
        crate::metrics::record_fetch(&report);
        log_report(&report);
        report
    }

    /// Hands a parsed poll to the store writer and waits until it is committed.
    async fn store_poll(&self, poll: PolledFeed) -> Result<Refreshed, PipelineError> {
        let url = feed_url(&poll.feed);
        let (stored, outcome) = oneshot::channel();
        let lost = || writer_lost(&url);
        self.writer
            .send(StoreJob::Parsed { poll, stored })
            .map_err(|_| lost())?;
        let (outcome, poll) = outcome.await.map_err(|_| lost())?;
        drop(poll);
        let outcome = outcome?;
        if outcome.new + outcome.updated + outcome.duplicate > 0 {
            self.note_change();
        }
        Ok(Refreshed::Stored(outcome))
    }

    /// Hands a poll that needed no parse to the store writer and waits until it is committed.
    async fn store_unchanged(
        &self,
        feed: &FeedSource,
        fetch: FetchRecord,
        refreshed: Refreshed,
    ) -> Result<Refreshed, PipelineError> {
        let url = feed_url(feed);
        let lost = || writer_lost(&url);
        let outcome = match refreshed {
            Refreshed::UnchangedBody => "unchanged_body",
            Refreshed::NotModified | Refreshed::Stored(_) => "not_modified",
        };
        let (stored, done) = oneshot::channel();
        self.writer
            .send(StoreJob::Unchanged(UnchangedPoll {
                feed: feed.clone(),
                fetch,
                outcome,
                stored,
            }))
            .map_err(|_| lost())?;
        done.await.map_err(|_| lost())??;
        Ok(refreshed)
    }

    /// The CPU-bound half of a refresh, run on a blocking thread (but for a 304, which has no
    /// body and only plans its next check): parse, dedup keys, classification. What is left to
    /// store, parsed or not, is returned for the store writer.
    fn process_blocking(
        &self,
        feed: &FeedSource,
        fetched: Fetched,
        mut record: FetchRecord,
    ) -> Result<Processed, PipelineError> {
        record.permanent_redirect = fetched.permanent_redirect.as_ref().map(|u| u.to_string());
        let header_hint = |ttl: Option<u32>, period: Option<chrono::Duration>| {
            schedule::freshness_hint(
                ttl,
                period,
                fetched.cache_control.as_deref(),
                fetched.expires.as_deref(),
                record.started_at,
            )
        };
        let Some(body) = fetched.body.as_deref() else {
            let hint = header_hint(None, None);
            self.plan(feed, &mut record, CheckOutcome::Success { hint });
            return Ok(Processed::Unchanged(record, Refreshed::NotModified));
        };
        record.etag = fetched.etag.clone();
        record.last_modified = fetched.last_modified.clone();
        // Servers that ignore conditional GET still often send the same bytes: skip the parse.
        let body_hash = hex::encode(Sha256::digest(body));
        if feed.body_hash.as_deref() == Some(body_hash.as_str()) {
            let hint = header_hint(None, None);
            self.plan(feed, &mut record, CheckOutcome::Success { hint });
            return Ok(Processed::Unchanged(record, Refreshed::UnchangedBody));
        }

        let mut parsed = parse::parse_feed(
            body,
            Some(&fetched.final_url),
            feed.url.as_str(),
            fetched.content_type.as_deref(),
        )?;
        let hint = header_hint(parsed.ttl_minutes, parsed.update_period);
        self.plan(feed, &mut record, CheckOutcome::Success { hint });
        let keyed = dedup::key_entries(std::mem::take(&mut parsed.entries));
        let entries = self.classifier().classify_entries(keyed);
        Ok(Processed::ToStore(Box::new(PolledFeed {
            feed: feed.clone(),
            fetch: record,
            body_hash,
            parsed,
            entries,
        })))
    }

    /// Refreshes `feeds` once, at most `max_concurrent_fetches` at a time, calling `on_report`
    /// as each finishes. On cancellation no new fetch starts and in-flight ones get the grace
    /// period; the totals cover what finished.
    pub async fn poll_once(
        &self,
        feeds: Vec<FeedSource>,
        cancel: &CancellationToken,
        mut on_report: impl FnMut(&FeedReport),
    ) -> PollTotals {
        let semaphore = Arc::new(Semaphore::new(self.max_concurrent_fetches));
        let mut tasks = JoinSet::new();
        for feed in feeds {
            self.spawn_refresh(&mut tasks, &semaphore, cancel, feed);
        }
        let mut totals = PollTotals::default();
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Ok(Some(report))) => {
                        totals.add(&report);
                        on_report(&report);
                    }
                    Some(_) => {}
                    None => break,
                },
                () = cancel.cancelled() => {
                    self.drain(&mut tasks, |report| {
                        totals.add(&report);
                        on_report(&report);
                    }).await;
                    break;
                }
            }
        }
        totals
    }

    /// Spawns a refresh that waits for a concurrency permit; it gives up (returns `None`)
    /// if cancellation comes before the permit.
    fn spawn_refresh(
        &self,
        tasks: &mut JoinSet<Option<FeedReport>>,
        semaphore: &Arc<Semaphore>,
        cancel: &CancellationToken,
        feed: FeedSource,
    ) -> tokio::task::Id {
        let pipeline = self.clone();
        let semaphore = semaphore.clone();
        let cancel = cancel.clone();
        tasks
            .spawn(async move {
                let permit = tokio::select! {
                    permit = semaphore.acquire_owned() => permit.ok()?,
                    () = cancel.cancelled() => return None,
                };
                if cancel.is_cancelled() {
                    return None;
                }
                Some(pipeline.refresh_feed(feed, Some(permit)).await)
            })
            .id()
    }

    /// After cancellation: waits up to the grace period for in-flight refreshes, then drops
    /// the rest. A dropped refresh is cut at an await point; its store transaction runs on a
    /// blocking thread and is never cut, so nothing is half-written.
    async fn drain(
        &self,
        tasks: &mut JoinSet<Option<FeedReport>>,
        mut on_report: impl FnMut(FeedReport),
    ) {
        let deadline = tokio::time::sleep(self.shutdown_grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = tasks.join_next() => match joined {
                    Some(Ok(Some(report))) => on_report(report),
                    Some(_) => {}
                    None => return,
                },
                () = &mut deadline => {
                    tracing::warn!(in_flight = tasks.len(), "shutdown grace period over; abandoning in-flight fetches");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    return;
                }
            }
        }
    }

    /// The daemon's scheduler: refreshes each feed when it is due, never two refreshes of one
    /// feed at once, at most `max_concurrent_fetches` at a time, until `cancel` fires. Then it
    /// drains in-flight work and checkpoints the WAL.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), PipelineError> {
        let semaphore = Arc::new(Semaphore::new(self.max_concurrent_fetches));
        let mut tasks: JoinSet<Option<FeedReport>> = JoinSet::new();
        // Which feed each running task refreshes, so a feed leaves the in-flight set however
        // its task ends (even by a panic).
        let mut in_flight: HashMap<tokio::task::Id, i64> = HashMap::new();
        // A feed list changed in the database by another process is noticed within this time.
        const MAX_IDLE: Duration = Duration::from_secs(60);
        let mut probes = self.probe_inbox.lock().await;

        loop {
            let now = Utc::now();
            let due = self.with_store(move |store| store.due_feeds(now)).await?;
            for feed in due {
                if !in_flight.values().any(|id| *id == feed.id) {
                    if let Some(due_at) = feed.due_at {
                        crate::metrics::record_poll_lag(
                            (now - due_at).num_milliseconds() as f64 / 1000.0,
                        );
                    }
                    let feed_id = feed.id;
                    let task = self.spawn_refresh(&mut tasks, &semaphore, &cancel, feed);
                    in_flight.insert(task, feed_id);
                }
            }
            let exclude: HashSet<i64> = in_flight.values().copied().collect();
            let next_due = self
                .with_store(move |store| store.next_due_at_excluding(now, &exclude))
                .await?;
            let wait = next_due
                .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(MAX_IDLE)
                .min(MAX_IDLE);
            tokio::select! {
                joined = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let task = match joined {
                        Some(Ok((task, _))) => Some(task),
                        Some(Err(e)) => {
                            if e.is_panic() {
                                tracing::error!("a feed refresh panicked: {e}");
                            }
                            Some(e.id())
                        }
                        None => None,
                    };
                    if let Some(task) = task {
                        in_flight.remove(&task);
                    }
                }
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                Some(probe) = probes.recv() => {
                    let _ = probe.send(());
                }
                () = cancel.cancelled() => break,
            }
        }
        tracing::info!(in_flight = tasks.len(), "stopping: no new fetches");
        self.drain(&mut tasks, |_| {}).await;
        self.with_store(|store| store.checkpoint()).await?;
        tracing::info!("stopped");
        Ok(())
    }

    /// Rescores stored items whose classification for a topic is missing or was made by
    /// another classifier or topic version, in batches (one transaction each). Returns how
    /// many items were rescored.
    pub async fn reclassify(&self) -> Result<u64, PipelineError> {
        const BATCH: usize = 2000;
        let mut total = 0;
        let classifier = self.classifier();
        for topic in classifier.topics() {
            let topic_id = topic.id.clone();
            let version = Classifier::version_of(topic);
            let mut after_id = 0;
            loop {
                let (id, v) = (topic_id.clone(), version.clone());
                let batch = self
                    .with_store(move |store| store.items_to_reclassify(&id, &v, after_id, BATCH))
                    .await?;
                let Some(&(last, _, _)) = batch.last() else {
                    break;
                };
                after_id = last;
                let classifier = classifier.clone();
                let count = batch.len() as u64;
                self.with_store(move |store| {
                    let scored: Vec<_> = batch
                        .iter()
                        .map(|(id, title, text)| (*id, classifier.classify_for_store(title, text)))
                        .collect();
                    store.store_classifications(&scored, Utc::now())
                })
                .await?;
                total += count;
            }
        }
        if total > 0 {
            self.note_change();
        }
        Ok(total)
    }

    /// Puts stored items that have no story yet (stored before stories existed) into stories,
    /// oldest first, in batches. Returns how many.
    pub async fn assign_missing_stories(&self) -> Result<u64, PipelineError> {
        const BATCH: usize = 2000;
        let mut total = 0;
        let mut after_id = 0;
        loop {
            let batch = self
                .with_store(move |store| store.items_without_story(after_id, BATCH))
                .await?;
            let Some(&(last, _, _, _)) = batch.last() else {
                break;
            };
            after_id = last;
            total += batch.len() as u64;
            self.with_store(move |store| {
                let prints: Vec<_> = batch
                    .into_iter()
                    .map(|(id, title, text, published)| {
                        (id, crate::cluster::fingerprint(&title, &text), published)
                    })
                    .collect();
                store.assign_stories(&prints)
            })
            .await?;
        }
        if total > 0 {
            self.note_change();
        }
        Ok(total)
    }

    /// Writes the WAL back into the database file.
    pub async fn checkpoint(&self) -> Result<(), PipelineError> {
        self.with_store(|store| store.checkpoint()).await
    }
}

/// Items a prune transaction removes at most: small enough that a poll waiting for the
/// database lock waits a fraction of a second, not the whole prune (measured on a
/// 48,000-item database: a median of 83 ms per batch, at most 239 ms).
const PRUNE_BATCH: usize = 250;

/// Applies retention to the store: removes the items `[retention]` lets go (with tombstones),
/// trims fetch history and gives freed pages back to the file system. Each batch is its own
/// transaction and takes the store's lock only for itself. `dry_run` only works out what
/// would go.
pub fn prune(
    store: &Mutex<Store>,
    retention: &RetentionConfig,
    now: chrono::DateTime<Utc>,
    dry_run: bool,
) -> Result<PrunePlan, StoreError> {
    let plan = lock(store).prune_plan(retention, now)?;
    if dry_run {
        return Ok(plan);
    }
    for batch in plan.item_ids.chunks(PRUNE_BATCH) {
        let started = Instant::now();
        lock(store).prune_items(batch, now)?;
        crate::metrics::record_pruned(batch.len());
        tracing::debug!(
            items = batch.len(),
            held_ms = started.elapsed().as_millis() as u64,
            "retention: batch pruned"
        );
    }
    let before = now - retention.fetch_history;
    while lock(store).prune_fetches(before, PRUNE_BATCH * 10)? > 0 {}
    let freed = lock(store).incremental_vacuum()?;
    let summary = format!(
        "{} items pruned ({} too old, {} beyond their feeds' cap), {} kept as relevant, {} fetch history rows, {freed} bytes freed",
        plan.item_ids.len(),
        plan.too_old,
        plan.over_feed_cap,
        plan.kept_relevant,
        plan.fetches
    );
    lock(store).record_run(PRUNE_TASK, now, &summary)?;
    tracing::info!("retention: {summary}");
    Ok(plan)
}

/// A poll's error when the store writer dropped it without an answer: it panicked (a bug).
fn writer_lost(url: &str) -> PipelineError {
    PipelineError::Internal {
        url: url.to_string(),
        reason: "the store writer failed before storing this poll (a bug: see the log)".into(),
    }
}

fn lock(store: &Mutex<Store>) -> MutexGuard<'_, Store> {
    // A panic while holding the lock leaves SQLite consistent (transactions roll back on
    // drop), so the poisoned guard is safe to use.
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn feed_url(feed: &FeedSource) -> String {
    feed.url.to_string()
}

/// One log line per fetch, with what a person needs to judge it.
fn log_report(report: &FeedReport) {
    let url = report.feed.url.as_str();
    let status = report.http_status.map(i64::from).unwrap_or(-1);
    let duration_ms = report.duration.as_millis() as u64;
    match &report.result {
        Ok(Refreshed::Stored(o)) => tracing::info!(
            feed = url,
            status,
            new = o.new,
            updated = o.updated,
            duplicate = o.duplicate,
            unchanged = o.unchanged,
            bytes = report.bytes,
            duration_ms,
            "fetched"
        ),
        Ok(Refreshed::NotModified) => tracing::info!(
            feed = url,
            status,
            new = 0,
            updated = 0,
            bytes = 0,
            duration_ms,
            "not modified"
        ),
        Ok(Refreshed::UnchangedBody) => tracing::info!(
            feed = url,
            status,
            new = 0,
            updated = 0,
            bytes = report.bytes,
            duration_ms,
            "body unchanged"
        ),
        // The database's failure, not the feed's (a full disk, a replaced file).
        Err(PipelineError::Store(e)) => tracing::error!(
            feed = url,
            status,
            bytes = report.bytes,
            duration_ms,
            "storing failed, nothing of this fetch was kept: {e}"
        ),
        Err(e) => tracing::warn!(
            feed = url,
            status,
            bytes = report.bytes,
            duration_ms,
            "fetch failed: {e}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_threads;

    #[test]
    fn every_machine_gets_a_parse_thread_and_the_writer_keeps_a_core() {
        // A machine of one core must still parse: with no parse thread every poll would wait
        // forever for its parse.
        assert_eq!(parse_threads(1), 1);
        assert_eq!(parse_threads(2), 1);
        assert_eq!(parse_threads(4), 3);
        assert_eq!(parse_threads(0), 1);
    }
}
