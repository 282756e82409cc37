//! The band table: (band key, slot) pairs, several to a key, for `StoryIndex`.
//!
//! Written by hand rather than taken from a crate, for one thing no map crate offers: the
//! address where a key's entry lies, so that a lookup of an item's 32 keys (and the insertion
//! of a new item's 32 entries) can ask for all their cache lines before it reads any. The
//! table holds ~1.4 million entries after the benchmark farm's cold poll, far more than the
//! CPU's caches; with hashbrown's `HashTable` each key cost a miss on its control bytes and
//! another on its entries, one after the other, and the story index was ~13 % of the cold
//! poll's CPU samples.
//!
//! - One place of 8 bytes a distinct key, by open addressing with linear probing: the key in
//!   the high half and, for a key of one item (most), its slot in the low half.
//! - A key of several items points instead to a list of their slots in `lists`, a single
//!   array of all lists (its length and room first), so that the list's start is one more
//!   cache line to ask for. A first version kept one place an entry: a key of many items made
//!   a run of places that each insertion of the key walked (7.5 places an insertion on the
//!   farm's cold poll), and the index took as long as before. A list in a `Vec` of its own
//!   cost a miss on its header and another on its slots.
//! - At most 13 places in 16 are used; the table grows by half (its length need not be a
//!   power of two), and removal shifts the places after a hole back (Knuth's algorithm R):
//!   there are no tombstones to skip.

/// An empty place: no place has all its bits set, as slots and lists' offsets stay below
/// 2^31 - 1 (see `MANY`).
const EMPTY: u64 = u64::MAX;

/// The low half's top bit: the rest is the offset of a list in `lists`, not a slot. Slots
/// stay below 2^31 (the index holds at most a few hundred thousand items).
const MANY: u32 = 1 << 31;

/// The slots a key's first list has room for.
const FIRST_LIST: u32 = 6;

#[derive(Default)]
pub(super) struct BandTable {
    places: Vec<u64>,
    /// Distinct keys held.
    keys: usize,
    /// The lists of the keys with several slots, one after the other, each its length, its
    /// room and the slots (a list and its length share a cache line more often than not). A
    /// list that fills up moves to the end with twice the room; the places it leaves are
    /// `spare` until the lists are packed again (`pack`).
    lists: Vec<u32>,
    spare: usize,
}

impl BandTable {
    /// The smallest table, once something is inserted.
    const MIN_CAPACITY: usize = 1024;

