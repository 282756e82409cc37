//! Store: the only module that writes to SQLite. Opens the database (WAL, foreign keys, a busy
//! timeout), applies the embedded migrations in order (tracked by `PRAGMA user_version`), and
//! offers the reads the scheduler and the CLI need. Each feed's poll is stored in one
//! transaction: its items, their sources and classifications, the fetch history row and the
//! feed's health commit together or not at all.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{CachedStatement, Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use url::Url;

use crate::cluster::{self, StoryPrint, StoryRules};
use crate::config::FeedConfig;
use crate::model::{
    ClassifiedEntry, FeedItem, FeedQuery, FeedSource, ItemSource, ParsedFeed, StoreOutcome,
    StoredClassification,
};
use crate::schedule::FeedState;

mod bands;
mod borrowing;
mod feeds;
mod full_text;
mod retention;

use bands::{Found, Similar, StoryIndex};
use borrowing::{Borrowing, Value};

pub use feeds::{FeedOrigin, ManagedFeed, StoreStats};
pub use retention::{PRUNE_TASK, PrunePlan};

/// The schema migrations, in order; migration N sets `user_version` to N.
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_initial.sql",
        include_str!("../migrations/0001_initial.sql"),
    ),
    (
        "0002_topic_engine.sql",
        include_str!("../migrations/0002_topic_engine.sql"),
    ),
    (
        "0003_polite_fetching.sql",
        include_str!("../migrations/0003_polite_fetching.sql"),
    ),
    (
        "0004_stories.sql",
        include_str!("../migrations/0004_stories.sql"),
    ),
    (
        "0005_operations.sql",
        include_str!("../migrations/0005_operations.sql"),
    ),
    (
        "0006_band_index_in_memory.sql",
        include_str!("../migrations/0006_band_index_in_memory.sql"),
    ),
    (
        "0007_fts_filled_per_transaction.sql",
        include_str!("../migrations/0007_fts_filled_per_transaction.sql"),
    ),
    (
        "0008_indexes_in_arrival_order.sql",
        include_str!("../migrations/0008_indexes_in_arrival_order.sql"),
    ),
    (
        "0009_fewer_full_text_merges.sql",
        include_str!("../migrations/0009_fewer_full_text_merges.sql"),
    ),
    (
        "0010_full_text_in_batches.sql",
        include_str!("../migrations/0010_full_text_in_batches.sql"),
    ),
];

/// How long a writer waits for another connection's lock (a user's `sqlite3` shell, say).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The page size of the databases tigris creates (SQLite's default is 4 KiB). A cold poll
/// writes ~200 MB of rows, full-text segments and indexes: with 16 KiB pages SQLite splits and
/// balances a quarter as many B-tree pages, and writes (and checkpoints) a quarter as many
/// WAL frames. The benchmark farm's cold poll (1,000 feeds x 50 items, 6 alternated runs
/// each): wall median 3.19 -> 2.80 s, user + system CPU 4.82 -> 4.34 s, peak memory the same
/// (the page cache is sized in bytes); 8 KiB gave 2.95 s, 32 and 64 KiB 2.96 and 3.00 s. The
/// merged feed read from that database: 52 -> 36 ms (`tigris feed`, 20 runs). The cost: each
/// page a small transaction changes is written whole to the WAL. A re-poll of the farm's
/// 1,000 feeds answering 304 wrote 37.7 MB instead of 12.4 MB (`strace`) while the writer
/// committed them two or three at a time; since the 304s wait for the writer without their
/// fetch slots (`Pipeline::refresh_feed`) and are committed together, 6.5-11 MB.
pub(super) const PAGE_SIZE: i64 = 16_384;

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database's folder could not be created.
    #[error("cannot create the database folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database file could not be opened or set up (permissions, not a database, locked).
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A migration failed; the database stays at the previous version.
    #[error("database {path}: migration {name} failed: {source}")]
    Migrate {
        path: PathBuf,
        name: String,
        source: rusqlite::Error,
    },
    /// The database was written by a newer tigris.
    #[error(
        "database {path} has schema version {found}, newer than this tigris knows ({known}); upgrade tigris"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A full-text query SQLite could not read.
    #[error("search query `{query}` is not valid: {reason}")]
    Search { query: String, reason: String },
    /// The database could not be reached (a reading thread failed).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database file was deleted or replaced while tigris had it open: SQLite would go
    /// on writing to the unlinked file, and every write would be lost on restart.
    #[error(
        "the database file {path} was deleted or replaced while tigris was running; nothing more is written to it (restart tigris to use the file now at that path)"
    )]
    Moved { path: PathBuf },
    /// Any other SQLite error (disk full, I/O error).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// What a fetch did (for the fetch history table) and what it leaves for the next one.
#[derive(Debug, Clone)]
pub struct FetchRecord {
    pub started_at: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub bytes: u64,
    pub duration: Duration,
    /// The validators the response carried, for the next conditional GET.
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// When the feed is due again, and its health after this fetch.
    pub next_check_at: DateTime<Utc>,
    pub state: FeedState,
    pub failing_since: Option<DateTime<Utc>>,
    /// Where every redirect of this fetch pointed when all were permanent (301/308).
    pub permanent_redirect: Option<String>,
}

/// One row of `tigris feeds`: the `feed_health` view.
#[derive(Debug, Clone, Serialize)]
pub struct FeedHealth {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub state: String,
    pub last_success_at: Option<String>,
    pub last_checked_at: Option<String>,
    pub next_check_at: Option<String>,
    pub consecutive_failures: i64,
    pub last_error: Option<String>,
    pub items: i64,
    /// `config`, `cli` or `opml`: where the feed came from.
    pub origin: String,
}

/// One full-text search result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub id: i64,
    pub title: String,
    pub url: Option<String>,
    pub published_at: String,
    pub snippet: String,
}

/// One row of `tigris stories`.
#[derive(Debug, Clone, Serialize)]
pub struct StorySummary {
    pub id: i64,
    pub title: String,
    pub url: Option<String>,
    pub items: i64,
    pub outlets: i64,
    pub first_published_at: String,
    pub last_published_at: String,
}

/// What syncing the config's feed list did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedSync {
    pub added: usize,
    pub disabled: usize,
}

/// The database, open and migrated.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    story_rules: StoryRules,
    /// The database file's identity when it was opened, to notice it being replaced.
    file_id: Option<FileId>,
    /// Stored items' fingerprints by publication day, for finding a new item's story.
    stories: StoryIndex,
    /// `PRAGMA data_version` when this connection last looked: it changes when another
    /// connection commits.
    data_version: Option<i64>,
    /// The checkpoint thread, once started (`checkpoint_in_background`).
    checkpointer: Option<Checkpointer>,
    /// Items that may wait for the full-text index after a store transaction
    /// (`full_text::BATCH`).
    full_text_batch: i64,
}

/// How the writer reaches the checkpoint thread: a nudge (one waiting is enough) and whether
/// the nudge asks for the WAL file to be emptied as well (`Store::settle_wal`).
struct Checkpointer {
    nudge: std::sync::mpsc::SyncSender<()>,
    truncate: Arc<AtomicBool>,
}

