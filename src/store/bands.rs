//! The story index, held in memory: for each loaded publication day (days since 1970-01-01,
//! UTC), the fingerprints of the stored items published then, and a table from band key
//! (`cluster::band_keys`) to the items that have it. A new item is compared only with the
//! items that share one of its keys and were published within the story window.
//!
//! It used to be a SQLite table of 32 rows per item; their keys are random, so storing a feed's
//! 50 new items dirtied ~1,600 index pages and wrote them all to the WAL (33 ms a feed). The
//! keys are recomputed from the signatures in `story_prints` instead, one day at a time, the
//! first time a lookup needs that day.
//!
//! Laid out for the lookup, which is most of the cost of storing an item: a new item has
//! hundreds of band candidates in a farm of 50,000 items (~700 on its cold poll), and each one
//! used to cost a hash-map probe and four cache lines of word counts scattered over 50 MB.
//! Items now live in slots of flat arrays, and every check is a pass over all the candidates
//! left: publication time and the 64-byte sketch (`cluster::sketch`) rule out ~91 % (read in
//! order from a `Crowd` for the few keys very many items share, which give most candidates,
//! and not at all from a crowd whose items are mostly alone in their stories, a frequent
//! word's); the 128-byte word bits (`cluster::WordBits`) rule out nearly all of the rest (on
//! that cold poll, all 3.1 million: no two of the farm's items are one story); only what is
//! left has its word set read from `story_prints` and compared.
//!
//! What the index must keep true:
//! - an item it returns is a stored item, or one added by the transaction now open: so a
//!   transaction that fails drops the whole index (`clear`), and deleting items drops the days
//!   they were published on (`forget_day`), both reloaded from the table when next needed;
//! - a loaded day holds every stored item of that day: items added while a day is loaded are
//!   added to it (`add`); another connection's commits (a `tigris poll` or `tigris prune`
//!   beside the daemon) drop the index (`notice_other_writers` in the store).

use std::collections::HashMap;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{StoreError, day_of, parse_time, timestamp};
use crate::cluster::{self, Sketch, StoryPrint, StoryRules, WordBits};

mod table;
use table::BandTable;

/// A stored item that may be the same story as the one looked up.
#[derive(Debug, Clone, Copy)]
pub(super) struct Similar {
    pub item_id: i64,
    pub similarity: f64,
}

/// What `StoryIndex::search` found: the slots that passed its checks, the light band keys
/// that turned out crowded, and how many slots the index had then. The default is a search
/// of an empty index, which leaves all of it to `similar_from`.
#[derive(Default)]
pub(super) struct Found {
    slots: Vec<u32>,
    crowded: Vec<u32>,
    searched_at: u32,
}

/// A day's fingerprints (`load_day`), with their items' stories: ?1 the day's start, ?2 the
/// next day's, as `timestamp` writes them. The first condition is what lets the index
/// `story_prints_day` serve it.
pub(super) const LOAD_DAY: &str = "SELECT item_id, published_at, words, signature,
         (SELECT story_id FROM items WHERE items.id = story_prints.item_id)
    FROM story_prints
   WHERE substr(published_at, 1, 10) = substr(?1, 1, 10) AND published_at >= ?1 AND published_at < ?2";

/// The fingerprints of the stored items of some publication days.
#[derive(Default)]
pub(super) struct StoryIndex {
    days: HashMap<i64, Day>,
    /// Counts lookups (or batches of them, see `tick`); a day remembers the last one that
    /// used it.
    clock: u32,
    slots: Vec<Slot>,
    /// By slot, in arrays of their own so that the checks every candidate goes through read
    /// as little memory as they can: its publication time (Unix milliseconds; `DEAD` for a
    /// dead slot), its sketch, and its word bits.
    published: Vec<i64>,
    sketches: Vec<Sketch>,
    bits: Vec<WordBits>,
    /// (band key, slot) pairs, several to a key (`table::BandTable`). The key is cut to 32
    /// bits: a false match is a candidate like any other, compared and ruled out (at ~1.4
    /// million entries a table, one lookup in ~3,000).
    bands: BandTable,
    /// The band table's entries of the slots `add` gave since `recent_from`, a few thousand at
    /// most: `similar_from` probes this small table for the items stored after a search
    /// instead of the whole band table, whose probes miss the cache (with `push` and
    /// `similar_from`: 5.2 -> 3.7 % of the cold poll's CPU samples). Started again at each `tick`
    /// and after each day loaded (whose slots are not in it).
    recent: BandTable,
    recent_from: u32,
    /// Band keys shared by more than `CROWD` items, moved out of `bands` into a `Crowd` each.
    crowd_of: FxHashMap<u32, u32>,
    crowds: Vec<Crowd>,
    /// The live slot of each indexed item.
    slot_of: FxHashMap<i64, u32>,
    /// Slots whose item was forgotten; their band entries are skipped until the next rebuild.
    dead: usize,
    /// A write that adds items is under way (see `begin_write`).
    writing: bool,
}

