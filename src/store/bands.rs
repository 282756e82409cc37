//! The story band index, held in memory: for each loaded publication day (days since
//! 1970-01-01, UTC), which stored items have each band key (`cluster::band_keys`). A new item
//! is compared only with the items sharing one of its keys and published within the story
//! window.
//!
//! It used to be a SQLite table of 32 rows per item; their keys are random, so storing a feed's
//! 50 new items dirtied ~1,600 index pages and wrote them all to the WAL (33 ms a feed). The
//! keys are recomputed from the signatures in `story_prints` instead, one day at a time, the
//! first time a lookup needs that day.
//!
//! What the index must keep true (with `PrintCache`, see there):
//! - an id it returns is a stored item, or one added by the transaction now open: so a
//!   transaction that fails drops the whole index (`clear`), and deleting items drops the days
//!   they were published on (`forget_day`), both reloaded from the table when next needed;
//! - a loaded day holds every stored item of that day: items added while a day is loaded are
//!   added to it (`add`); another connection's commits (a `tigris poll` or `tigris prune`
//!   beside the daemon) drop the index (`notice_other_writers` in the store).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use chrono::DateTime;
use hashbrown::HashTable;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::{StoreError, timestamp};
use crate::cluster::{self, BANDS};

/// The band keys of the stored items of some publication days.
#[derive(Default)]
pub(super) struct BandIndex {
    days: HashMap<i64, Day>,
    /// Counts lookups; a day remembers the last one that used it.
    clock: u64,
}

/// One publication day's (band key, item id) pairs, hashed by the key alone: a key several
/// items share has one entry per item. 16 bytes an entry, 32 entries an item: 0.6-1.2 KB an
/// item as the table grows, a third of a map from key to a list of ids.
struct Day {
    entries: HashTable<(i64, i64)>,
    last_used: u64,
}

impl BandIndex {
    /// Loaded days kept at most; the least recently used goes first. A lookup needs the 7 days
    /// of the story window around the item's publication, and a poll's items are mostly from
    /// the last few weeks; at 5,000 items a publication day (the 1,000-feed benchmark farm's
    /// rate) a day is ~4 MB, so 60 days is ~250 MB at worst and a few weeks' news ~50 MB.
    const MAX_DAYS: usize = 60;

    /// Appends to `out` the ids of the items published on `days` that have one of `keys`
    /// (an id once per key it shares), reading from `conn` the days not yet loaded.
    pub(super) fn candidates(
        &mut self,
        conn: &Connection,
        days: RangeInclusive<i64>,
        keys: &[i64; BANDS],
        out: &mut Vec<i64>,
    ) -> Result<(), StoreError> {
        self.clock += 1;
        for day in days {
            if !self.days.contains_key(&day) {
                let loaded = load_day(conn, day)?;
                self.make_room();
                self.days.insert(day, loaded);
            }
            let Some(loaded) = self.days.get_mut(&day) else {
                continue;
            };
            loaded.last_used = self.clock;
            for &key in keys {
                out.extend(
                    loaded
                        .entries
                        .iter_hash(hash(key))
                        .filter(|(k, _)| *k == key)
                        .map(|&(_, id)| id),
                );
            }
        }
        Ok(())
    }

    /// Indexes a newly stored item, if its day is loaded (a day loaded later reads it from
    /// `story_prints`).
    pub(super) fn add(&mut self, day: i64, item_id: i64, keys: &[i64; BANDS]) {
        if let Some(loaded) = self.days.get_mut(&day) {
            for &key in keys {
                insert(&mut loaded.entries, key, item_id);
            }
        }
    }

    /// Drops a day, to be read again from `story_prints` when next needed.
    pub(super) fn forget_day(&mut self, day: i64) {
        self.days.remove(&day);
    }

    /// Drops every loaded day.
    pub(super) fn clear(&mut self) {
        self.days.clear();
    }

    /// Evicts the least recently used days until there is room for one more, never one the
    /// lookup under way has used.
    fn make_room(&mut self) {
        while self.days.len() >= Self::MAX_DAYS {
            let Some(oldest) = self
                .days
                .iter()
                .filter(|(_, loaded)| loaded.last_used < self.clock)
                .min_by_key(|(_, loaded)| loaded.last_used)
                .map(|(day, _)| *day)
            else {
                return;
            };
            self.days.remove(&oldest);
        }
    }

