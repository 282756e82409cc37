//! Cluster: recognises the same story told by several outlets (the same wire copy under a new
//! headline, independent reports of one event). Pure: a fingerprint per item, a similarity
//! between two fingerprints, and the locality-sensitive keys the store indexes so that a new
//! item is compared only with the few stored items that share a key, not with every one.
//!
//! The fingerprint is a MinHash signature (64 values) of the item's content words: the title's
//! words and the first words of its text, lower-cased, function words dropped. The fraction of
//! equal signature values estimates the Jaccard similarity of the two word sets. The signature
//! is cut into 32 bands of 2 values; two items that share any band are candidates, which finds
//! pairs with a Jaccard of 0.3 with probability 0.95 and of 0.5 with probability 1 - 1e-4.
//! MinHash is written here (a few lines over the tokenizer the classifier already uses) rather
//! than taken from a crate, so that signatures are stable across releases: they are stored.

use chrono::{DateTime, Utc};

use crate::classify::text::{self, Token};

/// Values in a signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bands of `ROWS` values; two items sharing a band are compared.
pub const BANDS: usize = 32;
const ROWS: usize = SIGNATURE_LEN / BANDS;
/// Words of an item's text that count (after its title's).
const TEXT_WORDS: usize = 60;

/// An item's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryPrint {
    pub signature: [u32; SIGNATURE_LEN],
    /// How many distinct words it was made from (a fingerprint of very few words is not
    /// trusted to join a story).
    pub words: u32,
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

/// Tuned on the labeled pairs in `tests/data/stories/pairs.jsonl` (see tests/stories.rs).
pub const DEFAULT_THRESHOLD: f64 = 0.30;

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

fn stopword_hashes() -> &'static std::collections::HashSet<u64> {
    use std::sync::OnceLock;
    static HASHES: OnceLock<std::collections::HashSet<u64>> = OnceLock::new();
    HASHES.get_or_init(|| STOPWORDS.iter().map(|w| text::hash_word(w)).collect())
}

/// The fingerprint of an item's title and text.
pub fn fingerprint(title: &str, text: &str) -> StoryPrint {
    let mut tokens: Vec<Token> = Vec::with_capacity(96);
    text::tokenize(title, 40, &mut tokens);
    text::tokenize(text, TEXT_WORDS, &mut tokens);
    let stop = stopword_hashes();
    let mut words: Vec<u64> = tokens
        .iter()
        .map(|t| t.hash)
        .filter(|h| !stop.contains(h))
        .collect();
    words.sort_unstable();
    words.dedup();
    let mut signature = [u32::MAX; SIGNATURE_LEN];
    for (slot, (a, b)) in signature.iter_mut().zip(permutations()) {
        for &word in &words {
            let value = (word.wrapping_mul(*a).wrapping_add(*b) >> 32) as u32;
            if value < *slot {
                *slot = value;
            }
        }
    }
    StoryPrint {
        signature,
        words: words.len() as u32,
    }
}

/// Estimated Jaccard similarity of the two items' word sets.
pub fn similarity(a: &StoryPrint, b: &StoryPrint) -> f64 {
    let equal = a
        .signature
        .iter()
        .zip(&b.signature)
        .filter(|(x, y)| x == y)
        .count();
    equal as f64 / SIGNATURE_LEN as f64
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

/// Whether two items, published when they were, are one story.
pub fn same_story(
    a: &StoryPrint,
    a_published: DateTime<Utc>,
    b: &StoryPrint,
    b_published: DateTime<Utc>,
    rules: &StoryRules,
) -> bool {
    (a_published - b_published).abs() <= rules.window
        && a.words >= 4
        && b.words >= 4
        && similarity(a, b) >= rules.threshold
}

/// The signature as stored (little-endian u32s).
pub fn signature_bytes(print: &StoryPrint) -> Vec<u8> {
    print
        .signature
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect()
}

/// A stored signature read back; `None` when the blob is not one.
pub fn signature_from_bytes(bytes: &[u8], words: u32) -> Option<StoryPrint> {
    if bytes.len() != SIGNATURE_LEN * 4 {
        return None;
    }
    let mut signature = [0u32; SIGNATURE_LEN];
    for (slot, chunk) in signature.iter_mut().zip(bytes.chunks_exact(4)) {
        *slot = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(StoryPrint { signature, words })
}

#[cfg(test)]
mod tests {
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
        let back = signature_from_bytes(&signature_bytes(&a), a.words).unwrap();
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