    /// Entries held: the slots of all keys (counted, for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.places
            .iter()
            .filter(|&&place| place != EMPTY)
            .map(|&place| {
                let low = place as u32;
                if low & MANY == 0 {
                    1
                } else {
                    self.lists[(low & !MANY) as usize] as usize
                }
            })
            .sum()
    }

    /// Removes every entry, keeping the memory.
    pub(super) fn clear(&mut self) {
        if self.keys > 0 || !self.lists.is_empty() {
            self.places.fill(EMPTY);
            self.keys = 0;
            self.lists.clear();
            self.spare = 0;
        }
    }

    fn home(&self, key: u32) -> usize {
        // The hash scaled to the table's length (Lemire's multiply-shift), which need not be
        // a power of two: the table grows by half, not double.
        ((u128::from(hash(key)) * self.places.len() as u128) >> 64) as usize
    }

    /// Starts loading the places of `keys`, then the starts of the lists of those that have
    /// one, without waiting for them: a lookup or insertion of the keys that follows finds
    /// them in the cache, and their misses overlap instead of coming one at a time. The
    /// second pass reads the places, so it waits for the first's loads, all at once.
    pub(super) fn prefetch(&self, keys: &[u32]) {
        if self.places.is_empty() {
            return;
        }
        for &key in keys {
            super::prefetch(&self.places[self.home(key)]);
        }
        for &key in keys {
            if let Some(list) = self.list_of(key) {
                super::prefetch(&self.lists[list]);
            }
        }
    }

    /// The place holding `key`, or the empty place where it would go.
    fn find(&self, key: u32) -> (usize, bool) {
        let mut at = self.home(key);
        loop {
            let place = self.places[at];
            if place == EMPTY {
                return (at, false);
            }
            if (place >> 32) as u32 == key {
                return (at, true);
            }
            at = self.next(at);
        }
    }

    /// The offset of `key`'s list in `lists`, if it has several slots.
    fn list_of(&self, key: u32) -> Option<usize> {
        if self.places.is_empty() {
            return None;
        }
        match self.find(key) {
            (at, true) => {
                let low = self.places[at] as u32;
                (low & MANY != 0).then_some((low & !MANY) as usize)
            }
            (_, false) => None,
        }
    }

    pub(super) fn insert(&mut self, key: u32, slot: u32) {
        assert!(slot < MANY, "slot {slot} is too large for the band table");
        if (self.keys + 1) * 16 > self.places.len() * 13 {
            self.grow();
        }
        let (at, found) = self.find(key);
        if !found {
            self.places[at] = place(key, slot);
            self.keys += 1;
            return;
        }
        let low = self.places[at] as u32;
        if low & MANY == 0 {
            let list = self.new_list(FIRST_LIST, &[low, slot]);
            self.places[at] = place(key, list);
            return;
        }
        let list = (low & !MANY) as usize;
        let (len, room) = (self.lists[list], self.lists[list + 1]);
        if len < room {
            self.lists[list + 2 + len as usize] = slot;
            self.lists[list] = len + 1;
            return;
        }
        // Full: moved to the end with twice the room.
        let moved = self.new_list(room * 2, &[]);
        let to = (moved & !MANY) as usize;
        self.lists
            .copy_within(list + 2..list + 2 + len as usize, to + 2);
        self.lists[to + 2 + len as usize] = slot;
        self.lists[to] = len + 1;
        self.spare += 2 + room as usize;
        self.places[at] = place(key, moved);
        self.pack_if_sparse();
    }

    /// Packs the lists once more than half of their memory is spare (and it is not little).
    fn pack_if_sparse(&mut self) {
        if self.spare > 1 << 16 && self.spare > self.lists.len() / 2 {
            self.pack();
        }
    }

    /// A new list at the end of `lists` with room for `room` slots, holding `slots`: the low
    /// half of its place.
    fn new_list(&mut self, room: u32, slots: &[u32]) -> u32 {
        let at = self.lists.len();
        self.lists.push(slots.len() as u32);
        self.lists.push(room);
        self.lists.extend_from_slice(slots);
        self.lists.resize(at + 2 + room as usize, 0);
        assert!(
            at < (MANY - 1) as usize,
            "the band table's lists outgrew their offsets"
        );
        at as u32 | MANY
    }

    /// Copies the lists in use into fresh memory, one after the other, leaving out the
    /// places of lists that moved or were removed.
    fn pack(&mut self) {
        let old = std::mem::take(&mut self.lists);
        self.spare = 0;
        for at in 0..self.places.len() {
            let found = self.places[at];
            let low = found as u32;
            if found == EMPTY || low & MANY == 0 {
                continue;
            }
            let list = (low & !MANY) as usize;
            let (len, room) = (old[list] as usize, old[list + 1]);
            let moved = self.new_list(room, &old[list + 2..list + 2 + len]);
            self.places[at] = place((found >> 32) as u32, moved);
        }
    }

    /// The slots of `key`'s entries, in the order they were inserted.
    pub(super) fn slots(&self, key: u32) -> impl Iterator<Item = u32> + '_ {
        let (one, many): (Option<u32>, &[u32]) = match self.places.is_empty() {
            true => (None, &[]),
            false => match self.find(key) {
                (at, true) => {
                    let low = self.places[at] as u32;
                    if low & MANY != 0 {
                        let list = (low & !MANY) as usize;
                        let len = self.lists[list] as usize;
                        (None, &self.lists[list + 2..list + 2 + len])
                    } else {
                        (Some(low), &[])
                    }
                }
                (_, false) => (None, &[]),
            },
        };
        one.into_iter().chain(many.iter().copied())
    }

    /// Removes `key`'s entries and gives their slots, in the order they were inserted.
    pub(super) fn remove(&mut self, key: u32) -> Vec<u32> {
        if self.places.is_empty() {
            return Vec::new();
        }
        let (at, found) = self.find(key);
        if !found {
            return Vec::new();
        }
        let low = self.places[at] as u32;
        let slots = if low & MANY != 0 {
            let list = (low & !MANY) as usize;
            let (len, room) = (self.lists[list] as usize, self.lists[list + 1] as usize);
            self.spare += 2 + room;
            self.lists[list + 2..list + 2 + len].to_vec()
        } else {
            vec![low]
        };
        self.keys -= 1;
        self.remove_at(at);
        self.pack_if_sparse();
        slots
    }

    /// Empties place `hole`, then moves back each place after it that a lookup from its home
    /// would no longer reach across the hole, until an empty place.
    fn remove_at(&mut self, mut hole: usize) {
        self.places[hole] = EMPTY;
        let mut at = hole;
        loop {
            at = self.next(at);
            let found = self.places[at];
            if found == EMPTY {
                return;
            }
            let home = self.home((found >> 32) as u32);
            // The place may stay if its home lies cyclically in (hole, at].
            let stays = if hole <= at {
                hole < home && home <= at
            } else {
                hole < home || home <= at
            };
            if !stays {
                self.places[hole] = found;
                self.places[at] = EMPTY;
                hole = at;
            }
        }
    }

    /// The place after `at`, the first after the last.
    fn next(&self, at: usize) -> usize {
        if at + 1 == self.places.len() {
            0
        } else {
            at + 1
        }
    }

    /// Half as many places again (growing by half rather than double keeps the table's
    /// memory within 1.5 times what its keys need); the lists stay where they are.
    fn grow(&mut self) {
        let capacity = (self.places.len() * 3 / 2).max(Self::MIN_CAPACITY);
        let old = std::mem::replace(&mut self.places, vec![EMPTY; capacity]);
        for found in old.into_iter().filter(|&p| p != EMPTY) {
            let (at, _) = self.find((found >> 32) as u32);
            self.places[at] = found;
        }
    }
}