/// A file's (device, inode).
type FileId = (u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Times are stored as RFC 3339 UTC text with a `Z`, which sorts as time does.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Every database tigris creates has pages of `PAGE_SIZE` bytes, and gives pages freed
        // by pruning back to the file system (`PRAGMA incremental_vacuum` after each prune).
        // Both can only be set before the file is first written (switching to WAL writes it);
        // `tigris vacuum` converts an older file.
        let fresh: bool = conn
            .query_row("SELECT count(*) = 0 FROM sqlite_master", [], |row| {
                row.get(0)
            })
            .map_err(open_err)?;
        if fresh {
            // Set first: SQLite keeps the page size of a file's first write, and the
            // auto-vacuum setting below fixes it already.
            conn.pragma_update(None, "page_size", PAGE_SIZE)
                .map_err(open_err)?;
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .map_err(open_err)?;
        }
        // WAL lets users read with sqlite3 while tigris writes; NORMAL sync is safe in WAL
        // (a power cut can lose the last commits, never corrupt).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // An 8 MiB page cache (SQLite's default is 2 MiB). With the story band index in memory
        // no table takes random inserts at 32 rows an item, and a bigger cache only costs
        // memory: a cold poll of 300 feeds x 50 items measured 156 MB peak and 5.0 s CPU with
        // 64 MiB, 109 MB and 4.8 s with 16 MiB, 96 MB and 5.2 s with 4 MiB; the benchmark
        // farm's cold poll (1,000 x 50, 5 runs each, interleaved) 102-103 MB with 16 MiB and
        // 93-97 MB with 8 MiB, at the same wall and CPU time within 1 %.
        conn.pragma_update(None, "cache_size", -8192)
            .map_err(open_err)?;
        // Storing a feed's items runs ~14 statements a new item, and the daemon reads through
        // the same connection: more than rusqlite's default of 16, past which its LRU cache
        // prepares statements again in a loop.
        conn.set_prepared_statement_cache_capacity(64);
        // The bundled SQLite is built with STAT4, which marks a statement comparing an indexed
        // column with a parameter to be prepared again whenever the parameter is bound anew,
        // in case its value suggests a better plan: the cross-feed lookup by canonical URL was
        // prepared again for every entry (6 % of a poll's store time). tigris never runs
        // ANALYZE, so there are no samples such a plan could come from; the query planner
        // stability guarantee plans each statement once.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(open_err)?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            story_rules: StoryRules::default(),
            file_id: None,
            stories: StoryIndex::default(),
            data_version: None,
            checkpointer: None,
            full_text_batch: full_text::BATCH,
        };
        store.migrate()?;
        store.file_id = file_id(path);
        Ok(store)
    }

    /// Fails when the file at the database's path is no longer the one opened (deleted, or
    /// another moved over it). Checked as each poll's transaction begins.
    fn ensure_unmoved(&self) -> Result<(), StoreError> {
        match self.file_id {
            Some(opened) if file_id(&self.path) != Some(opened) => Err(StoreError::Moved {
                path: self.path.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let current: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|source| StoreError::Open {
                path: self.path.clone(),
                source,
            })?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(StoreError::SchemaTooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let version = index as i64 + 1;
            let migrate_err = |source| StoreError::Migrate {
                path: self.path.clone(),
                name: name.to_string(),
                source,
            };
            let tx = self.conn.transaction().map_err(migrate_err)?;
            tx.execute_batch(sql).map_err(migrate_err)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(migrate_err)?;
            tx.commit().map_err(migrate_err)?;
        }
        Ok(())
    }

    /// The schema version (number of migrations applied).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    /// Makes the feeds table match the config: new feeds are added (due at once), listed feeds
    /// get their name and schedule from the config and are enabled (a changed schedule takes
    /// effect at once), config feeds no longer listed are disabled (their items stay). Feeds
    /// added from the command line or OPML are left alone.
    pub fn sync_feeds(
        &mut self,
        feeds: &[FeedConfig],
        now: DateTime<Utc>,
    ) -> Result<FeedSync, StoreError> {
        let tx = self.conn.transaction()?;
        let mut sync = FeedSync::default();
        let mut listed = HashSet::new();
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO feeds (url, config_url, name, schedule, enabled, created_at, origin)
                 VALUES (?1, ?1, ?2, ?3, 1, ?4, 'config')
                 ON CONFLICT (config_url) DO UPDATE
                    SET name = excluded.name, schedule = excluded.schedule, enabled = 1,
                        origin = 'config',
                        next_check_at = CASE WHEN feeds.schedule IS excluded.schedule
                                             THEN feeds.next_check_at ELSE ?5 END
                 RETURNING id, created_at = ?4",
            )?;
            for feed in feeds {
                let (id, created): (i64, bool) = upsert.query_row(
                    params![
                        feed.url.as_str(),
                        feed.name,
                        feed.schedule.as_str(),
                        timestamp(now),
                        feed.schedule.next_after(now).map(timestamp)
                    ],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                listed.insert(id);
                if created {
                    sync.added += 1;
                }
            }
            let mut enabled =
                tx.prepare_cached("SELECT id FROM feeds WHERE enabled = 1 AND origin = 'config'")?;
            let ids = enabled
                .query_map([], |row| row.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut disable = tx.prepare_cached("UPDATE feeds SET enabled = 0 WHERE id = ?1")?;
            for id in ids.into_iter().filter(|id| !listed.contains(id)) {
                disable.execute([id])?;
                sync.disabled += 1;
            }
        }
        tx.commit()?;
        Ok(sync)
    }

    const FEED_SOURCE_COLUMNS: &'static str =
        "id, url, name, schedule, etag, last_modified, body_hash,
         consecutive_failures, failing_since, redirect_to, redirect_seen, next_check_at";

    fn feed_sources(
        &self,
        where_clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<FeedSource>, StoreError> {
        let sql = format!(
            "SELECT {} FROM feeds WHERE {where_clause} ORDER BY next_check_at IS NOT NULL, next_check_at, id",
            Self::FEED_SOURCE_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params, |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                (
                    row.get::<_, i64>(7)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<String>>(9)?,
                    row.get::<_, i64>(10)?,
                    row.get::<_, Option<String>>(11)?,
                ),
            ))
        })?;
        let mut feeds = Vec::new();
        for row in rows {
            let (id, url, name, schedule, etag, last_modified, body_hash, health) = row?;
            let (consecutive_failures, failing_since, redirect_to, redirect_seen, due_at) = health;
            // A URL that no longer parses (edited by hand in the database) is skipped with a
            // warning rather than stopping the poll of every other feed.
            match Url::parse(&url) {
                Ok(url) => feeds.push(FeedSource {
                    id,
                    url,
                    name,
                    schedule,
                    etag,
                    last_modified,
                    body_hash,
                    consecutive_failures: consecutive_failures.clamp(0, i64::from(u32::MAX)) as u32,
                    failing_since: failing_since.as_deref().map(parse_time),
                    redirect_to,
                    redirect_seen: redirect_seen.clamp(0, i64::from(u32::MAX)) as u32,
                    due_at: due_at.as_deref().map(parse_time),
                }),
                Err(e) => {
                    tracing::warn!(
                        feed_id = id,
                        url,
                        "feed URL in the database is not a URL: {e}"
                    )
                }
            }
        }
        Ok(feeds)
    }

    /// Every enabled feed.
    pub fn enabled_feeds(&self) -> Result<Vec<FeedSource>, StoreError> {
        self.feed_sources("enabled = 1 AND state <> 'gone'", [])
    }

    /// Enabled feeds whose next check time has come (or that were never checked).
    pub fn due_feeds(&self, now: DateTime<Utc>) -> Result<Vec<FeedSource>, StoreError> {
        self.feed_sources(
            "enabled = 1 AND state <> 'gone' AND (next_check_at IS NULL OR next_check_at <= ?1)",
            [timestamp(now)],
        )
    }

    /// The earliest next check time among enabled feeds other than `exclude` (the ones being
    /// refreshed right now); `None` when there are none. A never-checked feed counts as due now.
    pub fn next_due_at_excluding(
        &self,
        now: DateTime<Utc>,
        exclude: &HashSet<i64>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, next_check_at FROM feeds WHERE enabled = 1 AND state <> 'gone'
             ORDER BY next_check_at IS NOT NULL, next_check_at",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            if exclude.contains(&id) {
                continue;
            }
            let next: Option<String> = row.get(1)?;
            return Ok(Some(
                next.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or(now),
            ));
        }
        Ok(None)
    }

    /// Stores a poll that brought a parsed document: its entries (new, updated, duplicate),
    /// their classifications, the fetch history row and the feed's health, in one transaction.
    pub fn store_poll(
        &mut self,
        feed: &FeedSource,
        fetch: &FetchRecord,
        body_hash: &str,
        parsed: &ParsedFeed,
        entries: &[ClassifiedEntry],
    ) -> Result<StoreOutcome, StoreError> {
        let poll = PollRef {
            feed,
            fetch,
            body_hash,
            parsed,
            entries,
        };
        let outcomes = self.store_polls_of(&[poll])?;
        Ok(outcomes.first().copied().unwrap_or_default())
    }

    /// Stores several polls in one transaction: one commit and one full-text index segment
    /// for them all. Returns each poll's outcome, in order; on `Err` nothing of any of them is
    /// kept (store them one by one to learn which failed). No savepoint per poll: SQLite
    /// copies every page a savepoint's statements first touch into its journal, measured at
    /// 12 % of the CPU time of a cold poll.
    pub fn store_polls(&mut self, polls: &[PolledFeed]) -> Result<Vec<StoreOutcome>, StoreError> {
        let polls: Vec<PollRef<'_>> = polls.iter().map(PolledFeed::as_ref).collect();
        self.store_polls_of(&polls)
    }

    fn store_polls_of(&mut self, polls: &[PollRef<'_>]) -> Result<Vec<StoreOutcome>, StoreError> {
        self.ensure_unmoved()?;
        self.stories.begin_write();
        let stored = self.store_polls_tx(polls);
        if stored.is_err() {
            // Rolled back: the story index may hold ids of items that are not stored.
            self.stories.clear();
        }
        self.stories.end_write();
        stored
    }

    fn store_polls_tx(&mut self, polls: &[PollRef<'_>]) -> Result<Vec<StoreOutcome>, StoreError> {
        let tx = self.conn.transaction()?;
        // A new item's story row names the item before the item row is written (see
        // `store_entry`); the constraints are checked at commit. The pragma ends with the
        // transaction.
        tx.pragma_update(None, "defer_foreign_keys", "ON")?;
        notice_other_writers(&tx, &mut self.data_version, &mut self.stories)?;
        let prepared = Prepared::new(&tx);
        let plans = plan_entries(&prepared, polls, &self.story_rules, &mut self.stories)?;
        let outcomes = polls
            .iter()
            .zip(plans)
            .map(|(poll, plans)| {
                store_one_poll(&prepared, poll, plans, &self.story_rules, &mut self.stories)
            })
            .collect::<Result<Vec<_>, _>>()?;
        drop(prepared);
        full_text::index_if_due(&tx, self.full_text_batch)?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// Stores a poll that needed no parse: a 304, or a body identical to the last one.
    pub fn store_unchanged(
        &mut self,
        feed: &FeedSource,
        fetch: &FetchRecord,
        outcome_name: &str,
    ) -> Result<(), StoreError> {
        self.store_unchanged_all(&[(feed, fetch, outcome_name)])
    }

    /// Stores several polls that needed no parse in one transaction (a re-poll of feeds that
    /// answer 304 commits once for the many that queue up, not once each). On `Err` nothing of
    /// any of them is kept.
    pub fn store_unchanged_all(
        &mut self,
        polls: &[(&FeedSource, &FetchRecord, &str)],
    ) -> Result<(), StoreError> {
        self.ensure_unmoved()?;
        let tx = self.conn.transaction()?;
        for &(feed, fetch, outcome_name) in polls {
            // Cached, as every statement of an unchanged poll: a re-poll of 1,000 feeds that
            // all answer 304 runs them 1,000 times, and SQLite's parser showed in its profile.
            tx.prepare_cached(
                "UPDATE feeds SET etag = COALESCE(?2, etag), last_modified = COALESCE(?3, last_modified)
                  WHERE id = ?1",
            )?
            .execute(params![feed.id, fetch.etag, fetch.last_modified])?;
            record_success(&tx, feed, fetch)?;
            insert_fetch(
                &tx,
                feed.id,
                fetch,
                outcome_name,
                &StoreOutcome::default(),
                None,
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a failed poll: the fetch history row and the feed's failure count and error.
    /// Nothing already stored for the feed is touched.
    pub fn store_failure(
        &mut self,
        feed: &FeedSource,
        fetch: &FetchRecord,
        error: &str,
    ) -> Result<(), StoreError> {
        let now = timestamp(fetch.started_at);
        self.ensure_unmoved()?;
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "UPDATE feeds SET last_checked_at = ?2, next_check_at = ?3,
                    consecutive_failures = consecutive_failures + 1, last_error = ?4,
                    state = ?5, failing_since = ?6
              WHERE id = ?1",
        )?
        .execute(params![
            feed.id,
            now,
            timestamp(fetch.next_check_at),
            error,
            fetch.state.as_str(),
            fetch.failing_since.map(timestamp)
        ])?;
        insert_fetch(
            &tx,
            feed.id,
            fetch,
            "error",
            &StoreOutcome::default(),
            Some(error),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Every feed with its health, from the `feed_health` view.
    pub fn feed_health(&self) -> Result<Vec<FeedHealth>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, url, enabled, state, last_success_at, last_checked_at,
                    next_check_at, consecutive_failures, last_error, items, origin
               FROM feed_health ORDER BY enabled DESC, name",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(FeedHealth {
                id: row.get(0)?,
                name: row.get(1)?,
                url: row.get(2)?,
                enabled: row.get(3)?,
                state: row.get(4)?,
                last_success_at: row.get(5)?,
                last_checked_at: row.get(6)?,
                next_check_at: row.get(7)?,
                consecutive_failures: row.get(8)?,
                last_error: row.get(9)?,
                items: row.get(10)?,
                origin: row.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Full-text search over titles and text, best match first. The query uses SQLite FTS5
    /// syntax (`"exact phrase"`, `a OR b`, `title:erbil`); text that is not valid FTS5 syntax
    /// (such as `US-Iraq`) is searched as plain words instead.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(StoreError::Search {
                query: query.to_string(),
                reason: "it is empty".to_string(),
            });
        }
        self.search_fts(&fts_query(query), limit)
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(_, Some(reason)) => StoreError::Search {
                    query: query.to_string(),
                    reason,
                },
                e => e.into(),
            })
    }

    fn search_fts(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, rusqlite::Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.id, i.title, i.url, COALESCE(i.published_at, i.first_seen_at),
                    snippet(items_fts, 1, '[', ']', '…', 16)
               FROM items_fts JOIN items i ON i.id = items_fts.rowid
              WHERE items_fts MATCH ?1
              ORDER BY rank LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![query, limit as i64], |row| {
            Ok(SearchHit {
                id: row.get(0)?,
                title: row.get(1)?,
                url: row.get(2)?,
                published_at: row.get(3)?,
                snippet: row.get(4)?,
            })
        })?;
        rows.collect()
    }

    /// Up to `limit` items, after `after_id`, whose classification for `topic` is missing or
    /// was made by another classifier version than `version`: (id, title, text).
    pub fn items_to_reclassify(
        &self,
        topic: &str,
        version: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT i.id, i.title, i.content_text FROM items i
              LEFT JOIN classifications c ON c.item_id = i.id AND c.topic = ?1
              WHERE i.id > ?3 AND (c.classifier IS NULL OR c.classifier <> ?2)
              ORDER BY i.id LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![topic, version, after_id, limit as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores new classifications of existing items, in one transaction.
    pub fn store_classifications(
        &mut self,
        scored: &[(i64, Vec<StoredClassification>)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let now = timestamp(now);
        let tx = self.conn.transaction()?;
        let prepared = Prepared::new(&tx);
        for (item_id, classifications) in scored {
            write_classifications(&prepared, *item_id, classifications, &now, Rows::Replacing)?;
        }
        drop(prepared);
        tx.commit()?;
        Ok(())
    }

    /// The items of a merged feed: classified for `query.topic` with at least `min_score`
    /// (the query's, else `threshold`), newest first (published, else first seen), with the
    /// feeds that carried each.
    pub fn feed_items(
        &self,
        query: &FeedQuery,
        threshold: f64,
    ) -> Result<Vec<FeedItem>, StoreError> {
        // An entry's identity: the canonical URL, else the first carrying feed's URL and entry
        // key. A story's entry takes its representative's, so it stays as members join.
        let identity = |alias: &str| {
            format!(
                "COALESCE({alias}.canonical_url,
                          (SELECT f.url || ' ' || s.entry_key FROM item_sources s JOIN feeds f ON f.id = s.feed_id
                            WHERE s.item_id = {alias}.id ORDER BY s.first_seen_at, s.feed_id LIMIT 1))"
            )
        };
        let mut sql = format!(
            "SELECT i.id, {}, i.url, i.title, i.author, i.summary, i.content_html, i.content_text,
                    COALESCE(i.published_at, i.first_seen_at),
                    COALESCE(i.updated_at, i.last_changed_at),
                    i.categories, c.topic, c.score, c.subtopics, i.story_id,
                    (SELECT st.representative_item_id FROM stories st WHERE st.id = i.story_id),
                    (SELECT {} FROM stories st JOIN items r ON r.id = st.representative_item_id
                      WHERE st.id = i.story_id)
               FROM classifications c JOIN items i ON i.id = c.item_id
              WHERE c.topic = :topic AND c.score >= :min_score",
            identity("i"),
            identity("r")
        );
        let min_score = query.min_score.unwrap_or(threshold);
        let since = query.since.map(timestamp);
        let mut named: Vec<(&str, &dyn rusqlite::ToSql)> =
            vec![(":topic", &query.topic), (":min_score", &min_score)];
        if let Some(source) = &query.source {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM item_sources s JOIN feeds f ON f.id = s.feed_id
                               WHERE s.item_id = i.id
                                 AND (f.name = :source OR f.url = :source OR CAST(f.id AS TEXT) = :source))",
            );
            named.push((":source", source));
        }
        if let Some(since) = &since {
            sql.push_str(" AND COALESCE(i.published_at, i.first_seen_at) >= :since");
            named.push((":since", since));
        }
        if let Some(subtopic) = &query.subtopic {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM json_each(c.subtopics) WHERE value = :subtopic)",
            );
            named.push((":subtopic", subtopic));
        }
        let q = query.q.as_deref().map(fts_query);
        if let Some(q) = &q {
            sql.push_str(" AND i.id IN (SELECT rowid FROM items_fts WHERE items_fts MATCH :q)");
            named.push((":q", q));
        }
        sql.push_str(
            " ORDER BY COALESCE(i.published_at, i.first_seen_at) DESC, i.id DESC LIMIT :limit",
        );
        let limit = query.limit as i64;
        named.push((":limit", &limit));

        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(named.as_slice(), |row| {
            let categories: String = row.get(10)?;
            let subtopics: String = row.get(13)?;
            Ok(FeedItem {
                id: row.get(0)?,
                identity: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                url: row.get(2)?,
                title: row.get(3)?,
                author: row.get(4)?,
                summary: row.get(5)?,
                content_html: row.get(6)?,
                text: row.get(7)?,
                published: parse_time(&row.get::<_, String>(8)?),
                updated: parse_time(&row.get::<_, String>(9)?),
                categories: serde_json::from_str(&categories).unwrap_or_default(),
                topic: row.get(11)?,
                score: row.get(12)?,
                subtopics: serde_json::from_str(&subtopics).unwrap_or_default(),
                sources: Vec::new(),
                story_id: row.get(14)?,
                also_reported_by: Vec::new(),
            })
            .map(|item| {
                let representative: Option<i64> = row.get(15).ok().flatten();
                let story_identity: Option<String> = row.get(16).ok().flatten();
                (item, representative, story_identity)
            })
        });
        let rows = match rows {
            Ok(rows) => rows.collect::<Result<Vec<_>, _>>(),
            Err(e) => Err(e),
        }
        .map_err(|e| match (&e, &query.q) {
            (rusqlite::Error::SqliteFailure(_, Some(reason)), Some(q)) => StoreError::Search {
                query: q.clone(),
                reason: reason.clone(),
            },
            _ => StoreError::Sqlite(e),
        })?;
        let mut items = if query.stories {
            one_entry_per_story(rows, query.limit)
        } else {
            rows.into_iter().map(|(item, _, _)| item).collect()
        };
        let mut sources = self.conn.prepare_cached(
            "SELECT COALESCE(f.name, f.title, f.url), f.url, f.site_url, s.url
               FROM item_sources s JOIN feeds f ON f.id = s.feed_id
              WHERE s.item_id = ?1 ORDER BY s.first_seen_at, f.id",
        )?;
        for item in &mut items {
            item.sources = sources
                .query_map([item.id], item_source)?
                .collect::<Result<_, _>>()?;
        }
        if query.stories {
            let mut members = self.conn.prepare_cached(
                "SELECT COALESCE(f.name, f.title, f.url), f.url, f.site_url, s.url
                   FROM items m JOIN item_sources s ON s.item_id = m.id JOIN feeds f ON f.id = s.feed_id
                  WHERE m.story_id = ?1 AND m.id <> ?2
                  ORDER BY COALESCE(m.published_at, m.first_seen_at), m.id",
            )?;
            for item in &mut items {
                let Some(story_id) = item.story_id else {
                    continue;
                };
                item.also_reported_by = members
                    .query_map(params![story_id, item.id], item_source)?
                    .collect::<Result<_, _>>()?;
            }
        }
        Ok(items)
    }

    /// When any feed was last checked, if ever.
    pub fn last_poll_at(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT max(last_checked_at) FROM feeds", [], |row| {
                row.get(0)
            })?)
    }

    /// Items without a story yet (stored before stories existed): (id, title, text, published),
    /// up to `limit`, after `after_id`.
    pub fn items_without_story(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, title, content_text, COALESCE(published_at, first_seen_at) FROM items
              WHERE story_id IS NULL AND id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after_id, limit as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Puts stored items into stories, in one transaction.
    pub fn assign_stories(
        &mut self,
        items: &[(i64, StoryPrint, String)],
    ) -> Result<(), StoreError> {
        self.stories.begin_write();
        let assigned = self.assign_stories_tx(items);
        if assigned.is_err() {
            // Rolled back: the story index may hold ids of items that are not stored.
            self.stories.clear();
        }
        self.stories.end_write();
        assigned
    }

    fn assign_stories_tx(&mut self, items: &[(i64, StoryPrint, String)]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        notice_other_writers(&tx, &mut self.data_version, &mut self.stories)?;
        let prepared = Prepared::new(&tx);
        for (item_id, print, published) in items {
            assign_story(
                &prepared,
                *item_id,
                print,
                published,
                &self.story_rules,
                &mut self.stories,
            )?;
        }
        drop(prepared);
        tx.commit()?;
        Ok(())
    }

    /// The story an item would join, if any: (story id, its representative's title,
    /// similarity). For `tigris inspect`.
    pub fn story_for(
        &mut self,
        print: &StoryPrint,
        published: DateTime<Utc>,
    ) -> Result<Option<(i64, String, f64)>, StoreError> {
        // Each entry of an inspected document is looked up in the days already loaded.
        self.stories.settle();
        notice_other_writers(&self.conn, &mut self.data_version, &mut self.stories)?;
        let Some((story_id, similarity)) = find_story(
            &self.conn,
            print,
            &timestamp(published),
            -1,
            &self.story_rules,
            &mut self.stories,
        )?
        else {
            return Ok(None);
        };
        let title: String = self.conn.query_row(
            "SELECT i.title FROM stories s JOIN items i ON i.id = s.representative_item_id WHERE s.id = ?1",
            [story_id],
            |row| row.get(0),
        )?;
        Ok(Some((story_id, title, similarity)))
    }

    /// Stories with an item published at or after `since`, most items first.
    pub fn stories(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<StorySummary>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.id, i.title, i.url, s.member_count,
                    (SELECT count(DISTINCT src.feed_id) FROM items m JOIN item_sources src ON src.item_id = m.id
                      WHERE m.story_id = s.id),
                    s.first_published_at, s.last_published_at
               FROM stories s JOIN items i ON i.id = s.representative_item_id
              WHERE s.last_published_at >= ?1
              ORDER BY s.member_count DESC, s.last_published_at DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![timestamp(since), limit as i64], |row| {
            Ok(StorySummary {
                id: row.get(0)?,
                title: row.get(1)?,
                url: row.get(2)?,
                items: row.get(3)?,
                outlets: row.get(4)?,
                first_published_at: row.get(5)?,
                last_published_at: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Indexes the items waiting for the full-text index, then writes the WAL back into the
    /// main file and truncates it; run at shutdown (and at the end of `tigris poll`) so the
    /// database is one self-contained file, every item searchable, when tigris is not running.
    pub fn checkpoint(&mut self) -> Result<(), StoreError> {
        // The checkpoint thread copies the WAL's committed frames while this connection fills
        // the index, so that the last checkpoint copies only the index's pages.
        if let Some(checkpointer) = &self.checkpointer {
            let _ = checkpointer.nudge.try_send(());
        }
        self.index_waiting()?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// From now on the WAL is copied back into the database file by a thread with a
    /// connection of its own, each time commits have added `WAL_STEP` bytes to it, instead of
    /// by this connection inside a commit: those checkpoints and their fsyncs were 7 % of the
    /// store's time in a cold poll, spent while the polls behind it waited. The thread ends
    /// with this connection.
    pub fn checkpoint_in_background(&mut self) -> Result<(), StoreError> {
        // 16 MiB (4,096 pages of 4 KiB; the WAL counts in pages of the file's size, which is
        // `PAGE_SIZE` in databases tigris creates, 4 KiB in older ones). A checkpoint fsyncs
        // the WAL and the database file and copies every page the WAL holds a newer version
        // of, so checkpointing at every commit once the WAL held SQLite's automatic threshold
        // (1,000 pages) meant 199 fsyncs in a cold poll of the benchmark farm (`strace -f -c`,
        // with 217,153 `pwrite` calls), copying again each time the pages many transactions
        // rewrite; every 4,096 pages: 44 fsyncs
        // (207,072 `pwrite` calls), and system CPU 1.15 -> 1.00 s (medians of 10 interleaved
        // runs; the wall time within the machine's noise). The writer's own checkpoint at
        // `WAL_CAP` finds at most this much left to copy.
        const WAL_STEP: i64 = 16 << 20;
        // 128 MiB. A cold poll of 1,000 feeds x 50 items took 6.7 s with this
        // cap (the WAL peaked at 142 MB), 7.5 s with 32 MiB (40 MB), 8.3 s with SQLite's
        // own checkpoints: a checkpoint's cost is mostly per page, and the bigger the WAL
        // between two, the fewer times a page rewritten by many transactions is copied.
        const WAL_CAP: i64 = 128 << 20;
        // While polls are stored, a WAL that starts again from its beginning keeps its size
        // (twice the cap, for the transaction that crosses it), so that its pages are written
        // over in place: cut back to 32 MiB at each restart, the file was extended again
        // block by block and the page cache refilled. Interleaved cold polls of the benchmark
        // farm, 4 each: system CPU 2.38 -> 1.94 s, wall 6.31 -> 5.75 s. The file is emptied
        // once the writer is idle instead (`settle_wal`).
        const WAL_KEPT: i64 = 2 * WAL_CAP;
        let open_err = |source| StoreError::Open {
            path: self.path.clone(),
            source,
        };
        let page_size: i64 = self
            .conn
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .map_err(open_err)?;
        let in_pages = |bytes: i64| (bytes / page_size.max(512)) as std::ffi::c_int;
        let (wal_step, wal_cap) = (in_pages(WAL_STEP), in_pages(WAL_CAP));
        let checkpointer = Connection::open(&self.path).map_err(open_err)?;
        checkpointer.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        self.conn
            .pragma_update(None, "journal_size_limit", WAL_KEPT)
            .map_err(open_err)?;
        let (nudge, nudged) = std::sync::mpsc::sync_channel::<()>(1);
        let handle = Checkpointer {
            nudge,
            truncate: Arc::default(),
        };
        let truncate = handle.truncate.clone();
        let path = self.path.clone();
        std::thread::Builder::new()
            .name("tigris-checkpoint".into())
            .spawn(move || {
                while nudged.recv().is_ok() {
                    if truncate.swap(false, Ordering::Relaxed) {
                        empty_wal(&checkpointer, &path);
                    } else if let Err(e) =
                        // PASSIVE: never waits for the writer or a reader; copies what it can.
                        checkpointer.query_row(
                            "PRAGMA wal_checkpoint(PASSIVE)",
                            [],
                            |_| Ok(()),
                        )
                    {
                        tracing::warn!(database = %path.display(), "WAL checkpoint failed: {e}");
                    }
                }
            })
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the checkpoint thread: {e}"))
            })?;
        let nudge = handle.nudge.clone();
        self.checkpointer = Some(handle);
        // Replaces SQLite's automatic checkpoint (itself a WAL hook) on this connection.
        // The WAL's size at the last nudge; `pages` counts from the WAL's start, which a
        // checkpoint that copied everything lets the next transaction write over.
        let mut nudged_at: std::ffi::c_int = 0;
        self.conn
            .wal_hook(Some(move |wal: &mut rusqlite::hooks::Wal, pages| {
                if pages < nudged_at {
                    nudged_at = 0;
                }
                if pages >= wal_cap {
                    // The WAL starts again from its beginning only once a checkpoint has copied
                    // all of it before the next write: under a steady stream of commits the
                    // other thread never quite catches up (the WAL of a cold poll of 1,000
                    // feeds grew to 600 MB), so past the cap this connection finishes the job
                    // between two of its own transactions. Busy (the other thread is at it)
                    // is fine: the next commit tries again.
                    let _ = wal.checkpoint();
                } else if pages - nudged_at >= wal_step {
                    nudged_at = pages;
                    let _ = nudge.try_send(());
                }
                Ok(())
            }))
            .map_err(open_err)?;
        Ok(())
    }

    /// Called when the writer has nothing more to store for now: the checkpoint thread copies
    /// what is left of the WAL into the database file and empties the WAL file, which a large
    /// poll left at up to 256 MiB. It gives up at once, to try again at the next idle moment,
    /// when a reader still holds an older snapshot or a write has begun. Nothing to do when
    /// the WAL file is empty already.
    pub fn settle_wal(&self) {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        if std::fs::metadata(&wal).map_or(true, |m| m.len() == 0) {
            return;
        }
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.truncate.store(true, Ordering::Relaxed);
            // A nudge already waiting reads the flag.
            let _ = checkpointer.nudge.try_send(());
        }
    }
}

/// Copies the whole WAL into the database file and empties the WAL file, without waiting
/// for anyone (`Store::settle_wal`).
fn empty_wal(conn: &Connection, path: &Path) {
    let result = conn.busy_timeout(Duration::ZERO).and_then(|()| {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        })
    });
    match result {
        Ok(0) => tracing::debug!(database = %path.display(), "WAL file emptied"),
        // A reader on an older snapshot, or a write begun since.
        Ok(_) => tracing::debug!(database = %path.display(), "WAL file in use; left as it is"),
        Err(e) => tracing::warn!(database = %path.display(), "WAL checkpoint failed: {e}"),
    }
    if let Err(e) = conn.busy_timeout(BUSY_TIMEOUT) {
        tracing::warn!(database = %path.display(), "cannot restore the busy timeout: {e}");
    }
}