/// The items sharing one band key that many items share. In real news as in the benchmark
/// farm a few keys are very common (a frequent word whose hash is the least of both of a band's
/// hash functions in every item that has it): on the farm's cold poll, keys shared by more
/// than 64 items held 138,000 of the 1.5 million entries but gave 91 % of the 36 million
/// candidates. Their entries keep a copy of what the first pass checks (publication time and
/// sketch), so that a lookup reads them in order instead of following each to its slot.
/// A slot that dies keeps its copies here until the index is rebuilt; the last pass skips it.
///
/// A crowd whose members are mostly alone in their stories (more stories than half its
/// members) is a frequent word's: sharing its key says only that two items both use the word,
/// and its members are not candidates through it (`diffuse`). Two items of one story are then
/// found through their other 31 bands, as often as a pair without the word is through all 32
/// (at the threshold, J = 0.25, a pair shares none of 31 bands with probability 0.135
/// against 0.127 of 32). A big story's wire copies make crowds of the other kind, one story's,
/// which are read: a new copy whose every key is crowded still finds its story. On the
/// benchmark farm every crowd is diffuse (its items are one story each), and they gave 91 %
/// of the story search's candidates.
#[derive(Default)]
struct Crowd {
    slots: Vec<u32>,
    published: Vec<i64>,
    sketches: Vec<Sketch>,
    /// The stories of its members (the dead's too) while it is read.
    stories: FxHashSet<i64>,
    /// For good (until the index is rebuilt): a diffuse crowd holds no entries.
    diffuse: bool,
}

impl Crowd {
    fn push(&mut self, slot: u32, published: i64, sketch: Sketch, story: i64) {
        if self.diffuse {
            return;
        }
        self.slots.push(slot);
        self.published.push(published);
        self.sketches.push(sketch);
        self.stories.insert(story);
    }

    /// Makes it diffuse if its members are mostly alone in their stories; the members are
    /// counted whole (after `gather`, and after each `push` later).
    fn settle(&mut self) {
        if !self.diffuse && self.stories.len() * 2 > self.slots.len() {
            *self = Crowd {
                diffuse: true,
                ..Crowd::default()
            };
        }
    }
}

struct Day {
    slots: Vec<u32>,
    last_used: u32,
}

struct Slot {
    /// 0 when the slot is dead (item ids start at 1). The item's words are not kept here:
    /// the few candidates that pass the sketch and the word bits read theirs from
    /// `story_prints` (on the benchmark farm's cold poll the words would take ~23 MB of the
    /// index's memory, for a few thousand reads).
    item_id: i64,
    /// Its story's id (a crowd counts its members' stories).
    story_id: i64,
}

impl StoryIndex {
    /// Loaded days kept at most; the least recently used goes first. A lookup needs the 7 days
    /// of the story window around the item's publication, and a feed's entries can span
    /// weeks (the benchmark farm's span 14 days, so a cold poll needs 20): with fewer days
    /// than a poll needs, every lookup would evict a day the next one reads again.
    const MAX_DAYS: usize = 60;
    /// Items kept at most, whatever the days (an item takes ~0.6 KB: its 32 band entries, word
    /// bits, sketch and their copies in crowds, so ~90 MB): enough for the story window of
    /// 20,000 new items a day. Loading a day evicts the least recently used others past it.
    const MAX_ITEMS: usize = 150_000;
    /// Items a band key has in the table at most; past that, the next lookup that reads the
    /// key moves it to a crowd.
    const CROWD: usize = 64;

    /// The stored items published within the window of `published`, similar enough to `print`
    /// to be the same story, found through the band keys (reading from `conn` the days not
    /// yet loaded). `exclude_item` is never returned. In no particular order.
    pub(super) fn similar(
        &mut self,
        conn: &Connection,
        print: &StoryPrint,
        published: DateTime<Utc>,
        exclude_item: i64,
        rules: &StoryRules,
    ) -> Result<Vec<Similar>, StoreError> {
        self.tick();
        self.load_window(conn, published, rules)?;
        let found = self.search(print, published, rules);
        self.similar_from(conn, print, published, exclude_item, rules, found)
    }

    /// Starts a lookup, or a batch of them (`search` for many items at once): the days a
    /// lookup loads are stamped with it, and making room never evicts a day the lookups under
    /// way use.
    pub(super) fn tick(&mut self) {
        self.clock = self.clock.wrapping_add(1).max(1);
        self.restart_recent();
    }

    /// Empties `recent`: from here on it holds the entries of the slots `add` gives.
    fn restart_recent(&mut self) {
        self.recent.clear();
        self.recent_from = self.slots.len() as u32;
    }

    /// Loads the days of the story window of an item published at `published`.
    pub(super) fn load_window(
        &mut self,
        conn: &Connection,
        published: DateTime<Utc>,
        rules: &StoryRules,
    ) -> Result<(), StoreError> {
        let days = day_of(published - rules.window)..=day_of(published + rules.window);
        self.load_days(conn, days)
    }

