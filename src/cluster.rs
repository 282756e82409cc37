//! Cluster: recognises the same story told by several outlets (the same wire copy under a new
//! headline, independent reports of one event). Pure: a fingerprint per item, a similarity
//! between two fingerprints, and the locality-sensitive keys the store indexes so that a new
//! item is compared only with the few stored items that share a key, not with every one.
//!
//! The fingerprint is the set of the item's content words (the title's words and the first
//! words of its text, lower-cased, stemmed with the Snowball English stemmer, function words
//! dropped) and a MinHash signature (64 values) of that set. The signature is cut into 32 bands
//! of 2 values; two items that share any band are candidates (pairs with a Jaccard similarity
//! of 0.3 are found with probability 0.95, of 0.5 with probability 1 - 1e-4), and candidates
//! are then compared exactly, by the Jaccard similarity of their word sets.
//! MinHash is written here (a few lines over the tokenizer the classifier already uses) rather
//! than taken from a crate, so that signatures are stable across releases: they are stored.

use chrono::{DateTime, Utc};

use crate::classify::text::{self, Token};

/// Values in a signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bands of `ROWS` values; two items sharing a band are compared.
pub const BANDS: usize = 32;
const ROWS: usize = SIGNATURE_LEN / BANDS;
/// Words of an item's title that count.
pub const TITLE_WORDS: usize = 40;
/// Words of an item's text that count (after its title's).
pub const TEXT_WORDS: usize = 60;

/// An item's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryPrint {
    pub signature: [u32; SIGNATURE_LEN],
    /// Hashes of its distinct content words, sorted.
    pub words: Vec<u64>,
}

/// When two items are one story.
#[derive(Debug, Clone, Copy)]
pub struct StoryRules {
    /// Estimated Jaccard similarity at or above which two items are one story.
    pub threshold: f64,
    /// Items published further apart than this are never one story.
    pub window: chrono::Duration,
}

impl Default for StoryRules {
    fn default() -> Self {
        StoryRules {
            threshold: DEFAULT_THRESHOLD,
            window: chrono::Duration::hours(72),
        }
    }
}

/// Tuned on the labeled pairs in `tests/data/stories/pairs.jsonl` (tests/stories.rs prints
/// precision and recall at neighbouring values).
pub const DEFAULT_THRESHOLD: f64 = 0.25;

/// Function words: they say nothing about which event a story is about.
const STOPWORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "of",
    "in",
    "on",
    "at",
    "to",
    "for",
    "from",
    "by",
    "with",
    "as",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "has",
    "have",
    "had",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "which",
    "who",
    "will",
    "would",
    "could",
    "should",
    "said",
    "says",
    "after",
    "before",
    "over",
    "into",
    "than",
    "then",
    "also",
    "not",
    "no",
    "their",
    "they",
    "them",
    "he",
    "she",
    "his",
    "her",
    "we",
    "our",
    "more",
    "most",
    "some",
    "such",
    "there",
    "when",
    "while",
    "about",
    "out",
    "up",
    "new",
    "told",
    "say",
    "according",
    "amid",
    "week",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// 64 fixed pseudo-random (odd multiplier, offset) pairs, one per signature value: the hash
/// functions of the MinHash. Derived from a constant seed so signatures never change.
fn permutations() -> &'static [(u64, u64); SIGNATURE_LEN] {
    use std::sync::OnceLock;
    static PERMUTATIONS: OnceLock<[(u64, u64); SIGNATURE_LEN]> = OnceLock::new();
    PERMUTATIONS.get_or_init(|| {
        // SplitMix64: a standard, tiny generator.
        let mut state: u64 = 0x7469_6772_6973_2121; // "tigris!!"
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut out = [(0, 0); SIGNATURE_LEN];
        for slot in out.iter_mut() {
            *slot = (next() | 1, next());
        }
        out
    })
}

/// The hash functions' constants cut into 32-bit halves, each half in an array of its own
/// (see [`minhash`]).
struct Halves {
    a_low: [u32; SIGNATURE_LEN],
    a_high: [u32; SIGNATURE_LEN],
    b_low: [u32; SIGNATURE_LEN],
    b_high: [u32; SIGNATURE_LEN],
}