/// A row of (feed name, feed URL, site URL, item URL) as an item's source.
fn item_source(row: &rusqlite::Row<'_>) -> rusqlite::Result<ItemSource> {
    Ok(ItemSource {
        feed_name: row.get(0)?,
        feed_url: row.get(1)?,
        site_url: row.get(2)?,
        item_url: row.get(3)?,
    })
}

/// Keeps one entry per story, in feed order: the story's representative when it is among the
/// rows, else its newest member; the entry takes the story's identity, so its id does not
/// change as members join. Items without a story stand alone.
fn one_entry_per_story(
    rows: Vec<(FeedItem, Option<i64>, Option<String>)>,
    limit: usize,
) -> Vec<FeedItem> {
    let mut entries: Vec<FeedItem> = Vec::new();
    // Story id → (its entry's position, whether the entry is the representative).
    let mut placed: std::collections::HashMap<i64, (usize, bool)> =
        std::collections::HashMap::new();
    for (mut item, representative, story_identity) in rows {
        let Some(story_id) = item.story_id else {
            entries.push(item);
            continue;
        };
        let is_representative = representative == Some(item.id);
        if let Some(identity) = story_identity {
            item.identity = identity;
        }
        match placed.get(&story_id) {
            None => {
                placed.insert(story_id, (entries.len(), is_representative));
                entries.push(item);
            }
            // The representative arrives after a newer member: it takes the story's place.
            Some(&(at, false)) if is_representative => {
                entries[at] = item;
                placed.insert(story_id, (at, true));
            }
            Some(_) => {}
        }
    }
    entries.truncate(limit);
    entries
}