    /// The first and costly half of a lookup, which reads the index and changes nothing, so
    /// that a transaction's lookups can run on several threads at once (see the store's
    /// `search_stories`): the slots that share a band key with `print`, are published within
    /// the window and pass the sketch and the word bits. The window's days must be loaded
    /// (`load_window`). `similar_from` finishes it, with the slots added since.
    ///
    /// In passes, each without a branch that depends on the memory it reads, so that the cache
    /// misses of many candidates overlap: the band hits (a crowd's checked as they are read);
    /// each slot once (a candidate sharing several bands is compared once); the window (a dead
    /// slot is never within it) and the sketch; then the word bits of the few that pass.
    pub(super) fn search(
        &self,
        print: &StoryPrint,
        published: DateTime<Utc>,
        rules: &StoryRules,
    ) -> Found {
        let when = published.timestamp_millis();
        let window = rules.window.num_milliseconds();
        let ours = cluster::sketch(print);
        let mut hits = Vec::new();
        let mut passed = Vec::new();
        let mut crowded = Vec::new();
        let keys = cluster::band_keys(print).map(|key| key as u32);
        // A crowd's key has no place: asking for it loads a line for nothing, and waits for
        // nothing.
        self.bands.prefetch(&keys);
        for key in keys {
            if let Some(&crowd) = self.crowd_of.get(&key) {
                let crowd = &self.crowds[crowd as usize];
                let mut kept = passed.len();
                passed.resize(kept + crowd.slots.len(), 0);
                for i in 0..crowd.slots.len() {
                    let near = (crowd.published[i] - when).abs() <= window;
                    let alike = cluster::sketch_matches(&ours, &crowd.sketches[i])
                        >= cluster::MIN_SKETCH_MATCHES;
                    passed[kept] = crowd.slots[i];
                    kept += usize::from(near & alike);
                }
                passed.truncate(kept);
                continue;
            }
            let before = hits.len();
            hits.extend(self.bands.slots(key));
            if hits.len() - before > Self::CROWD {
                crowded.push(key);
            }
        }
        // Each slot once: sorted, which also makes the next pass read the arrays in order.
        hits.sort_unstable();
        hits.dedup();
        self.keep_near_and_alike(&mut hits, &ours, when, window);
        // The crowds' survivors, each once (one that a light key also gave is in already, or
        // was ruled out by the same checks).
        hits.extend_from_slice(&passed);
        hits.sort_unstable();
        hits.dedup();
        self.keep_word_bits_matches(&mut hits, print, rules);
        Found {
            slots: hits,
            crowded,
            searched_at: self.slots.len() as u32,
        }
    }

    /// Keeps the slots published within `window` of `when` (Unix milliseconds; a dead slot
    /// never is) whose sketch is alike enough to `ours`.
    fn keep_near_and_alike(&self, slots: &mut Vec<u32>, ours: &Sketch, when: i64, window: i64) {
        for &slot in slots.iter() {
            prefetch(&self.sketches[slot as usize]);
        }
        let mut kept = 0;
        for i in 0..slots.len() {
            let index = slots[i] as usize;
            let near = (self.published[index] - when).abs() <= window;
            let alike =
                cluster::sketch_matches(ours, &self.sketches[index]) >= cluster::MIN_SKETCH_MATCHES;
            slots[kept] = slots[i];
            kept += usize::from(near & alike);
        }
        slots.truncate(kept);
    }

    /// Keeps the slots whose word bits say they may be the same story as `print`. The
    /// survivors are few but each is a cache miss or more: their word bits are read in a pass
    /// of their own (a dead slot's or the excluded item's are harmless to read).
    fn keep_word_bits_matches(&self, slots: &mut Vec<u32>, print: &StoryPrint, rules: &StoryRules) {
        // Every survivor's word bits are asked for before any is read: the loads then overlap
        // instead of a few at a time (the loop's 15-word popcount fills the CPU's window).
        // Waiting for them was two thirds of this pass, 6 % of the cold poll's CPU samples.
        for &slot in slots.iter() {
            prefetch(&self.bits[slot as usize]);
        }
        let ours = WordBits::of(&print.words);
        let mut kept = 0;
        for i in 0..slots.len() {
            let index = slots[i] as usize;
            let may_be = cluster::may_be_same_story(&ours, &self.bits[index], rules.threshold);
            slots[kept] = slots[i];
            kept += usize::from(may_be);
        }
        slots.truncate(kept);
    }

