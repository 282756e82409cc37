//! Retention: which items are old enough (or beyond a feed's cap) to prune, pruning them in
//! short transactions with a tombstone per feed entry, trimming fetch history, and giving the
//! freed pages back to the file system (incremental vacuum, or a full `VACUUM`).

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{PAGE_SIZE, Store, StoreError, delete_items, timestamp};
use crate::config::RetentionConfig;

/// What a prune would remove (a dry run) or removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrunePlan {
    /// The items to remove, oldest first.
    #[serde(skip)]
    pub item_ids: Vec<i64>,
    /// Of those, how many are older than `[retention] days`...
    pub too_old: usize,
    /// ...and how many are only beyond their feeds' `per_feed` cap.
    pub over_feed_cap: usize,
    /// Items that would have gone but are kept as relevant to a topic.
    pub kept_relevant: usize,
    /// Fetch history rows older than `fetch_history_days`.
    pub fetches: usize,
}

/// The task name `maintenance` rows use for the daily prune.
pub const PRUNE_TASK: &str = "prune";

impl Store {
    /// Works out what retention removes now. Read-only.
    pub fn prune_plan(
        &self,
        retention: &RetentionConfig,
        now: DateTime<Utc>,
    ) -> Result<PrunePlan, StoreError> {
        // A relevant item is kept while younger than its topic's window: one CASE arm per
        // topic with a window of its own, the default for every other topic.
        let mut arms = String::new();
        let mut values: Vec<String> = vec![
            timestamp(now - retention.max_age),
            (retention.per_feed as i64).to_string(),
            timestamp(now - retention.keep_relevant),
        ];
        for (topic, window) in &retention.relevant_by_topic {
            arms.push_str(&format!(
                " WHEN ?{} THEN ?{}",
                values.len() + 1,
                values.len() + 2
            ));
            values.push(topic.clone());
            values.push(timestamp(now - *window));
        }
        let keep_after = if arms.is_empty() {
            "?3".to_string()
        } else {
            format!("CASE c.topic{arms} ELSE ?3 END")
        };
        let sql = format!(
            "WITH ranked AS (
                SELECT s.item_id,
                       row_number() OVER (PARTITION BY s.feed_id
                           ORDER BY COALESCE(i.published_at, i.first_seen_at) DESC, i.id DESC) AS rank
                  FROM item_sources s JOIN items i ON i.id = s.item_id
             ),
             over_cap AS (
                SELECT item_id FROM ranked GROUP BY item_id HAVING min(rank) > CAST(?2 AS INTEGER)
             )
             SELECT i.id,
                    COALESCE(i.published_at, i.first_seen_at) < ?1 AS too_old,
                    EXISTS (SELECT 1 FROM classifications c
                             WHERE c.item_id = i.id AND c.relevant = 1
                               AND COALESCE(i.published_at, i.first_seen_at) >= {keep_after})
                      AS kept
               FROM items i
              WHERE COALESCE(i.published_at, i.first_seen_at) < ?1
                 OR i.id IN (SELECT item_id FROM over_cap)
              ORDER BY COALESCE(i.published_at, i.first_seen_at), i.id"
        );
        let mut plan = PrunePlan::default();
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
        while let Some(row) = rows.next()? {
            let (id, too_old, kept): (i64, bool, bool) = (row.get(0)?, row.get(1)?, row.get(2)?);
            if kept {
                plan.kept_relevant += 1;
            } else {
                plan.item_ids.push(id);
                if too_old {
                    plan.too_old += 1;
                } else {
                    plan.over_feed_cap += 1;
                }
            }
        }
        plan.fetches = self.conn.query_row(
            "SELECT count(*) FROM fetches WHERE started_at < ?1",
            [timestamp(now - retention.fetch_history)],
            |row| row.get::<_, i64>(0),
        )? as usize;
        Ok(plan)
    }

    /// Removes these items in one transaction, leaving a tombstone for each feed entry that
    /// brought them. Callers pass small batches so polls never wait long for the lock.
    pub fn prune_items(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.ensure_unmoved()?;
        let tx = self.conn.transaction()?;
        delete_items(&tx, ids, Some(&timestamp(now)), &mut self.stories)?;
        tx.commit()?;
        Ok(ids.len())
    }

    /// Deletes at most `batch` fetch history rows older than `before`; returns how many.
    pub fn prune_fetches(
        &mut self,
        before: DateTime<Utc>,
        batch: usize,
    ) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM fetches WHERE id IN
                (SELECT id FROM fetches WHERE started_at < ?1 LIMIT ?2)",
            params![timestamp(before), batch as i64],
        )?)
    }

    /// Gives free pages back to the file system when the database uses incremental
    /// auto-vacuum (every database tigris creates does; `tigris vacuum` converts older ones).
    /// Returns the bytes freed.
    pub fn incremental_vacuum(&mut self) -> Result<u64, StoreError> {
        let before = self.file_bytes()?;
        let mode: i64 = self
            .conn
            .query_row("PRAGMA auto_vacuum", [], |row| row.get(0))?;
        if mode == 2 {
            // The pragma returns a row per freed page; stepping through them does the work.
            let mut stmt = self.conn.prepare("PRAGMA incremental_vacuum")?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
        }
        Ok(before.saturating_sub(self.file_bytes()?))
    }

    /// Rebuilds the database file (`VACUUM`), switching it to incremental auto-vacuum and to
    /// pages of `PAGE_SIZE` bytes on the way. Returns the file size before and after, in bytes.
    ///
    /// SQLite keeps a WAL database's page size through `VACUUM`, so a file with other pages is
    /// rebuilt out of WAL mode and put back in it after. Leaving WAL needs the only
    /// connection to the file: while another is open (a daemon), the file is rebuilt in WAL
    /// mode and keeps its page size.
    pub fn vacuum(&mut self) -> Result<(u64, u64), StoreError> {
        let before = self.file_bytes()?;
        let page_size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let left_wal = page_size != PAGE_SIZE && self.leave_wal();
        let rebuilt = if left_wal {
            self.conn.execute_batch(&format!(
                "PRAGMA page_size = {PAGE_SIZE}; PRAGMA auto_vacuum = INCREMENTAL; VACUUM;"
            ))
        } else {
            self.conn
                .execute_batch("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
        };
        if left_wal {
            // Back to WAL whether or not the rebuild worked: readers rely on it.
            self.conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        rebuilt?;
        self.checkpoint()?;
        Ok((before, self.file_bytes()?))
    }

    /// Switches the file out of WAL mode (to a rollback journal), if no other connection has
    /// it open; says whether it did. Does not wait for other connections to close.
    fn leave_wal(&mut self) -> bool {
        let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
        let mode = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "DELETE", |row| {
                row.get::<_, String>(0)
            });
        let _ = self.conn.busy_timeout(super::BUSY_TIMEOUT);
        matches!(mode, Ok(mode) if mode.eq_ignore_ascii_case("delete"))
    }

    /// The database's size in pages, in bytes (the WAL not counted).
    pub fn file_bytes(&self) -> Result<u64, StoreError> {
        let pages: i64 = self
            .conn
            .query_row("PRAGMA page_count", [], |row| row.get(0))?;
        let page_size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))?;
        Ok((pages.max(0) * page_size.max(0)) as u64)
    }

    /// When `task` last ran.
    pub fn last_run(&self, task: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        use rusqlite::OptionalExtension;
        let at: Option<String> = self
            .conn
            .query_row(
                "SELECT last_run_at FROM maintenance WHERE task = ?1",
                [task],
                |row| row.get(0),
            )
            .optional()?;
        Ok(at.as_deref().map(super::parse_time))
    }

    /// Records that `task` ran at `at`, with a one-line summary.
    pub fn record_run(
        &mut self,
        task: &str,
        at: DateTime<Utc>,
        summary: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO maintenance (task, last_run_at, summary) VALUES (?1, ?2, ?3)
             ON CONFLICT (task) DO UPDATE SET last_run_at = excluded.last_run_at,
                                             summary = excluded.summary",
            params![task, timestamp(at), summary],
        )?;
        Ok(())
    }
}
