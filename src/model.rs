//! The types that cross stages. Each stage takes the previous stage's type and returns the
//! next one's: `FeedSource` → `Fetched` → `ParsedFeed`/`Entry` → `KeyedEntry` →
//! `ClassifiedEntry` → `StoreOutcome`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

/// A feed as the scheduler hands it to the pipeline: where it lives and what the last
/// successful fetch told us, for conditional GET.
#[derive(Debug, Clone)]
pub struct FeedSource {
    pub id: i64,
    pub url: Url,
    pub name: Option<String>,
    /// The cron expression in force for this feed (its own or the default).
    pub schedule: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// SHA-256 of the last body that was parsed, to skip parsing an identical body.
    pub body_hash: Option<String>,
    /// Failed fetches since the last success, and since when.
    pub consecutive_failures: u32,
    pub failing_since: Option<DateTime<Utc>>,
    /// A permanent redirect target seen on recent fetches, and how many in a row saw it.
    pub redirect_to: Option<String>,
    pub redirect_seen: u32,
    /// When the feed was due (None: never checked); how late a poll starts is measured
    /// against it.
    pub due_at: Option<DateTime<Utc>>,
}

impl FeedSource {
    /// The name to show a person: the configured name, else the URL.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.url.as_str())
    }
}

/// What a fetch brought back: a 304, or a body already decompressed and within the size cap.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    /// The URL after redirects; relative links in the document resolve against it.
    pub final_url: Url,
    /// The target when every redirect followed was permanent (301/308).
    pub permanent_redirect: Option<Url>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Freshness the server announces, for the scheduler.
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    /// `None` for 304 Not Modified.
    pub body: Option<Vec<u8>>,
}

impl Fetched {
    pub fn bytes(&self) -> u64 {
        self.body.as_ref().map_or(0, |b| b.len() as u64)
    }
}

/// A parsed feed document: its own metadata and its entries, normalized.
#[derive(Debug, Clone, Default)]
pub struct ParsedFeed {
    pub title: Option<String>,
    pub site_url: Option<String>,
    /// RSS `<ttl>`: minutes the publisher says the feed may be cached.
    pub ttl_minutes: Option<u32>,
    /// `<sy:updatePeriod>` / `<sy:updateFrequency>` (RSS Syndication module): how often the
    /// publisher says the feed changes.
    pub update_period: Option<chrono::Duration>,
    pub entries: Vec<Entry>,
}

/// One feed entry, normalized: absolute URLs, plain-text title, UTC times.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Entry {
    /// The entry's own id (RSS guid, Atom id, JSON Feed id), when the document gives one.
    pub guid: Option<String>,
    /// The entry's link, absolute.
    pub url: Option<String>,
    pub title: String,
    pub author: Option<String>,
    /// Plain-text summary, when the document gives one apart from the content.
    pub summary: Option<String>,
    /// The HTML content as published, kept for output.
    pub content_html: Option<String>,
    /// Plain text of the content (or summary), for classification and search.
    pub text: String,
    pub published: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub categories: Vec<String>,
}

/// An entry with the keys that decide whether it is already stored.
#[derive(Debug, Clone)]
pub struct KeyedEntry {
    pub entry: Entry,
    /// How this feed's entry is recognised across polls: `guid:…`, `link:…` or `hash:…`.
    pub entry_key: String,
    /// The link with tracking parameters, fragment and case noise removed; the cross-feed key.
    pub canonical_url: Option<String>,
    /// Hash of the stored fields; a different hash on a known entry means it was edited.
    pub content_hash: String,
}

/// The classifier's verdict on one item for one topic.
#[derive(Debug, Clone, Serialize)]
pub struct Classification {
    pub topic: String,
    /// In [0, 1].
    pub score: f64,
    /// The score reached the topic's threshold.
    pub relevant: bool,
    /// The topic's subtopics this item is about (only for relevant items), most evident first.
    pub subtopics: Vec<String>,
    /// The features that made the score, strongest first.
    pub evidence: Vec<Evidence>,
    /// Engine and topic version that produced it, e.g. `topic-engine-1/us-iraq@3fa2…`.
    pub classifier: String,
}