    /// Finishes a lookup `search` began: adds the slots added to the index since (the
    /// transaction's items stored before this one) that share a band key with `print` and pass
    /// the same checks, and compares the word sets of all that are left.
    pub(super) fn similar_from(
        &mut self,
        conn: &Connection,
        print: &StoryPrint,
        published: DateTime<Utc>,
        exclude_item: i64,
        rules: &StoryRules,
        found: Found,
    ) -> Result<Vec<Similar>, StoreError> {
        let Found {
            slots: mut hits,
            crowded,
            searched_at,
        } = found;
        if (searched_at as usize) < self.slots.len() {
            let when = published.timestamp_millis();
            let window = rules.window.num_milliseconds();
            let ours = cluster::sketch(print);
            let mut recent: Vec<u32> = Vec::new();
            for key in cluster::band_keys(print) {
                let key = key as u32;
                match self.crowd_of.get(&key) {
                    // A crowd's newest entries are its last.
                    Some(&crowd) => recent.extend(
                        self.crowds[crowd as usize]
                            .slots
                            .iter()
                            .rev()
                            .take_while(|&&slot| slot >= searched_at),
                    ),
                    None => recent.extend(
                        if searched_at >= self.recent_from {
                            &self.recent
                        } else {
                            &self.bands
                        }
                        .slots(key)
                        .filter(|&slot| slot >= searched_at),
                    ),
                }
            }
            recent.sort_unstable();
            recent.dedup();
            self.keep_near_and_alike(&mut recent, &ours, when, window);
            self.keep_word_bits_matches(&mut recent, print, rules);
            hits.extend(recent);
        }
        let mut found = Vec::new();
        if !hits.is_empty() {
            let mut words_of =
                conn.prepare_cached("SELECT words FROM story_prints WHERE item_id = ?1")?;
            for &slot in &hits {
                let index = slot as usize;
                let item_id = self.slots[index].item_id;
                if item_id == 0 || item_id == exclude_item {
                    continue;
                }
                let theirs = words_of
                    .query_row([item_id], |row| {
                        Ok(match row.get_ref(0)? {
                            ValueRef::Blob(bytes) => cluster::words_from_bytes(bytes),
                            _ => None,
                        })
                    })
                    .optional()?
                    .flatten();
                // An item whose print is gone or unreadable is no candidate (`load_day` skips
                // such rows too).
                let Some(theirs) = theirs else {
                    continue;
                };
                let their_published =
                    DateTime::from_timestamp_millis(self.published[index]).unwrap_or(published);
                if cluster::same_story_words(
                    &print.words,
                    published,
                    &theirs,
                    their_published,
                    rules,
                ) {
                    found.push(Similar {
                        item_id,
                        similarity: cluster::word_similarity(&print.words, &theirs),
                    });
                }
            }
        }
        for key in crowded {
            self.gather(key);
        }
        Ok(found)
    }

    /// Moves a band key's entries out of the table into a crowd of its own (once: two of an
    /// item's bands can cut to the same 32-bit key).
    fn gather(&mut self, key: u32) {
        if self.crowd_of.contains_key(&key) {
            return;
        }
        let mut slots = self.bands.remove(key);
        // In the order they were added, as later ones are: `similar_from` reads a crowd's
        // newest entries from its end.
        slots.sort_unstable();
        let mut crowd = Crowd::default();
        for slot in slots {
            let index = slot as usize;
            crowd.push(
                slot,
                self.published[index],
                self.sketches[index],
                self.slots[index].story_id,
            );
        }
        crowd.settle();
        self.crowd_of.insert(key, self.crowds.len() as u32);
        self.crowds.push(crowd);
    }

    /// Indexes a newly stored item of story `story_id`, if its day is loaded (a day loaded
    /// later reads it from `story_prints`). An item indexed before (put into a story again)
    /// is replaced.
    pub(super) fn add(
        &mut self,
        item_id: i64,
        story_id: i64,
        published: DateTime<Utc>,
        print: &StoryPrint,
    ) {
        let day = day_of(published);
        if !self.days.contains_key(&day) {
            return;
        }
        if let Some(old) = self.slot_of.get(&item_id).copied() {
            self.kill(old);
        }
        let slot = self.push(item_id, story_id, published, print, true);
        if let Some(loaded) = self.days.get_mut(&day) {
            loaded.slots.push(slot);
        }
    }

    /// Drops a day, to be read again from `story_prints` when next needed.
    pub(super) fn forget_day(&mut self, day: i64) {
        if let Some(loaded) = self.days.remove(&day) {
            for slot in loaded.slots {
                self.kill(slot);
            }
        }
    }

    /// Drops every loaded day.
    pub(super) fn clear(&mut self) {
        let clock = self.clock;
        *self = StoryIndex::default();
        self.clock = clock;
    }

    /// Drops the index if the last write never ended: a panic unwound through it and its
    /// transaction rolled back, so the index may hold items that are not stored (and whose
    /// ids the next items will take).
    pub(super) fn settle(&mut self) {
        if self.writing {
            self.clear();
        }
    }

    /// Marks the start of a transaction that adds items; `end_write` once it has committed
    /// or failed (a failure drops the index too, as the caller does).
    pub(super) fn begin_write(&mut self) {
        self.settle();
        self.writing = true;
    }

    pub(super) fn end_write(&mut self) {
        self.writing = false;
    }

