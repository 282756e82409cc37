//! The full-text index's place behind `items`: which items wait to be indexed, and when they
//! are. New items are indexed in batches (migration 10): by the store transaction after which
//! at least `Store::full_text_batch` wait, and by `Store::index_waiting` when the store writer
//! has nothing else to store and before a checkpoint (so `tigris poll` ends with every item
//! searchable). FTS5's cost per item falls with the batch: one segment written, one sort of its
//! terms, no merging of many small segments.
//!
//! What stays true: every item whose id is at or below the largest id in the index's
//! `items_fts_docsize` table is indexed, and none above it is. The index grows only by
//! `index_after` (the items above that id, all at once); the triggers on `items` touch only
//! indexed items; and deleting the indexed item with the largest id lowers the mark with it.
//! The mark is read from the database, not held here, so another writer (a `tigris poll`
//! beside the daemon, a user's script) sees the same items waiting.

use rusqlite::Connection;

use super::{Store, StoreError};

/// Items that may wait after a store transaction before it indexes them. In batches of ~380
/// (one cold-poll transaction of the benchmark farm when batches came in; its transactions
/// hold ~870 items now that the store writer has a backlog) its 47,646 items took ~1.4 s of
/// CPU to index; in batches of 8,000, ~0.65 s, at ~7 MB more peak memory (the batch's terms
/// are held until written; migration 10 lets FTS5 hold 16 MiB of them).
pub(super) const BATCH: i64 = 8_000;

/// The largest item id the index holds (0 when it holds none).
pub(super) fn indexed_through(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(id), 0) FROM items_fts_docsize")?
        .query_row([], |row| row.get(0))
}

/// The largest item id (0 when there are no items).
fn newest_item(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT coalesce(max(id), 0) FROM items")?
        .query_row([], |row| row.get(0))
}

/// Indexes every item above `after_id`, in one statement: FTS5 writes its pending terms to
/// disk at every statement savepoint that follows a write to it, so one statement makes one
/// segment. Returns how many were indexed.
fn index_after(conn: &Connection, after_id: i64) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO items_fts (rowid, title, content_text)
         SELECT id, title, content_text FROM items WHERE id > ?1",
    )?
    .execute([after_id])
}

/// Indexes the waiting items if at least `batch` wait (counted by id: ids are given in order,
/// and the few a deletion skips only make a batch start a little early). Run as a store
/// transaction's last write. Returns how many were indexed.
pub(super) fn index_if_due(conn: &Connection, batch: i64) -> rusqlite::Result<usize> {
    let through = indexed_through(conn)?;
    if newest_item(conn)? - through < batch {
        return Ok(0);
    }
    index_after(conn, through)
}

impl Store {
    /// Indexes every item still waiting for the full-text index, in one transaction; returns
    /// how many. When none waits the transaction only reads, and its commit writes nothing.
    pub fn index_waiting(&mut self) -> Result<usize, StoreError> {
        self.ensure_unmoved()?;
        let tx = self.conn.transaction()?;
        let indexed = index_if_due(&tx, 1)?;
        tx.commit()?;
        Ok(indexed)
    }

    /// How many items wait for the full-text index (by id, as `index_if_due` counts them).
    pub fn waiting_for_full_text(&self) -> Result<i64, StoreError> {
        Ok((newest_item(&self.conn)? - indexed_through(&self.conn)?).max(0))
    }

    /// Sets how many items may wait after a store transaction before it indexes them
    /// (`BATCH` unless set; at least 1). Tests set it low to cross it with a few items.
    pub fn set_full_text_batch(&mut self, batch: i64) {
        self.full_text_batch = batch.max(1);
    }
}