/// A user's search text as an FTS5 query: `"quoted phrases"` stay phrases, `OR`, `AND`,
/// `NOT` and plain words (with an optional trailing `*`) stand, and any other word (such as
/// `US-Iraq` or `al-Asad`, which FTS5 would read as syntax) is quoted, so it is searched as
/// the words it contains. Written by hand: it is the glue between what people type and
/// SQLite's query grammar.
pub fn fts_query(text: &str) -> String {
    let mut parts = Vec::new();
    for (i, segment) in text.split('"').enumerate() {
        if i % 2 == 1 {
            // Inside quotes (an unbalanced last quote is read as closed).
            if !segment.trim().is_empty() {
                parts.push(format!("\"{}\"", segment.trim()));
            }
            continue;
        }
        for word in segment.split_whitespace() {
            let bare = word.trim_end_matches('*');
            if !bare.is_empty() && bare.chars().all(char::is_alphanumeric) {
                parts.push(word.to_string());
            } else {
                parts.push(format!("\"{}\"", word.replace('*', "")));
            }
        }
    }
    parts.join(" ")
}

/// Days since 1970-01-01 (UTC): the story index's first column.
fn day_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(86_400)
}

fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

enum EntryFate {
    New,
    Updated,
    Unchanged,
    Duplicate,
}