    fn load_days(
        &mut self,
        conn: &Connection,
        days: RangeInclusive<i64>,
    ) -> Result<(), StoreError> {
        let missing = days.clone().any(|day| !self.days.contains_key(&day));
        // Forgotten slots keep their band entries and words until a rebuild: once they
        // outnumber the live ones, start again from the table.
        if missing && self.dead > 4096 && self.dead > self.slots.len() / 2 {
            self.clear();
        }
        // Stamped first, so that making room never evicts a day this lookup needs.
        for day in days.clone() {
            if let Some(loaded) = self.days.get_mut(&day) {
                loaded.last_used = self.clock;
            }
        }
        for day in days {
            if !self.days.contains_key(&day) {
                self.make_room();
                let slots = self.load_day(conn, day)?;
                self.days.insert(
                    day,
                    Day {
                        slots,
                        last_used: self.clock,
                    },
                );
            }
        }
        Ok(())
    }

    /// Reads a day's items' fingerprints. `published_at` is always written by `timestamp`
    /// (RFC 3339 in UTC), so the day is a range of the text; its first ten characters, the
    /// date, are the key of the index `story_prints_day` (a year outside 0-9999 makes that
    /// key wider than a day, and the range keeps only the day's rows).
    fn load_day(&mut self, conn: &Connection, day: i64) -> Result<Vec<u32>, StoreError> {
        let bound =
            |day: i64| DateTime::from_timestamp(day.saturating_mul(86_400), 0).map(timestamp);
        let mut slots = Vec::new();
        let (Some(from), Some(to)) = (bound(day), bound(day + 1)) else {
            // Outside the dates chrono represents: no item can be published then.
            return Ok(slots);
        };
        let mut stmt = conn.prepare_cached(LOAD_DAY)?;
        let mut rows = stmt.query([from, to])?;
        while let Some(row) = rows.next()? {
            let item_id: i64 = row.get(0)?;
            let published = parse_time(&row.get::<_, String>(1)?);
            let (ValueRef::Blob(words), ValueRef::Blob(signature)) =
                (row.get_ref(2)?, row.get_ref(3)?)
            else {
                continue;
            };
            let Some(print) = cluster::from_bytes(signature, words) else {
                continue;
            };
            // An item not yet in a story (`assign_missing_stories` puts it in one) counts
            // as one of its own.
            let story_id = row.get::<_, Option<i64>>(4)?.unwrap_or(-item_id);
            if let Some(old) = self.slot_of.get(&item_id).copied() {
                self.kill(old);
            }
            slots.push(self.push(item_id, story_id, published, &print, false));
        }
        self.restart_recent();
        Ok(slots)
    }

    /// Gives an item a new slot; `recent`: its band entries go into `recent` too.
    fn push(
        &mut self,
        item_id: i64,
        story_id: i64,
        published: DateTime<Utc>,
        print: &StoryPrint,
        recent: bool,
    ) -> u32 {
        let slot = self.slots.len() as u32;
        let published = published.timestamp_millis();
        let sketch = cluster::sketch(print);
        self.slots.push(Slot { item_id, story_id });
        self.published.push(published);
        self.sketches.push(sketch);
        self.bits.push(WordBits::of(&print.words));
        let keys = cluster::band_keys(print).map(|key| key as u32);
        self.bands.prefetch(&keys);
        for key in keys {
            match self.crowd_of.get(&key) {
                Some(&crowd) => {
                    let crowd = &mut self.crowds[crowd as usize];
                    crowd.push(slot, published, sketch, story_id);
                    crowd.settle();
                }
                None => {
                    self.bands.insert(key, slot);
                    if recent {
                        self.recent.insert(key, slot);
                    }
                }
            }
        }
        self.slot_of.insert(item_id, slot);
        slot
    }

    fn kill(&mut self, slot: u32) {
        let entry = &mut self.slots[slot as usize];
        if entry.item_id != 0 {
            if self.slot_of.get(&entry.item_id) == Some(&slot) {
                self.slot_of.remove(&entry.item_id);
            }
            entry.item_id = 0;
            self.published[slot as usize] = DEAD;
            self.dead += 1;
        }
    }

    /// Evicts the least recently used days until there is room for one more day and the
    /// items are within their budget, never a day the lookup under way has used.
    fn make_room(&mut self) {
        while self.days.len() >= Self::MAX_DAYS || self.slots.len() - self.dead > Self::MAX_ITEMS {
            let Some(oldest) = self
                .days
                .iter()
                .filter(|(_, loaded)| loaded.last_used != self.clock)
                .min_by_key(|(_, loaded)| loaded.last_used)
                .map(|(day, _)| *day)
            else {
                return;
            };
            self.forget_day(oldest);
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

/// The publication time of a dead slot: outside any item's story window.
const DEAD: i64 = i64::MIN / 2;

/// Starts loading `value`'s cache lines into the cache, without waiting for them. Written by
/// hand: the standard library has no portable prefetch, and no crate the search would trust
/// more than the one intrinsic. Elsewhere than x86-64 it does nothing.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (value as *const T).cast::<i8>();
        for offset in (0..std::mem::size_of::<T>()).step_by(64) {
            // SAFETY: a prefetch is a hint: it never faults, reads nothing into the program
            // and writes nothing, whatever the address (here within a live value).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(offset)) }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn print(title: &str) -> StoryPrint {
        cluster::fingerprint(
            title,
            "Two rockets struck Ain al-Asad air base in western Iraq on Tuesday, the US-led \
             coalition said, causing no casualties. Kataib Hezbollah did not claim the attack.",
        )
    }

    fn at(day: i64, hour: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(day * 86_400 + hour * 3_600, 0).unwrap()
    }

    /// A connection with empty `story_prints` and `items` (ids and stories only), which
    /// `add` fills.
    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE story_prints (item_id INTEGER PRIMARY KEY, published_at TEXT NOT NULL,
                                        words BLOB NOT NULL, signature BLOB NOT NULL);
             CREATE INDEX story_prints_day ON story_prints (substr(published_at, 1, 10), item_id);
             CREATE TABLE items (id INTEGER PRIMARY KEY, story_id INTEGER);",
        )
        .unwrap();
        conn
    }