fn halves() -> &'static Halves {
    use std::sync::OnceLock;
    static HALVES: OnceLock<Halves> = OnceLock::new();
    HALVES.get_or_init(|| {
        let p = permutations();
        Halves {
            a_low: std::array::from_fn(|i| p[i].0 as u32),
            a_high: std::array::from_fn(|i| (p[i].0 >> 32) as u32),
            b_low: std::array::from_fn(|i| p[i].1 as u32),
            b_high: std::array::from_fn(|i| (p[i].1 >> 32) as u32),
        }
    })
}

/// The MinHash signature of a word set: for each hash function (a, b), the least of
/// `(word * a + b) >> 32` (wrapping, 64-bit) over the words.
///
/// Computed on 32-bit halves, a word at a time across all 64 functions, so that the compiler
/// computes 8 values at once with AVX2 (there is no 64-bit multiply in SSE2 or AVX2, and the
/// straightforward loop stays scalar): the high half of `w * a + b` is
/// `hi(wl * al) + wl * ah + wh * al + bh + carry(lo(wl * al) + bl)`, all modulo 2^32. The same
/// code is built twice (the `multiversion` crate) and the AVX2 build chosen at run time where
/// the CPU has it. On 80-word sets: 4.6 us a set before, 1.4 us with AVX2; the benchmark farm's
/// cold poll (5 interleaved runs each) took 5.46 s of user CPU instead of 5.58 s, in the same
/// wall time (the store writer sets it).
/// `minhash_is_the_straightforward_formula` checks it against the 64-bit formula.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn minhash(words: &[u64]) -> [u32; SIGNATURE_LEN] {
    let h = halves();
    let mut signature = [u32::MAX; SIGNATURE_LEN];
    for &word in words {
        let (wl, wh) = (word as u32, (word >> 32) as u32);
        let constants = h
            .a_low
            .iter()
            .zip(&h.a_high)
            .zip(h.b_low.iter().zip(&h.b_high));
        for (slot, ((&a_low, &a_high), (&b_low, &b_high))) in signature.iter_mut().zip(constants) {
            let product = u64::from(wl) * u64::from(a_low);
            let low = (product as u32).wrapping_add(b_low);
            let carry = u32::from(low < b_low);
            let value = ((product >> 32) as u32)
                .wrapping_add(wl.wrapping_mul(a_high))
                .wrapping_add(wh.wrapping_mul(a_low))
                .wrapping_add(b_high)
                .wrapping_add(carry);
            *slot = (*slot).min(value);
        }
    }
    signature
}

/// Hashed with `FxHash`: the keys are hashes already, and the standard library's SipHash
/// was asked for each of an item's ~100 fingerprint tokens.
fn stopword_hashes() -> &'static rustc_hash::FxHashSet<u64> {
    use std::sync::OnceLock;
    static HASHES: OnceLock<rustc_hash::FxHashSet<u64>> = OnceLock::new();
    HASHES.get_or_init(|| STOPWORDS.iter().map(|w| text::hash_word(w)).collect())
}

/// "attacked", "attacks" and "attack" are one word to a reader comparing two reports.
fn stemmer() -> &'static rust_stemmers::Stemmer {
    use std::sync::OnceLock;
    static STEMMER: OnceLock<rust_stemmers::Stemmer> = OnceLock::new();
    STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
}

/// The hash of a token's stem. Stemming was a third of the time a fingerprint took, and news
/// repeats its words: each thread remembers the stems of the words it has seen, by the hash of
/// the lower-case word the tokenizer computes anyway (`text::hash_word` of it), so a word is
/// stemmed once per thread until the memory is full (then it starts again).
fn stem_hash(stemmer: &rust_stemmers::Stemmer, source: &str, token: &Token) -> u64 {
    use std::cell::RefCell;
    const MAX_WORDS: usize = 1 << 16;
    thread_local! {
        static STEMS: RefCell<rustc_hash::FxHashMap<u64, u64>> = RefCell::default();
    }
    STEMS.with_borrow_mut(|stems| {
        if let Some(&stem) = stems.get(&token.hash) {
            return stem;
        }
        if stems.len() >= MAX_WORDS {
            stems.clear();
        }
        let lower = text::lower_text(source, token);
        let stem = text::hash_word(&stemmer.stem(&lower));
        stems.insert(token.hash, stem);
        stem
    })
}