    /// Loaded days, for tests.
    #[cfg(test)]
    fn loaded_days(&self) -> Vec<i64> {
        let mut days: Vec<i64> = self.days.keys().copied().collect();
        days.sort_unstable();
        days
    }
}

/// A band key is a hash already, but the last step of `text::combine` is a multiplication,
/// whose low bits (the table's bucket) depend only on the inputs' low bits: SplitMix64's
/// finalizer spreads every bit over all of them.
fn hash(key: i64) -> u64 {
    let mut z = key as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Adds (key, item) unless present (an item put into a story again, after its story went
/// with a pruned representative, keeps its fingerprint and its keys).
fn insert(entries: &mut HashTable<(i64, i64)>, key: i64, item_id: i64) {
    let h = hash(key);
    if entries.find(h, |e| *e == (key, item_id)).is_none() {
        entries.insert_unique(h, (key, item_id), |e| hash(e.0));
    }
}

/// Reads a day's items' signatures and recomputes their band keys. `published_at` is always
/// written by `timestamp` (fixed-width RFC 3339 in UTC), so the day is a range of the text.
fn load_day(conn: &Connection, day: i64) -> Result<Day, StoreError> {
    let bound = |day: i64| DateTime::from_timestamp(day.saturating_mul(86_400), 0).map(timestamp);
    let mut entries = HashTable::new();
    let (Some(from), Some(to)) = (bound(day), bound(day + 1)) else {
        // Outside the dates chrono represents: no item can be published then.
        return Ok(Day {
            entries,
            last_used: 0,
        });
    };
    let mut stmt = conn.prepare_cached(
        "SELECT item_id, signature FROM story_prints
          WHERE published_at >= ?1 AND published_at < ?2",
    )?;
    let mut rows = stmt.query([from, to])?;
    while let Some(row) = rows.next()? {
        let item_id: i64 = row.get(0)?;
        // The word set is not needed for the keys.
        let ValueRef::Blob(signature) = row.get_ref(1)? else {
            continue;
        };
        let Some(print) = cluster::from_bytes(signature, &[]) else {
            continue;
        };
        for key in cluster::band_keys(&print) {
            insert(&mut entries, key, item_id);
        }
    }
    Ok(Day {
        entries,
        last_used: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seed: i64) -> [i64; BANDS] {
        std::array::from_fn(|band| seed * 1_000 + band as i64)
    }

    fn empty_day() -> Day {
        Day {
            entries: HashTable::new(),
            last_used: 0,
        }
    }

    #[test]
    fn a_key_shared_by_several_items_returns_each_once() {
        let mut index = BandIndex::default();
        index.days.insert(10, empty_day());
        index.add(10, 1, &keys(1));
        index.add(10, 2, &keys(1));
        index.add(10, 2, &keys(1));
        index.add(10, 3, &keys(2));
        // A day not loaded is not indexed in memory (it is read from the table when needed).
        index.add(11, 4, &keys(1));
        let mut out = Vec::new();
        let conn = Connection::open_in_memory().unwrap();
        let mut query = keys(9);
        query[5] = keys(1)[5];
        index.candidates(&conn, 10..=10, &query, &mut out).unwrap();
        out.sort_unstable();
        assert_eq!(out, vec![1, 2]);
    }

    #[test]
    fn the_least_recently_used_days_are_evicted_first() {
        let mut index = BandIndex::default();
        for day in 0..BandIndex::MAX_DAYS as i64 {
            index.clock += 1;
            let mut loaded = empty_day();
            loaded.last_used = index.clock;
            index.days.insert(day, loaded);
        }
        // Day 0 used again: day 1 is now the least recently used.
        index.days.get_mut(&0).unwrap().last_used = index.clock + 1;
        index.clock += 2;
        index.make_room();
        let days = index.loaded_days();
        assert_eq!(days.len(), BandIndex::MAX_DAYS - 1);
        assert!(days.contains(&0) && !days.contains(&1));
    }
}