    /// Stores an item's print and indexes it, as the store's `index_print` does, in story 1:
    /// the items these tests index are reports of one event (but where `add_in` says).
    fn add(
        conn: &Connection,
        index: &mut StoryIndex,
        item_id: i64,
        published: DateTime<Utc>,
        print: &StoryPrint,
    ) {
        add_in(conn, index, (item_id, 1), published, print);
    }

    /// `add` of an item in the story `story_id`.
    fn add_in(
        conn: &Connection,
        index: &mut StoryIndex,
        (item_id, story_id): (i64, i64),
        published: DateTime<Utc>,
        print: &StoryPrint,
    ) {
        let (signature, words) = cluster::to_bytes(print);
        conn.execute(
            "INSERT OR REPLACE INTO story_prints (item_id, published_at, words, signature)
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![item_id, timestamp(published), words, signature],
        )
        .unwrap();
        conn.execute(
            "INSERT OR REPLACE INTO items (id, story_id) VALUES (?1, ?2)",
            [item_id, story_id],
        )
        .unwrap();
        index.add(item_id, story_id, published, print);
    }

    /// Deletes a day's prints from the table, as pruning its items does.
    fn delete_day(conn: &Connection, day: i64) {
        conn.execute(
            "DELETE FROM story_prints WHERE published_at >= ?1 AND published_at < ?2",
            [timestamp(at(day, 0)), timestamp(at(day + 1, 0))],
        )
        .unwrap();
    }

    fn index_with_days(days: RangeInclusive<i64>) -> StoryIndex {
        let mut index = StoryIndex::default();
        for day in days {
            index.days.insert(
                day,
                Day {
                    slots: Vec::new(),
                    last_used: 0,
                },
            );
        }
        index
    }