fn place(key: u32, low: u32) -> u64 {
    (u64::from(key) << 32) | u64::from(low)
}

/// A band key is a hash already, but the last step of `text::combine` is a multiplication,
/// whose low bits (the table's home position) depend only on the inputs' low bits:
/// SplitMix64's finalizer spreads every bit over all of them.
fn hash(key: u32) -> u64 {
    let mut z = u64::from(key);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn sorted(mut slots: Vec<u32>) -> Vec<u32> {
        slots.sort_unstable();
        slots
    }

    #[test]
    fn an_empty_table_has_no_slots_for_any_key() {
        let mut table = BandTable::default();
        assert_eq!(table.slots(7).count(), 0);
        assert!(table.remove(7).is_empty());
        table.prefetch(&[7]);
        table.clear();
        assert_eq!(table.len(), 0);
    }

    proptest! {
        /// Inserts and removals in any order (keys from a small range, so that they share
        /// homes and runs, and the table grows past its first size) leave the same slots for
        /// every key as a map of lists does.
        #[test]
        fn the_table_gives_what_a_map_of_lists_gives(
            steps in proptest::collection::vec((0u32..300, 0u32..5_000, 0u8..10), 1..3_000)
        ) {
            let mut table = BandTable::default();
            let mut model: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
            for &(key, slot, what) in &steps {
                if what == 0 {
                    let removed = sorted(table.remove(key));
                    let expected = sorted(model.remove(&key).unwrap_or_default());
                    prop_assert_eq!(removed, expected);
                } else {
                    table.insert(key, slot);
                    model.entry(key).or_default().push(slot);
                }
            }
            if steps.len() % 2 == 0 {
                table.pack();
                prop_assert_eq!(table.spare, 0);
            }
            prop_assert_eq!(table.len(), model.values().map(Vec::len).sum::<usize>());
            for key in 0..300 {
                let expected = sorted(model.get(&key).cloned().unwrap_or_default());
                prop_assert_eq!(sorted(table.slots(key).collect()), expected);
            }
            table.clear();
            prop_assert_eq!(table.len(), 0);
            prop_assert_eq!(table.slots(steps[0].0).count(), 0);
        }
    }

    #[test]
    fn lists_that_moved_or_went_are_packed_away_and_the_rest_keep_their_slots() {
        let mut table = BandTable::default();
        // 2,000 keys of 100 slots each: every list moves 5 times as it grows past 6, 12, 24,
        // 48 and 96 slots.
        for slot in 0..100 {
            for key in 0..2_000 {
                table.insert(key, key * 100 + slot);
            }
        }
        for key in (0..2_000).step_by(2) {
            assert_eq!(
                table.remove(key),
                (key * 100..key * 100 + 100).collect::<Vec<_>>()
            );
        }
        // The lists were packed on the way whenever their spare room passed half of them.
        assert!(table.spare <= table.lists.len() / 2);
        let before = table.lists.len();
        table.pack();
        assert_eq!(table.spare, 0);
        assert!(table.lists.len() < before);
        // What is left: the odd keys' 192 places each (with their length and room).
        assert_eq!(table.lists.len(), 1_000 * (2 + 192));
        for key in 0..2_000 {
            let expected: Vec<u32> = if key % 2 == 0 {
                Vec::new()
            } else {
                (key * 100..key * 100 + 100).collect()
            };
            assert_eq!(table.slots(key).collect::<Vec<_>>(), expected, "key {key}");
        }
        assert_eq!(table.len(), 1_000 * 100);
    }

    #[test]
    fn keys_whose_homes_wrap_around_the_end_are_found_and_removed() {
        let mut table = BandTable::default();
        table.insert(1, 1);
        let last = table.places.len() - 1;
        // Keys whose home is the last place: their run wraps to the start.
        let wrapping: Vec<u32> = (2..u32::MAX)
            .filter(|&k| table.home(k) == last)
            .take(4)
            .collect();
        for (i, &key) in wrapping.iter().enumerate() {
            table.insert(key, 10 + i as u32);
        }
        for (i, &key) in wrapping.iter().enumerate() {
            assert_eq!(table.slots(key).collect::<Vec<_>>(), vec![10 + i as u32]);
        }
        assert_eq!(table.remove(wrapping[0]), vec![10]);
        for (i, &key) in wrapping.iter().enumerate().skip(1) {
            assert_eq!(table.slots(key).collect::<Vec<_>>(), vec![10 + i as u32]);
        }
        assert_eq!(table.slots(1).collect::<Vec<_>>(), vec![1]);
    }
}