/// The fingerprint of an item's title and text.
pub fn fingerprint(title: &str, text: &str) -> StoryPrint {
    let mut tokens: Vec<Token> = Vec::with_capacity(TITLE_WORDS + TEXT_WORDS);
    text::tokenize(title, TITLE_WORDS, &mut tokens);
    let in_title = tokens.len();
    text::tokenize(text, TEXT_WORDS, &mut tokens);
    fingerprint_of_tokens((title, &tokens[..in_title]), (text, &tokens[in_title..]))
}

/// [`fingerprint`] from the tokens `text::tokenize` read from the title and from the text,
/// at least `TITLE_WORDS` and `TEXT_WORDS` of them where there are that many (more are
/// ignored: the tokenizer reads in order, so the first n tokens of a longer read are those of
/// a read of n). The classifier has read them already (`Classifier::classify_entries`).
pub fn fingerprint_of_tokens(title: (&str, &[Token]), text: (&str, &[Token])) -> StoryPrint {
    let stop = stopword_hashes();
    let stemmer = stemmer();
    let mut words: Vec<u64> = Vec::with_capacity(96);
    for (source, tokens, count) in [
        (title.0, title.1, TITLE_WORDS),
        (text.0, text.1, TEXT_WORDS),
    ] {
        for token in tokens.iter().take(count) {
            if stop.contains(&token.hash) {
                continue;
            }
            words.push(stem_hash(stemmer, source, token));
        }
    }
    words.sort_unstable();
    words.dedup();
    let signature = minhash(&words);
    StoryPrint { signature, words }
}

/// The Jaccard similarity of the two items' word sets.
pub fn similarity(a: &StoryPrint, b: &StoryPrint) -> f64 {
    word_similarity(&a.words, &b.words)
}

/// [`similarity`] of two sorted word-hash sets.
pub fn word_similarity(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    if union == 0 {
        0.0
    } else {
        shared as f64 / union as f64
    }
}

/// The band keys the store indexes (one per band, the band's index mixed in).
pub fn band_keys(print: &StoryPrint) -> [i64; BANDS] {
    let mut keys = [0i64; BANDS];
    for (band, key) in keys.iter_mut().enumerate() {
        let rows = &print.signature[band * ROWS..(band + 1) * ROWS];
        let mut h = text::combine(band as u64 + 1, u64::from(rows[0]), u64::from(rows[1]));
        for &extra in &rows[2..] {
            h = text::combine(h, u64::from(extra), 0);
        }
        // SQLite integers are signed 64-bit.
        *key = h as i64;
    }
    keys
}

/// A fingerprint's b-bit sketch (b = 8): the low byte of each signature value, one cache line.
/// Two items agree on a value's low byte with probability J + (1 - J) / 256 for a word-set
/// Jaccard similarity J (Li and König, "b-Bit Minwise Hashing", 2010), so counting the equal
/// bytes rules out most band candidates without touching their word sets.
pub type Sketch = [u8; SIGNATURE_LEN];

pub fn sketch(print: &StoryPrint) -> Sketch {
    std::array::from_fn(|i| print.signature[i] as u8)
}

/// Equal bytes of two sketches. Written so that the compiler compares 16 bytes at a time
/// (a byte-wise fold vectorizes; the eight-bytes-in-a-word version it replaced did not, and was
/// 3.8x slower on the story search's crowds).
pub fn sketch_matches(a: &Sketch, b: &Sketch) -> u32 {
    // At most 64 equal bytes: the sum fits in a byte.
    u32::from(
        a.iter()
            .zip(b)
            .fold(0u8, |sum, (x, y)| sum.wrapping_add(u8::from(x == y))),
    )
}