/// One poll's document, as `store_polls` takes it.
#[derive(Debug)]
pub struct PolledFeed {
    pub feed: FeedSource,
    pub fetch: FetchRecord,
    /// SHA-256 of the body, to skip parsing an identical one next time.
    pub body_hash: String,
    pub parsed: ParsedFeed,
    pub entries: Vec<ClassifiedEntry>,
}

impl PolledFeed {
    fn as_ref(&self) -> PollRef<'_> {
        PollRef {
            feed: &self.feed,
            fetch: &self.fetch,
            body_hash: &self.body_hash,
            parsed: &self.parsed,
            entries: &self.entries,
        }
    }
}

struct PollRef<'a> {
    feed: &'a FeedSource,
    fetch: &'a FetchRecord,
    body_hash: &'a str,
    parsed: &'a ParsedFeed,
    entries: &'a [ClassifiedEntry],
}

/// What a transaction's first pass (`plan_entries`) found out about an entry of a poll.
enum Plan {
    /// Pruned by retention; the feed still lists it.
    Tombstoned,
    /// Stored already under the feed's key.
    Stored { item_id: i64, content_hash: String },
    /// Not stored yet, with the first half of its story search.
    New(Found),
}

/// Looks up every entry of the transaction's polls, and searches the story index for all new
/// ones at once (`search_stories`), before any is written. The story search is a quarter of
/// the store writer's time on the benchmark farm's cold poll, and unlike the writes it can run
/// on several cores. An entry's search is finished as it is stored (`StoryIndex::similar_from`,
/// with the items stored since), so it finds what a search at that moment would.
fn plan_entries(
    conn: &Prepared<'_>,
    polls: &[PollRef<'_>],
    rules: &StoryRules,
    stories: &mut StoryIndex,
) -> Result<Vec<Vec<Plan>>, StoreError> {
    // One lookup for the whole pass: no day its searches load evicts another they need.
    stories.tick();
    let mut plans = Vec::with_capacity(polls.len());
    let mut searches = Vec::new();
    for poll in polls {
        let now = timestamp(poll.fetch.started_at);
        let mut poll_plans = Vec::with_capacity(poll.entries.len());
        // A feed with no entry stored or pruned yet (each feed in a first poll) has none of
        // its entries to look up: two index seeks for the feed instead of two an entry.
        let fresh = !conn
            .cached(
                "SELECT EXISTS (SELECT 1 FROM item_sources WHERE feed_id = ?1)
                     OR EXISTS (SELECT 1 FROM tombstones WHERE feed_id = ?1)",
            )?
            .query_row([poll.feed.id], |row| row.get::<_, bool>(0))?;
        for entry in poll.entries {
            let keyed = &entry.keyed;
            if !fresh && is_tombstoned(conn, poll.feed.id, &keyed.entry_key)? {
                poll_plans.push(Some(Plan::Tombstoned));
                continue;
            }
            let known: Option<(i64, String)> = if fresh {
                None
            } else {
                conn.cached(
                    "SELECT item_id, content_hash FROM item_sources WHERE feed_id = ?1 AND entry_key = ?2",
                )?
                .query_row(params![poll.feed.id, keyed.entry_key], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?
            };
            poll_plans.push(known.map(|(item_id, content_hash)| Plan::Stored {
                item_id,
                content_hash,
            }));
            if poll_plans.last().is_some_and(Option::is_none) {
                let published = parse_time(&story_published(entry, &now));
                stories.load_window(conn, published, rules)?;
                searches.push((&entry.print, published));
            }
        }
        plans.push(poll_plans);
    }
    let mut found = search_stories(stories, &searches, rules).into_iter();
    Ok(plans
        .into_iter()
        .map(|poll_plans| {
            poll_plans
                .into_iter()
                .map(|plan| plan.unwrap_or_else(|| Plan::New(found.next().unwrap_or_default())))
                .collect()
        })
        .collect())
}

/// `StoryIndex::search` for each of `searches`, in order, on this thread and one more per
/// other core (up to 4 in all). The threads take the next few searches as they get to them:
/// the store writer does not wait for a helper that the parse threads keep from its core. A
/// few searches are not worth a thread.
fn search_stories(
    stories: &StoryIndex,
    searches: &[(&StoryPrint, DateTime<Utc>)],
    rules: &StoryRules,
) -> Vec<Found> {
    const SHARE: usize = 8;
    // Asked once: the standard library reads the process's cgroup files each time (an open,
    // a read and a close, at every transaction: 0.3 % of the store writer's CPU samples).
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads =
        (*CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))).min(4);
    if threads < 2 || searches.len() < 8 * SHARE {
        return searches
            .iter()
            .map(|(print, published)| stories.search(print, *published, rules))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let from = next.fetch_add(SHARE, Ordering::Relaxed);
            if from >= searches.len() {
                return done;
            }
            for (i, (print, published)) in searches.iter().enumerate().skip(from).take(SHARE) {
                done.push((i, stories.search(print, *published, rules)));
            }
        }
    };
    let mut found = std::thread::scope(|scope| {
        // A helper that cannot be started leaves its share to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("tigris-stories".into())
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        let mut found = work();
        for helper in helpers {
            match helper.join() {
                Ok(theirs) => found.extend(theirs),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        found
    });
    found.sort_unstable_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, found)| found).collect()
}