    #[test]
    fn a_similar_item_is_found_once_and_a_forgotten_one_never() {
        let conn = table();
        let rules = StoryRules::default();
        let day = 20_000;
        let mut index = index_with_days(day - 3..=day + 3);
        add(
            &conn,
            &mut index,
            1,
            at(day, 1),
            &print("Rockets hit Ain al-Asad base hosting US troops"),
        );
        add(
            &conn,
            &mut index,
            2,
            at(day, 2),
            &cluster::fingerprint(
                "Iraq's parliament passes 2026 budget",
                "Lawmakers in Baghdad approved the federal budget after months of disputes over oil revenue.",
            ),
        );
        // Added again (put into a story again): still one slot.
        add(
            &conn,
            &mut index,
            1,
            at(day, 1),
            &print("Rockets hit Ain al-Asad base hosting US troops"),
        );
        let ours = print("No casualties as rockets strike Iraqi base housing Americans");
        let found = index.similar(&conn, &ours, at(day, 5), -1, &rules).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].item_id, 1);
        assert!(found[0].similarity >= rules.threshold);
        // Never itself, never outside the window.
        assert!(
            index
                .similar(&conn, &ours, at(day, 5), 1, &rules)
                .unwrap()
                .is_empty()
        );
        delete_day(&conn, day);
        index.forget_day(day);
        let far = table();
        let mut index_far = index_with_days(day + 1..=day + 9);
        add(
            &far,
            &mut index_far,
            1,
            at(day + 1, 0),
            &print("Rockets hit Ain al-Asad base hosting US troops"),
        );
        assert!(
            index_far
                .similar(&far, &ours, at(day + 5, 12), -1, &rules)
                .unwrap()
                .is_empty()
        );
        // A forgotten day's items are not returned (the table has none left to reload).
        assert!(
            index
                .similar(&conn, &ours, at(day, 5), -1, &rules)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_key_many_items_share_is_read_from_its_crowd_with_the_same_results() {
        let conn = table();
        let rules = StoryRules::default();
        let day = 20_000;
        let mut index = index_with_days(day - 3..=day + 3);
        let items = StoryIndex::CROWD as i64 + 20;
        let story = |i: i64| print(&format!("Rockets hit Ain al-Asad base, report {i}"));
        for id in 1..=items {
            add(&conn, &mut index, id, at(day, 1), &story(id));
        }
        // One more, 93 hours after the lookups below: outside their window.
        add(&conn, &mut index, 1_000, at(day + 3, 23), &story(0));
        let ours = story(-1);
        let ids = |found: Vec<Similar>| {
            let mut ids: Vec<i64> = found.iter().map(|s| s.item_id).collect();
            ids.sort_unstable();
            ids
        };
        let first = ids(index.similar(&conn, &ours, at(day, 2), 7, &rules).unwrap());
        assert!(!index.crowds.is_empty(), "the shared keys moved to crowds");
        let expected: Vec<i64> = (1..=items).filter(|&id| id != 7).collect();
        assert_eq!(first, expected);
        // Read from the crowds now: the same items, each once.
        let second = ids(index.similar(&conn, &ours, at(day, 2), 7, &rules).unwrap());
        assert_eq!(second, first);
        // An item added later joins the crowds; a replaced one is found once, a forgotten day's
        // items never.
        add(&conn, &mut index, items + 1, at(day, 3), &story(items + 1));
        add(&conn, &mut index, 3, at(day, 1), &story(3));
        let third = ids(index.similar(&conn, &ours, at(day, 2), 7, &rules).unwrap());
        assert_eq!(third.len(), first.len() + 1);
        assert_eq!(third.iter().filter(|&&id| id == 3).count(), 1);
        // Outside the window, whatever the crowds hold.
        assert!(
            index
                .similar(&conn, &ours, at(day + 8, 2), -1, &rules)
                .unwrap()
                .is_empty()
        );
        delete_day(&conn, day);
        index.forget_day(day);
        let after = ids(index
            .similar(&conn, &ours, at(day + 3, 22), -1, &rules)
            .unwrap());
        assert_eq!(after, vec![1_000]);
    }

    /// A key that items mostly alone in their stories share (a frequent word's) finds no
    /// candidates once it is a crowd; one that the items of a few stories share does. The
    /// members here have our words and our sketch, and of our band keys only the first (their
    /// other signature values differ from ours above the low byte): they are found only
    /// through that key.
    #[test]
    fn a_crowd_of_items_mostly_alone_in_their_stories_is_not_read() {
        let rules = StoryRules::default();
        let day = 20_000;
        let ours = print("Rockets hit Ain al-Asad base hosting US troops");
        let member = |i: i64| {
            let mut member = ours.clone();
            for value in &mut member.signature[2..] {
                *value ^= (i as u32) << 8;
            }
            member
        };
        let members = StoryIndex::CROWD as i64 + 36;
        for stories in [1, 40, 50, 51, 100] {
            let conn = table();
            let mut index = index_with_days(day - 3..=day + 3);
            for id in 1..=members {
                add_in(
                    &conn,
                    &mut index,
                    (id, 1 + id % stories),
                    at(day, 1),
                    &member(id),
                );
            }
            // The first lookup finds the key crowded (and its items, as a light key's);
            // those after it read the crowd, or not.
            let first = index.similar(&conn, &ours, at(day, 2), -1, &rules).unwrap();
            assert_eq!(first.len() as i64, members, "{stories} stories");
            let read = stories * 2 <= members;
            let found = index.similar(&conn, &ours, at(day, 2), -1, &rules).unwrap();
            assert_eq!(
                found.len() as i64,
                if read { members } else { 0 },
                "{stories} stories"
            );
            let crowd = &index.crowds[0];
            assert_eq!(crowd.diffuse, !read);
            assert_eq!(crowd.slots.len() as i64, if read { members } else { 0 });
            // A member added later: found with the others, or held nowhere.
            add_in(
                &conn,
                &mut index,
                (members + 1, 1),
                at(day, 1),
                &member(members + 1),
            );
            let later = index.similar(&conn, &ours, at(day, 2), -1, &rules).unwrap();
            assert_eq!(later.len() as i64, if read { members + 1 } else { 0 });
            assert!(index.bands.len() as i64 >= 31 * (members + 1));
            // Reloaded from the table, the index comes to the same.
            index.clear();
            index.load_window(&conn, at(day, 2), &rules).unwrap();
            let reloaded = index.similar(&conn, &ours, at(day, 2), -1, &rules).unwrap();
            assert_eq!(reloaded.len() as i64, members + 1);
            let again = index.similar(&conn, &ours, at(day, 2), -1, &rules).unwrap();
            assert_eq!(again.len() as i64, if read { members + 1 } else { 0 });
        }
    }

    #[test]
    fn a_search_finished_later_finds_the_items_added_in_between_once() {
        let conn = table();
        let rules = StoryRules::default();
        let day = 20_000;
        let ids = |found: Vec<Similar>| {
            let mut ids: Vec<i64> = found.iter().map(|s| s.item_id).collect();
            ids.sort_unstable();
            ids
        };
        let story = |i: i64| print(&format!("Rockets hit Ain al-Asad base, report {i}"));
        let ours = story(-1);

        // Light keys only: one item before the search, one after.
        let mut index = index_with_days(day - 3..=day + 3);
        add(&conn, &mut index, 1, at(day, 1), &story(1));
        let found = index.search(&ours, at(day, 2), &rules);
        add(&conn, &mut index, 2, at(day, 1), &story(2));
        let later = index
            .similar_from(&conn, &ours, at(day, 2), -1, &rules, found)
            .unwrap();
        assert_eq!(ids(later), vec![1, 2]);
        // A search of nothing (the default) leaves the whole index to the second half.
        let whole = index
            .similar_from(&conn, &ours, at(day, 2), -1, &rules, Found::default())
            .unwrap();
        assert_eq!(ids(whole), vec![1, 2]);

        // A day loaded after the search (its items are not among those `add` gave since):
        // the search still finds what was added and what was loaded in between.
        let conn = table();
        let mut index = index_with_days(day - 3..=day + 2);
        add(&conn, &mut index, 1, at(day, 1), &story(1));
        index.tick();
        let found = index.search(&ours, at(day, 2), &rules);
        add(&conn, &mut index, 2, at(day, 1), &story(2));
        // Stored but not indexed: its day is not loaded yet.
        add(&conn, &mut index, 3, at(day + 3, 0), &story(3));
        index.load_window(&conn, at(day + 3, 0), &rules).unwrap();
        add(&conn, &mut index, 4, at(day, 3), &story(4));
        let later = index
            .similar_from(&conn, &ours, at(day, 2), -1, &rules, found)
            .unwrap();
        assert_eq!(ids(later), vec![1, 2, 3, 4]);

        // Crowded keys: the items added after the search are read from the crowds' ends,
        // also when the keys moved to crowds after the search.
        let conn = table();
        let mut index = index_with_days(day - 3..=day + 3);
        let items = StoryIndex::CROWD as i64 + 20;
        for id in 1..=items {
            add(&conn, &mut index, id, at(day, 1), &story(id));
        }
        let before_crowds = index.search(&ours, at(day, 2), &rules);
        // Added after that search but before its keys move to crowds.
        add(&conn, &mut index, items + 1, at(day, 3), &story(items + 1));
        assert!(index.crowds.is_empty(), "not gathered yet");
        let first = ids(index.similar(&conn, &ours, at(day, 2), -1, &rules).unwrap());
        assert_eq!(first, (1..=items + 1).collect::<Vec<_>>());
        assert!(!index.crowds.is_empty(), "the shared keys moved to crowds");
        assert!(
            index
                .crowds
                .iter()
                .all(|crowd| crowd.slots.windows(2).all(|w| w[0] < w[1])),
            "a crowd's entries are in the order they were added, newest last"
        );
        let in_crowds = index.search(&ours, at(day, 2), &rules);
        add(&conn, &mut index, items + 2, at(day, 3), &story(items + 2));
        add(
            &conn,
            &mut index,
            items + 3,
            at(day + 3, 23),
            &story(items + 3),
        );
        let expected: Vec<i64> = (1..=items + 2).collect();
        for found in [before_crowds, in_crowds] {
            let later = ids(index
                .similar_from(&conn, &ours, at(day, 2), -1, &rules, found)
                .unwrap());
            assert_eq!(later, expected, "each once, and none outside the window");
        }
    }

    #[test]
    fn a_write_that_never_ended_drops_the_index() {
        let mut index = index_with_days(10..=10);
        index.begin_write();
        index.add(5, 1, at(10, 0), &print("Rockets hit Ain al-Asad base"));
        index.end_write();
        index.settle();
        assert_eq!(index.slots.len(), 1, "a finished write keeps its items");
        index.begin_write();
        index.add(
            6,
            1,
            at(10, 1),
            &print("Rockets hit Ain al-Asad base again"),
        );
        // No end_write: the write panicked. The next use starts again from the table.
        index.settle();
        assert!(index.slots.is_empty() && index.days.is_empty());
    }

    #[test]
    fn an_item_of_a_day_not_loaded_is_left_to_the_table() {
        let mut index = index_with_days(10..=10);
        index.add(4, 1, at(11, 0), &print("Rockets hit Ain al-Asad base"));
        assert!(index.slots.is_empty());
        index.add(5, 1, at(10, 0), &print("Rockets hit Ain al-Asad base"));
        assert_eq!(index.slots.len(), 1);
    }

    #[test]
    fn the_least_recently_used_days_are_evicted_first() {
        let mut index = StoryIndex::default();
        for day in 0..StoryIndex::MAX_DAYS as i64 {
            index.clock += 1;
            index.days.insert(
                day,
                Day {
                    slots: Vec::new(),
                    last_used: index.clock,
                },
            );
        }
        // Day 0 used again: day 1 is now the least recently used.
        index.days.get_mut(&0).unwrap().last_used = index.clock + 1;
        index.clock += 2;
        index.make_room();
        let days = index.loaded_days();
        assert_eq!(days.len(), StoryIndex::MAX_DAYS - 1);
        assert!(days.contains(&0) && !days.contains(&1));
    }
}