/// Sketch agreement below which a band candidate is not compared. A candidate shares a band
/// (2 values, so 2 bytes); of its other 62 bytes, a pair at the threshold (J = 0.25) agrees on
/// fewer than 6 with probability 5.3e-4 (2.4e-5 at J = 0.3), while 97 % of unrelated
/// candidates (J = 0.035, as unrelated news stories share) do; on the benchmark farm's cold
/// poll 91 % of all candidates were ruled out (35.5 million, 3.1 million left). The band rule
/// itself misses 13 % of pairs at J = 0.25. (At 7, the loss at J = 0.25 is 1.3e-4, and the story search of
/// the 1,000-feed benchmark's cold poll took 2.0 s instead of 1.4 s.)
pub const MIN_SKETCH_MATCHES: u32 = 8;

/// Whether two items, published when they were, are one story.
pub fn same_story(
    a: &StoryPrint,
    a_published: DateTime<Utc>,
    b: &StoryPrint,
    b_published: DateTime<Utc>,
    rules: &StoryRules,
) -> bool {
    same_story_words(&a.words, a_published, &b.words, b_published, rules)
}

/// A word set as 960 bits (one for each word hash, by its top bits) and its size: two cache
/// lines, read for each candidate that passes the sketch (3.1 million in the benchmark farm's
/// cold poll), so that [`may_be_same_story`] rules out nearly all of them without reading
/// their word sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(64))]
pub struct WordBits {
    bits: [u64; 15],
    /// The set's size, and how many of its words share a bit with another of its words.
    len: u32,
    lost: u32,
}

impl WordBits {
    pub fn of(words: &[u64]) -> WordBits {
        let mut bits = [0u64; 15];
        for word in words {
            // The top 32 bits scaled to 0..960 (Lemire's multiply-shift range reduction).
            let bit = (((word >> 32) * 960) >> 32) as usize;
            bits[bit / 64] |= 1 << (bit % 64);
        }
        let ones: u32 = bits.iter().map(|w| w.count_ones()).sum();
        let len = words.len().min(u32::MAX as usize) as u32;
        WordBits {
            bits,
            len,
            lost: len.saturating_sub(ones),
        }
    }
}

/// The set bits of `a & b`. Written out because the x86-64 baseline has no popcount
/// instruction, and `count_ones` on each word (the same bit-slicing, with a multiply per word)
/// took 30 % of the story search: here the slices are summed over all 15 words first, in
/// byte lanes (at most 15 * 8 = 120 a byte), and added up once.
fn common_bits(a: &[u64; 15], b: &[u64; 15]) -> u32 {
    const M1: u64 = 0x5555_5555_5555_5555;
    const M2: u64 = 0x3333_3333_3333_3333;
    const M4: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const M8: u64 = 0x00ff_00ff_00ff_00ff;
    let mut bytes = 0u64;
    for (x, y) in a.iter().zip(b) {
        let x = x & y;
        let x = x - ((x >> 1) & M1);
        let x = (x & M2) + ((x >> 2) & M2);
        bytes += (x + (x >> 4)) & M4;
    }
    // Four 16-bit lanes of at most 240 each, then their sum (at most 960) in the top lane.
    let lanes = (bytes & M8) + ((bytes >> 8) & M8);
    (lanes.wrapping_mul(0x0001_0001_0001_0001) >> 48) as u32
}

/// False only when two word sets, given by their bits, cannot reach `threshold` similarity:
/// an upper bound on the words they share, put through the same formula as
/// [`word_similarity`] (which grows with the shared count), so no pair the rule would accept
/// is ruled out. The shared words set bits in both sets' bits; they set fewer bits than
/// there are of them only where a set's own words share a bit, which happens `lost` times
/// in that set. So shared <= popcount(a & b) + lost, for either set. (With ~60 words a set,
/// the bound is ~6 above the shared count.)
pub fn may_be_same_story(a: &WordBits, b: &WordBits, threshold: f64) -> bool {
    let bound = (common_bits(&a.bits, &b.bits) + a.lost.min(b.lost))
        .min(a.len)
        .min(b.len);
    let union = a.len + b.len - bound;
    union == 0 || f64::from(bound) / f64::from(union) >= threshold
}