/// The publication time an item's story is reckoned by: its own, or when it was first seen.
fn story_published(entry: &ClassifiedEntry, now: &str) -> String {
    entry
        .keyed
        .entry
        .published
        .map(timestamp)
        .unwrap_or_else(|| now.to_string())
}

/// Stores one poll's entries, the feed's new state and its fetch history row.
fn store_one_poll(
    conn: &Prepared<'_>,
    poll: &PollRef<'_>,
    plans: Vec<Plan>,
    rules: &StoryRules,
    stories: &mut StoryIndex,
) -> Result<StoreOutcome, StoreError> {
    let PollRef {
        feed,
        fetch,
        body_hash,
        parsed,
        entries,
    } = poll;
    let now = timestamp(fetch.started_at);
    let mut outcome = StoreOutcome::default();
    for (entry, plan) in entries.iter().zip(plans) {
        match store_entry(conn, feed.id, entry, plan, &now, rules, stories)? {
            EntryFate::New => outcome.new += 1,
            EntryFate::Updated => outcome.updated += 1,
            EntryFate::Unchanged => outcome.unchanged += 1,
            EntryFate::Duplicate => outcome.duplicate += 1,
        }
    }
    conn.prepare_cached(
        "UPDATE feeds SET title = COALESCE(?2, title), site_url = COALESCE(?3, site_url),
                etag = ?4, last_modified = ?5, body_hash = ?6
          WHERE id = ?1",
    )?
    .execute(params![
        feed.id,
        parsed.title,
        parsed.site_url,
        fetch.etag,
        fetch.last_modified,
        body_hash,
    ])?;
    record_success(conn, feed, fetch)?;
    insert_fetch(conn, feed.id, fetch, "ok", &outcome, None)?;
    Ok(outcome)
}

/// The statements a transaction runs for each entry, each prepared (or taken from rusqlite's
/// cache) once a transaction and held until it ends. `prepare_cached` finds a statement by
/// its SQL text and puts it back after each use: two hashes of the text and a copy of it a
/// statement, nine statements a new item (1.4 % of all CPU samples in the benchmark farm's
/// cold poll, on the store writer's thread). Dereferences to the connection for everything
/// else.
struct Prepared<'c> {
    conn: &'c Connection,
    /// By the address and length of their SQL text (a `&'static str`).
    held: RefCell<Vec<((usize, usize), CachedStatement<'c>)>>,
    /// The inserts whose values SQLite reads in place (`write`), by their SQL text likewise.
    writes: RefCell<Vec<((usize, usize), Borrowing<'c>)>>,
    /// When the transaction began, as `timestamp` writes it: the time rows record as their
    /// creation (a new story's `created_at`). Read from the clock once a transaction instead of
    /// by `strftime('now')` in each insert (1.7 % of the store writer's samples in the
    /// benchmark farm's cold poll).
    began: String,
    /// The id the next new item gets: the one SQLite would give it (rowids without
    /// AUTOINCREMENT), read once a transaction and counted on from there, as only
    /// `store_entry` adds items while it is open (a `max(id)` query an item was 1.4 % of the
    /// store writer's CPU samples in the benchmark farm's cold poll).
    next_item_id: Cell<Option<i64>>,
}

/// A statement from `Prepared::cached`.
enum Held<'a, 'c> {
    Held(RefMut<'a, CachedStatement<'c>>),
    /// From rusqlite's cache, when a statement held is in use already.
    Cached(CachedStatement<'c>),
}

impl<'c> Prepared<'c> {
    fn new(conn: &'c Connection) -> Prepared<'c> {
        Prepared {
            conn,
            held: RefCell::new(Vec::new()),
            writes: RefCell::new(Vec::new()),
            began: timestamp(Utc::now()),
            next_item_id: Cell::new(None),
        }
    }

    /// The statement for `sql`, prepared on first use. Never waits or fails for a statement
    /// already in use (a caller holding one while it asks for another): that one comes from
    /// rusqlite's cache instead.
    fn cached(&self, sql: &'static str) -> rusqlite::Result<Held<'_, 'c>> {
        let key = (sql.as_ptr() as usize, sql.len());
        let Ok(mut held) = self.held.try_borrow_mut() else {
            return Ok(Held::Cached(self.conn.prepare_cached(sql)?));
        };
        let index = match held.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                held.push((key, self.conn.prepare_cached(sql)?));
                held.len() - 1
            }
        };
        Ok(Held::Held(RefMut::map(held, |held| &mut held[index].1)))
    }

    /// Runs the insert (or update) `sql` once with `values`, bound without a copy
    /// (`borrowing`); prepared on first use and held until the transaction ends.
    fn write(&self, sql: &'static str, values: &[Value<'_>]) -> rusqlite::Result<()> {
        let key = (sql.as_ptr() as usize, sql.len());
        // `execute` calls nothing back, so the list is never in use here; were it, a
        // statement of its own would do.
        let Ok(mut writes) = self.writes.try_borrow_mut() else {
            return Borrowing::prepare(self.conn, sql)?.execute(values);
        };
        let index = match writes.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                writes.push((key, Borrowing::prepare(self.conn, sql)?));
                writes.len() - 1
            }
        };
        writes[index].1.execute(values)
    }
}

impl<'c> std::ops::Deref for Prepared<'c> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl<'c> std::ops::Deref for Held<'_, 'c> {
    type Target = rusqlite::Statement<'c>;
    fn deref(&self) -> &Self::Target {
        match self {
            Held::Held(stmt) => stmt,
            Held::Cached(stmt) => stmt,
        }
    }
}

impl std::ops::DerefMut for Held<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        match self {
            Held::Held(stmt) => stmt,
            Held::Cached(stmt) => stmt,
        }
    }
}

/// Whether retention pruned this feed entry's item (see `tombstones`).
fn is_tombstoned(tx: &Prepared<'_>, feed_id: i64, entry_key: &str) -> Result<bool, StoreError> {
    Ok(tx
        .cached("SELECT 1 FROM tombstones WHERE feed_id = ?1 AND entry_key = ?2")?
        .exists(params![feed_id, entry_key])?)
}

/// Empties the band index and the fingerprint cache when another connection (a `tigris poll`
/// or `tigris prune` beside the daemon) has committed since this one last looked: it may have
/// stored or deleted items, and used a deleted item's id again. A writer calls it as its
/// transaction's first statement, so the version read is the one of the snapshot it reads.
fn notice_other_writers(
    conn: &Connection,
    seen: &mut Option<i64>,
    stories: &mut StoryIndex,
) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA data_version", [], |row| row.get(0))?;
    if seen.is_some_and(|seen| seen != version) {
        stories.clear();
    }
    *seen = Some(version);
    Ok(())
}

/// Deletes items with everything that hangs off them: sources, classifications and
/// fingerprints (by cascade), full-text rows (by trigger). The band index forgets the days
/// they were published on (read again from `story_prints` when next needed, so a rollback
/// leaves it right too). A story whose representative goes passes to its oldest remaining
/// member, so the story and its other items stay. With `tombstone_at`, each feed entry that
/// brought an item leaves a tombstone.
fn delete_items(
    tx: &Transaction<'_>,
    ids: &[i64],
    tombstone_at: Option<&str>,
    stories: &mut StoryIndex,
) -> Result<(), StoreError> {
    let mut tombstone = tx.prepare_cached(
        "INSERT OR IGNORE INTO tombstones (feed_id, entry_key, pruned_at)
         SELECT feed_id, entry_key, ?2 FROM item_sources WHERE item_id = ?1",
    )?;
    let mut story_of = tx.prepare_cached(
        "SELECT s.id, s.representative_item_id FROM items i JOIN stories s ON s.id = i.story_id
          WHERE i.id = ?1",
    )?;
    let mut next_representative =
        tx.prepare_cached("SELECT min(id) FROM items WHERE story_id = ?1 AND id <> ?2")?;
    let mut hand_over = tx.prepare_cached(
        "UPDATE stories SET representative_item_id = coalesce(?2, representative_item_id),
                member_count = max(member_count - 1, 1)
          WHERE id = ?1",
    )?;
    let mut published_of =
        tx.prepare_cached("SELECT published_at FROM story_prints WHERE item_id = ?1")?;
    let mut delete = tx.prepare_cached("DELETE FROM items WHERE id = ?1")?;
    for &id in ids {
        if let Some(at) = tombstone_at {
            tombstone.execute(params![id, at])?;
        }
        if let Some((story_id, representative)) = story_of
            .query_row([id], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
            })
            .optional()?
        {
            let successor: Option<i64> = if representative == id {
                next_representative.query_row(params![story_id, id], |row| row.get(0))?
            } else {
                None
            };
            // A representative with no successor takes its story with it (cascade).
            if representative != id || successor.is_some() {
                hand_over.execute(params![story_id, successor])?;
            }
        }
        let published: Option<String> =
            published_of.query_row([id], |row| row.get(0)).optional()?;
        if let Some(published) = published {
            stories.forget_day(day_of(parse_time(&published)));
        }
        delete.execute([id])?;
    }
    Ok(())
}