/// One piece of evidence for a score: a feature the item has and the logit it added.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Evidence {
    /// `term` (a topic term), `rule` (a topic rule) or `word` (a learned word feature).
    pub kind: String,
    pub name: String,
    /// For terms: the group it belongs to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group: Option<String>,
    /// For terms: `title` or `text`.
    #[serde(rename = "where", skip_serializing_if = "Option::is_none", default)]
    pub place: Option<String>,
    pub weight: f64,
}

/// One topic's verdict on an item as the store writes it (`classifications`): a
/// [`Classification`] with its subtopics and evidence already in their JSON columns' text,
/// made where the entry was classified (a parse thread), so that the store writer, whom every
/// poll waits for, only binds them (making them was ~4 % of the writer's CPU in a cold poll).
#[derive(Debug, Clone)]
pub struct StoredClassification {
    pub topic: String,
    pub score: f64,
    pub relevant: bool,
    /// `classifications.subtopics`: a JSON array of names.
    pub subtopics_json: String,
    /// `classifications.evidence`: the JSON of the `Vec<Evidence>`.
    pub evidence_json: String,
    pub classifier: String,
}

/// An entry ready to store: keyed, classified, and fingerprinted for story clustering.
#[derive(Debug, Clone)]
pub struct ClassifiedEntry {
    pub keyed: KeyedEntry,
    /// By topic, in the classifier's order.
    pub classifications: Vec<StoredClassification>,
    pub print: crate::cluster::StoryPrint,
    /// `items.categories`: a JSON array, made with the classifications.
    pub categories_json: String,
}

impl ClassifiedEntry {
    pub fn new(
        keyed: KeyedEntry,
        classifications: Vec<StoredClassification>,
        print: crate::cluster::StoryPrint,
    ) -> ClassifiedEntry {
        let categories_json =
            serde_json::to_string(&keyed.entry.categories).unwrap_or_else(|_| "[]".into());
        ClassifiedEntry {
            keyed,
            classifications,
            print,
            categories_json,
        }
    }
}

/// What storing one feed's entries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreOutcome {
    /// Items stored for the first time.
    pub new: u64,
    /// Known entries whose content changed; their rows were updated.
    pub updated: u64,
    /// Known entries with nothing changed.
    pub unchanged: u64,
    /// Entries new to this feed but already stored from another feed (same canonical URL).
    pub duplicate: u64,
}

impl StoreOutcome {
    pub fn add(&mut self, other: StoreOutcome) {
        self.new += other.new;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.duplicate += other.duplicate;
    }
}

/// Which stored items a merged feed holds: the same filters for every format, the CLI and
/// HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedQuery {
    pub topic: String,
    /// Items scoring at least this; `None` means the topic's threshold (its relevant items).
    pub min_score: Option<f64>,
    /// A feed's name or id: only items that feed carried.
    pub source: Option<String>,
    /// Only items published (else first seen) at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Full-text query (FTS5 syntax, or plain words).
    pub q: Option<String>,
    pub limit: usize,
    pub subtopic: Option<String>,
    /// One entry per story (the default) rather than one per item.
    pub stories: bool,
}

/// Default and largest number of entries in a merged feed.
pub const DEFAULT_FEED_LIMIT: usize = 50;
pub const MAX_FEED_LIMIT: usize = 500;

/// A feed that carried an item, as a merged feed's entry lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemSource {
    pub feed_name: String,
    pub feed_url: String,
    pub site_url: Option<String>,
    /// The item's link as this feed gave it.
    pub item_url: Option<String>,
}

/// A stored item as the merged feed shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedItem {
    pub id: i64,
    /// What makes the entry id stable across renders and rebuilds: the canonical URL, else
    /// the first carrying feed's URL and entry key.
    pub identity: String,
    pub url: Option<String>,
    pub title: String,
    pub author: Option<String>,
    pub summary: Option<String>,
    pub content_html: Option<String>,
    pub text: String,
    /// Published time, else first seen.
    pub published: DateTime<Utc>,
    /// The entry's updated time, else the time its stored content last changed.
    pub updated: DateTime<Utc>,
    pub categories: Vec<String>,
    pub topic: String,
    pub score: f64,
    pub subtopics: Vec<String>,
    pub sources: Vec<ItemSource>,
    pub story_id: Option<i64>,
    /// For one entry per story: the other items of the story, by the feeds that carried them.
    pub also_reported_by: Vec<ItemSource>,
}