/// [`same_story`] on the sorted word-hash sets alone (all the rule looks at).
pub fn same_story_words(
    a: &[u64],
    a_published: DateTime<Utc>,
    b: &[u64],
    b_published: DateTime<Utc>,
    rules: &StoryRules,
) -> bool {
    (a_published - b_published).abs() <= rules.window
        && a.len() >= 4
        && b.len() >= 4
        && word_similarity(a, b) >= rules.threshold
}

/// The signature and the word set as stored (little-endian u32s; little-endian u64s).
pub fn to_bytes(print: &StoryPrint) -> (Vec<u8>, Vec<u8>) {
    (
        print
            .signature
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect(),
        print.words.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

/// A stored fingerprint read back; `None` when the blobs are not one.
pub fn from_bytes(signature_bytes: &[u8], word_bytes: &[u8]) -> Option<StoryPrint> {
    if signature_bytes.len() != SIGNATURE_LEN * 4 || word_bytes.len() % 8 != 0 {
        return None;
    }
    let mut signature = [0u32; SIGNATURE_LEN];
    for (slot, chunk) in signature.iter_mut().zip(signature_bytes.chunks_exact(4)) {
        *slot = u32::from_le_bytes(chunk.try_into().ok()?);
    }
    let words = words_from_bytes(word_bytes)?;
    Some(StoryPrint { signature, words })
}

/// The word hashes of `story_prints.words`, or `None` if the blob is not a whole number of them.
pub fn words_from_bytes(word_bytes: &[u8]) -> Option<Vec<u64>> {
    if word_bytes.len() % 8 != 0 {
        return None;
    }
    word_bytes
        .chunks_exact(8)
        .map(|chunk| chunk.try_into().ok().map(u64::from_le_bytes))
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// Stored signatures must never change: the 32-bit halves compute what the 64-bit
        /// formula does, for any words (the AVX2 build where the CPU has AVX2).
        #[test]
        fn minhash_is_the_straightforward_formula(
            words in proptest::collection::vec(any::<u64>(), 0..200),
        ) {
            let mut expected = [u32::MAX; SIGNATURE_LEN];
            for (slot, (a, b)) in expected.iter_mut().zip(permutations()) {
                for &word in &words {
                    *slot = (*slot).min((word.wrapping_mul(*a).wrapping_add(*b) >> 32) as u32);
                }
            }
            prop_assert_eq!(minhash(&words), expected);
        }
    }

    #[test]
    fn a_remembered_stem_is_the_stem() {
        // The same words on one thread (remembered) and on a new one (stemmed afresh).
        let text = "Attacks attacked attacking forces; the forces attack again";
        let here = fingerprint("Militias attacked bases", text);
        let again = fingerprint("Militias attacked bases", text);
        let fresh = std::thread::spawn(move || fingerprint("Militias attacked bases", text))
            .join()
            .unwrap();
        assert_eq!(here, again);
        assert_eq!(here, fresh);
        let stemmer = stemmer();
        let mut tokens = Vec::new();
        text::tokenize("attacking", 1, &mut tokens);
        assert_eq!(
            stem_hash(stemmer, "attacking", &tokens[0]),
            text::hash_word("attack")
        );
    }

    #[test]
    fn common_bits_counts_the_bits_both_have() {
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        };
        let full = [u64::MAX; 15];
        assert_eq!(common_bits(&full, &full), 960);
        for _ in 0..100 {
            let a: [u64; 15] = std::array::from_fn(|_| next());
            let b: [u64; 15] = std::array::from_fn(|_| next());
            let expected: u32 = a.iter().zip(&b).map(|(x, y)| (x & y).count_ones()).sum();
            assert_eq!(common_bits(&a, &b), expected);
        }
    }

    #[test]
    fn sketch_matches_counts_equal_bytes() {
        let a: Sketch = std::array::from_fn(|i| i as u8);
        let mut b = a;
        assert_eq!(sketch_matches(&a, &b), 64);
        for (n, i) in [0usize, 7, 8, 33, 63].iter().enumerate() {
            b[*i] = b[*i].wrapping_add(0x80 + n as u8);
            assert_eq!(sketch_matches(&a, &b), 64 - n as u32 - 1);
        }
        let c: Sketch = std::array::from_fn(|i| (i as u8) ^ 0x01);
        assert_eq!(sketch_matches(&a, &c), 0);
    }

    #[test]
    fn word_count_bound_never_rules_out_a_similar_pair() {
        // Pseudo-random word sets with every amount of overlap: whenever the exact rule
        // accepts a pair, the bound must let it through.
        let mut state = 1u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        };
        for overlap in 0..=60usize {
            let shared: Vec<u64> = (0..overlap).map(|_| next()).collect();
            let mut a: Vec<u64> = shared
                .iter()
                .copied()
                .chain((0..60 - overlap).map(|_| next()))
                .collect();
            let mut b: Vec<u64> = shared
                .iter()
                .copied()
                .chain((0..55 - overlap.min(55)).map(|_| next()))
                .collect();
            a.sort_unstable();
            b.sort_unstable();
            let (ba, bb) = (WordBits::of(&a), WordBits::of(&b));
            for threshold in [0.1, 0.25, 0.5, 0.9] {
                if word_similarity(&a, &b) >= threshold {
                    assert!(may_be_same_story(&ba, &bb, threshold));
                }
            }
            // And it does rule out: sets sharing a sixth of their words are far from 0.25.
            if overlap <= 10 {
                assert!(!may_be_same_story(&ba, &bb, 0.25), "{overlap}");
            }
        }
    }

    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_same_copy_under_a_new_headline_is_one_story_and_other_news_is_not() {
        let text = "Two rockets struck Ain al-Asad air base in western Iraq on Tuesday, the US-led coalition said, causing no casualties. Kataib Hezbollah did not claim the attack.";
        let a = fingerprint("Rockets hit Ain al-Asad base hosting US troops", text);
        let b = fingerprint(
            "No casualties as rockets strike Iraqi base housing Americans",
            text,
        );
        let c = fingerprint(
            "Iraq's parliament passes 2026 budget",
            "Lawmakers in Baghdad approved the federal budget after months of disputes over oil revenue sharing with the Kurdistan Region.",
        );
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 9, 0, 0).unwrap();
        let rules = StoryRules::default();
        assert!(
            same_story(&a, t, &b, t + chrono::Duration::hours(3), &rules),
            "{}",
            similarity(&a, &b)
        );
        assert!(!same_story(&a, t, &c, t, &rules), "{}", similarity(&a, &c));
        assert!(
            !same_story(&a, t, &b, t + chrono::Duration::hours(80), &rules),
            "outside the window"
        );
    }

    #[test]
    fn fingerprints_are_deterministic_and_round_trip_through_storage() {
        let a = fingerprint(
            "US strikes militia sites",
            "American jets hit two sites near al-Qaim.",
        );
        assert_eq!(
            a,
            fingerprint(
                "US strikes militia sites",
                "American jets hit two sites near al-Qaim."
            )
        );
        let (signature, words) = to_bytes(&a);
        let back = from_bytes(&signature, &words).unwrap();
        assert_eq!(back, a);
        assert_eq!(band_keys(&back), band_keys(&a));
    }

    #[test]
    fn similar_items_share_a_band() {
        let text = "The Higher Military Commission met in Baghdad to set a timetable for the end of the coalition mission, officials from both governments said.";
        let a = fingerprint("Baghdad and Washington set coalition timetable", text);
        let b = fingerprint("Iraq, US agree timetable to end coalition mission", text);
        let shared = band_keys(&a)
            .iter()
            .zip(band_keys(&b).iter())
            .filter(|(x, y)| x == y)
            .count();
        assert!(shared > 0);
    }
}