/// Stores one entry of one feed. The order of the lookups is the dedup rule: this feed's own
/// entry key first, then an item from another feed with the same canonical URL.
fn store_entry(
    tx: &Prepared<'_>,
    feed_id: i64,
    entry: &ClassifiedEntry,
    plan: Plan,
    now: &str,
    rules: &StoryRules,
    stories: &mut StoryIndex,
) -> Result<EntryFate, StoreError> {
    let keyed = &entry.keyed;
    let searched = match plan {
        Plan::Tombstoned => return Ok(EntryFate::Unchanged),
        Plan::Stored {
            item_id,
            content_hash,
        } => {
            if content_hash == keyed.content_hash {
                return Ok(EntryFate::Unchanged);
            }
            tx.cached(
                "UPDATE item_sources SET content_hash = ?3, url = ?4, last_seen_at = ?5
              WHERE feed_id = ?1 AND entry_key = ?2",
            )?
            .execute(params![
                feed_id,
                keyed.entry_key,
                keyed.content_hash,
                keyed.entry.url,
                now
            ])?;
            write_item(tx, ItemRow::Existing(item_id), entry, now)?;
            return Ok(EntryFate::Updated);
        }
        Plan::New(searched) => searched,
    };

    let same_story: Option<i64> = match &keyed.canonical_url {
        Some(canonical) => tx
            .cached(
                "SELECT id FROM items
                  WHERE canonical_url = ?1
                    AND NOT EXISTS (SELECT 1 FROM item_sources s
                                     WHERE s.item_id = items.id AND s.feed_id = ?2)
                  ORDER BY id LIMIT 1",
            )?
            .query_row(params![canonical, feed_id], |row| row.get(0))
            .optional()?,
        None => None,
    };
    let (item_id, fate) = match same_story {
        Some(item_id) => (item_id, EntryFate::Duplicate),
        None => {
            // The story is found, and written, before the item, so that the item row is
            // written once, with its story (an UPDATE rewrites the whole row, text and all).
            // The id is the one SQLite would give it (`Prepared::next_item_id`).
            let published = story_published(entry, now);
            let similar = stories.similar_from(
                tx,
                &entry.print,
                parse_time(&published),
                0,
                rules,
                searched,
            )?;
            let found = story_of_most_similar(tx, similar)?;
            let item_id: i64 = match tx.next_item_id.get() {
                Some(id) => id,
                None => tx
                    .cached("SELECT coalesce(max(id), 0) + 1 FROM items")?
                    .query_row([], |row| row.get(0))?,
            };
            let story_id = join_story(tx, item_id, &published, found)?;
            write_item(
                tx,
                ItemRow::New {
                    id: item_id,
                    story_id,
                },
                entry,
                now,
            )?;
            tx.next_item_id.set(Some(item_id + 1));
            index_print(
                tx,
                (item_id, story_id),
                &entry.print,
                &published,
                stories,
                Rows::New,
            )?;
            (item_id, EntryFate::New)
        }
    };
    tx.write(
        "INSERT INTO item_sources (item_id, feed_id, entry_key, guid, url, content_hash, first_seen_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        &[
            item_id.into(),
            feed_id.into(),
            (&keyed.entry_key).into(),
            (&keyed.entry.guid).into(),
            (&keyed.entry.url).into(),
            (&keyed.content_hash).into(),
            now.into(),
        ],
    )?;
    Ok(fate)
}

/// Which items row `write_item` writes.
enum ItemRow {
    /// A new row, with this id, in this story.
    New { id: i64, story_id: i64 },
    /// A stored item, edited by its feed (it stays in its story).
    Existing(i64),
}

/// Inserts or updates an item row and its classifications.
fn write_item(
    tx: &Prepared<'_>,
    row: ItemRow,
    entry: &ClassifiedEntry,
    now: &str,
) -> Result<(), StoreError> {
    let keyed = &entry.keyed;
    let e = &keyed.entry;
    let categories = &entry.categories_json;
    let published_at = e.published.map(timestamp);
    let updated_at = e.updated.map(timestamp);
    let mut values: Vec<Value<'_>> = vec![
        (&keyed.canonical_url).into(),
        (&e.url).into(),
        (&e.title).into(),
        (&e.author).into(),
        (&e.summary).into(),
        (&e.content_html).into(),
        (&e.text).into(),
        categories.into(),
        (&published_at).into(),
        (&updated_at).into(),
        (&keyed.content_hash).into(),
        now.into(),
    ];
    let item_id = match &row {
        ItemRow::New { id, story_id } => {
            values.push((*id).into());
            values.push((*story_id).into());
            tx.write(
                "INSERT INTO items (canonical_url, url, title, author, summary, content_html,
                                    content_text, categories, published_at, updated_at,
                                    content_hash, first_seen_at, last_changed_at, id, story_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14)",
                &values,
            )?;
            *id
        }
        ItemRow::Existing(id) => {
            values.push((*id).into());
            tx.write(
                "UPDATE items SET canonical_url = ?1, url = ?2, title = ?3, author = ?4,
                        summary = ?5, content_html = ?6, content_text = ?7, categories = ?8,
                        published_at = ?9, updated_at = ?10, content_hash = ?11,
                        last_changed_at = ?12
                  WHERE id = ?13",
                &values,
            )?;
            *id
        }
    };
    let rows = match row {
        ItemRow::New { .. } => Rows::New,
        ItemRow::Existing(_) => Rows::Replacing,
    };
    write_classifications(tx, item_id, &entry.classifications, now, rows)
}

/// The story an item with this fingerprint, published at `published`, belongs to: the story
/// of the most similar stored item (published within the window, sharing a band key, similar
/// enough), if any; of two equally similar items of different stories, the older item's.
/// Returns (story id, similarity).
fn find_story(
    conn: &Connection,
    print: &StoryPrint,
    published: &str,
    exclude_item: i64,
    rules: &StoryRules,
    stories: &mut StoryIndex,
) -> Result<Option<(i64, f64)>, StoreError> {
    let similar = stories.similar(conn, print, parse_time(published), exclude_item, rules)?;
    story_of_most_similar(conn, similar)
}

/// The story of the most similar of `similar` (the older item's of two equally similar),
/// and the similarity.
fn story_of_most_similar(
    conn: &Connection,
    mut similar: Vec<Similar>,
) -> Result<Option<(i64, f64)>, StoreError> {
    similar.sort_unstable_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then(a.item_id.cmp(&b.item_id))
    });
    // Only the few similar items need their items row (large, with its text).
    let mut story_of = conn.prepare_cached("SELECT story_id FROM items WHERE id = ?1")?;
    for candidate in similar {
        let story_id: Option<Option<i64>> = story_of
            .query_row([candidate.item_id], |row| row.get(0))
            .optional()?;
        if let Some(Some(story_id)) = story_id {
            return Ok(Some((story_id, candidate.similarity)));
        }
    }
    Ok(None)
}

/// Puts a stored item into its story (a new one when no stored item is the same story) and
/// indexes its fingerprint.
fn assign_story(
    tx: &Prepared<'_>,
    item_id: i64,
    print: &StoryPrint,
    published: &str,
    rules: &StoryRules,
    stories: &mut StoryIndex,
) -> Result<i64, StoreError> {
    let found = find_story(tx, print, published, item_id, rules, stories)?;
    let story_id = join_story(tx, item_id, published, found)?;
    tx.cached("UPDATE items SET story_id = ?2 WHERE id = ?1")?
        .execute(params![item_id, story_id])?;
    index_print(
        tx,
        (item_id, story_id),
        print,
        published,
        stories,
        Rows::Replacing,
    )?;
    Ok(story_id)
}

/// Counts an item published at `published` into the story `find_story` found, or starts a
/// story with the item as its representative; returns the story's id. The item's own row is
/// the caller's.
fn join_story(
    tx: &Prepared<'_>,
    item_id: i64,
    published: &str,
    found: Option<(i64, f64)>,
) -> Result<i64, StoreError> {
    Ok(match found {
        Some((story_id, _)) => {
            tx.cached(
                "UPDATE stories SET member_count = member_count + 1,
                        first_published_at = min(first_published_at, ?2),
                        last_published_at = max(last_published_at, ?2)
                  WHERE id = ?1",
            )?
            .execute(params![story_id, published])?;
            story_id
        }
        None => {
            // Not `RETURNING id`: SQLite runs a RETURNING clause as a trigger, and an insert
            // with a trigger keeps a statement journal (see `Rows`).
            tx.cached(
                "INSERT INTO stories (representative_item_id, first_published_at, last_published_at, member_count, created_at)
                 VALUES (?1, ?2, ?2, 1, ?3)",
            )?
            .execute(params![item_id, published, tx.began])?;
            tx.last_insert_rowid()
        }
    })
}

/// Whether the rows that hang off an item (classifications, fingerprint) are written for a new
/// item, which should have none yet, or replace rows of a stored one. A new item's are plain
/// inserts (`insert_else_replace`): an upsert (or `INSERT OR REPLACE`) may write twice and fail
/// in between, so SQLite keeps a statement journal for it (a copy of each page the statement
/// changes, in a temporary file past 64 KiB). Those copies were 222 MB of writes to
/// `/var/tmp` in 107,000 `pwrite`s on the store writer's thread, in the benchmark farm's cold
/// poll.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rows {
    New,
    Replacing,
}

/// Runs the plain `insert` (for a new item's row) or, when a row with its key is there
/// already, `replace`; a stored item's rows go straight to `replace`. A new item can find
/// rows under its id when an item was deleted without foreign keys (the sqlite3 shell's
/// default) and its id taken again. The failed insert wrote nothing: SQLite checks a one-row
/// insert's constraints before it writes, which is why it needs no statement journal.
fn insert_else_replace(
    tx: &Prepared<'_>,
    rows: Rows,
    (insert, replace): (&'static str, &'static str),
    values: &[Value<'_>],
) -> Result<(), StoreError> {
    if rows == Rows::New {
        match tx.write(insert, values) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {}
            done => {
                done?;
                return Ok(());
            }
        }
    }
    tx.write(replace, values)?;
    Ok(())
}

/// An insert's text, and the same insert with `on_conflict` after it (`insert_else_replace`).
macro_rules! insert_and_upsert {
    ($insert:literal, $on_conflict:literal) => {
        ($insert, concat!($insert, " ", $on_conflict))
    };
}

/// Stores an item's fingerprint and adds it to the story index, with its story.
fn index_print(
    tx: &Prepared<'_>,
    (item_id, story_id): (i64, i64),
    print: &StoryPrint,
    published: &str,
    stories: &mut StoryIndex,
    rows: Rows,
) -> Result<(), StoreError> {
    let (signature, words) = cluster::to_bytes(print);
    insert_else_replace(
        tx,
        rows,
        insert_and_upsert!(
            "INSERT INTO story_prints (item_id, published_at, words, signature) VALUES (?1, ?2, ?3, ?4)",
            "ON CONFLICT (item_id) DO UPDATE
                SET published_at = excluded.published_at, words = excluded.words,
                    signature = excluded.signature"
        ),
        &[
            item_id.into(),
            published.into(),
            words.as_slice().into(),
            signature.as_slice().into(),
        ],
    )?;
    stories.add(item_id, story_id, parse_time(published), print);
    Ok(())
}

/// A successful fetch's effect on the feed row: health reset, next check, and the permanent
/// redirect rule: the feed's URL moves to a 301/308 target once two fetches in a row were
/// sent there (so one misconfigured response does not move it for good).
fn record_success(
    tx: &Connection,
    feed: &FeedSource,
    fetch: &FetchRecord,
) -> Result<(), StoreError> {
    let now = timestamp(fetch.started_at);
    let (redirect_to, redirect_seen) = match &fetch.permanent_redirect {
        None => (None, 0),
        Some(target) if feed.redirect_to.as_deref() == Some(target.as_str()) => {
            (Some(target.clone()), feed.redirect_seen + 1)
        }
        Some(target) => (Some(target.clone()), 1),
    };
    tx.prepare_cached(
        "UPDATE feeds SET last_checked_at = ?2, last_success_at = ?2, next_check_at = ?3,
                consecutive_failures = 0, last_error = NULL, state = 'ok', failing_since = NULL,
                redirect_to = ?4, redirect_seen = ?5
          WHERE id = ?1",
    )?
    .execute(params![
        feed.id,
        now,
        timestamp(fetch.next_check_at),
        redirect_to,
        redirect_seen
    ])?;
    if let (Some(target), true) = (redirect_to, redirect_seen >= 2) {
        let taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM feeds WHERE url = ?1 AND id <> ?2)",
            params![target, feed.id],
            |row| row.get(0),
        )?;
        if taken {
            tracing::warn!(feed = %feed.url, target, "permanent redirect to a URL another feed already has; keeping the old URL");
        } else {
            tx.execute(
                "UPDATE feeds SET url = ?2, redirect_to = NULL, redirect_seen = 0,
                        etag = NULL, last_modified = NULL WHERE id = ?1",
                params![feed.id, target],
            )?;
            tracing::info!(feed = %feed.url, target, "feed moved permanently; URL updated");
        }
    }
    Ok(())
}

/// Inserts or replaces an item's classifications, each with its JSON columns (subtopics,
/// evidence).
fn write_classifications(
    tx: &Prepared<'_>,
    item_id: i64,
    classifications: &[StoredClassification],
    now: &str,
    rows: Rows,
) -> Result<(), StoreError> {
    for c in classifications {
        insert_else_replace(
            tx,
            rows,
            insert_and_upsert!(
                "INSERT INTO classifications (item_id, topic, score, relevant, subtopics, evidence, classifier, classified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                "ON CONFLICT (item_id, topic) DO UPDATE
                    SET score = excluded.score, relevant = excluded.relevant, subtopics = excluded.subtopics,
                        evidence = excluded.evidence, classifier = excluded.classifier,
                        classified_at = excluded.classified_at"
            ),
            &[
                item_id.into(),
                (&c.topic).into(),
                c.score.into(),
                c.relevant.into(),
                (&c.subtopics_json).into(),
                (&c.evidence_json).into(),
                (&c.classifier).into(),
                now.into(),
            ],
        )?;
    }
    Ok(())
}

fn insert_fetch(
    tx: &Connection,
    feed_id: i64,
    fetch: &FetchRecord,
    outcome_name: &str,
    outcome: &StoreOutcome,
    error: Option<&str>,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO fetches (feed_id, started_at, outcome, http_status, bytes, duration_ms,
                              items_new, items_updated, items_duplicate, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        feed_id,
        timestamp(fetch.started_at),
        outcome_name,
        fetch.http_status,
        fetch.bytes as i64,
        fetch.duration.as_millis() as i64,
        outcome.new as i64,
        outcome.updated as i64,
        outcome.duplicate as i64,
        error
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Prepared, Store, bands, fts_query};

    /// The plan SQLite makes for `sql` on a database tigris created, one line a step.
    fn plan(store: &Store, sql: &str, params: &[&dyn rusqlite::ToSql]) -> String {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let steps = stmt
            .query_map(params, |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        steps.join("\n")
    }

    /// The indexes a poll writes at random places cost a first poll most of its WAL writes
    /// (migration 8); the reads that need a day's prints or the relevant items must still
    /// find them through an index, not a scan.
    #[test]
    fn a_days_prints_and_the_relevant_items_are_read_through_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("tigris.db")).unwrap();
        let day = plan(
            &store,
            bands::LOAD_DAY,
            &[&"2026-11-23T00:00:00.000Z", &"2026-11-24T00:00:00.000Z"],
        );
        assert!(day.contains("USING INDEX story_prints_day"), "{day}");
        let relevant = plan(
            &store,
            "SELECT topic, count(*) FROM classifications WHERE relevant = 1 GROUP BY topic",
            &[],
        );
        assert!(
            relevant.contains("USING INDEX classifications_relevant")
                || relevant.contains("USING COVERING INDEX classifications_relevant"),
            "{relevant}"
        );
        let indexes: Vec<String> = store
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for gone in [
            "items_published_at",
            "classifications_topic_relevant",
            "stories_last_published",
            "story_prints_published",
        ] {
            assert!(!indexes.iter().any(|i| i == gone), "{gone} in {indexes:?}");
        }
    }

    /// Migration 9: the full-text index merges 16 segments a level, not FTS5's default 4, and
    /// a level is not merged at once before 64.
    #[test]
    fn the_full_text_index_merges_its_segments_sixteen_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("tigris.db")).unwrap();
        let config: Vec<(String, i64)> = store
            .conn
            .prepare("SELECT k, v FROM items_fts_config WHERE k IN ('automerge', 'crisismerge') ORDER BY k")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            config,
            [
                ("automerge".to_string(), 16),
                ("crisismerge".to_string(), 64)
            ]
        );
    }

    #[test]
    fn a_statement_is_held_once_and_one_in_use_is_not_taken_again() {
        const SQL: &str = "SELECT ?1 + 1";
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let prepared = Prepared::new(&conn);
        let mut outer = prepared.cached(SQL).unwrap();
        // Asked for while the held one is in use: another statement, not a panic.
        let inner: i64 = prepared
            .cached(SQL)
            .unwrap()
            .query_row([41], |row| row.get(0))
            .unwrap();
        let first: i64 = outer.query_row([1], |row| row.get(0)).unwrap();
        drop(outer);
        let again: i64 = prepared
            .cached(SQL)
            .unwrap()
            .query_row([2], |row| row.get(0))
            .unwrap();
        assert_eq!((inner, first, again), (42, 2, 3));
        assert_eq!(prepared.held.borrow().len(), 1);
    }

    #[test]
    fn search_text_becomes_a_valid_fts_query() {
        assert_eq!(
            fts_query("withdrawal OR transition"),
            "withdrawal OR transition"
        );
        assert_eq!(fts_query("\"Ain al-Asad\" drone"), "\"Ain al-Asad\" drone");
        assert_eq!(fts_query("US-Iraq talks"), "\"US-Iraq\" talks");
        assert_eq!(fts_query("erbil*"), "erbil*");
        assert_eq!(fts_query("\"unbalanced"), "\"unbalanced\"");
    }
}
