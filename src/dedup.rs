//! Dedup keys: decides how an entry is recognised, within its feed and across feeds. Pure;
//! the store applies the keys (it is the one that knows what is already stored).
//!
//! - Within a feed, an entry is known by its guid, else its canonical link, else a hash of its
//!   title and text (`entry_key`), so an entry with neither guid nor link keeps its identity
//!   across polls.
//! - Across feeds, an item is known by its canonical URL: lower-case scheme and host, no
//!   fragment, no tracking parameters (the ClearURLs rule set, applied by the `clearurls`
//!   crate's code, provider by provider, after one `RegexSet` search found the providers
//!   that apply: `url_cleaner`).
//! - `content_hash` covers the fields tigris stores, so an edited entry is told apart from an
//!   unchanged one.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};
use url::Url;

use crate::model::{Entry, KeyedEntry};

mod url_cleaner;

/// How tracking parameters are removed: the ClearURLs rules behind one `RegexSet` (see
/// `url_cleaner` for why), else the crate's own cleaner, else none.
enum Cleaner {
    Dispatched(url_cleaner::UrlCleaner),
    Crate(clearurls::UrlCleaner),
}

/// Built once, at the first URL: parsing the rules and compiling their regexes.
static CLEANER: LazyLock<Option<Cleaner>> = LazyLock::new(|| {
    match url_cleaner::UrlCleaner::from_rules(url_cleaner::CLEARURLS_RULES) {
        Ok(cleaner) => Some(Cleaner::Dispatched(cleaner)),
        Err(error) => {
            // Cannot happen with the vendored rules (a test builds them); if it does, the
            // crate's own loop gives the same URLs, only slower.
            tracing::warn!(%error, "URL cleaner: falling back to the clearurls crate's own");
            clearurls::UrlCleaner::from_embedded_rules()
                .ok()
                .map(Cleaner::Crate)
        }
    }
});

impl Cleaner {
    fn clear<'a>(&self, url: &'a Url) -> Result<std::borrow::Cow<'a, Url>, clearurls::Error> {
        match self {
            Self::Dispatched(cleaner) => cleaner.clear(url),
            Self::Crate(cleaner) => cleaner.clear_single_url(url),
        }
    }
}

/// Computes the keys of each entry. A document that repeats an entry key (the same guid
/// twice) keeps the first occurrence only, so one poll never updates an item twice.
pub fn key_entries(entries: Vec<Entry>) -> Vec<KeyedEntry> {
    let mut seen = std::collections::HashSet::new();
    entries
        .into_iter()
        .map(key_entry)
        .filter(|keyed| seen.insert(keyed.entry_key.clone()))
        .collect()
}

pub fn key_entry(entry: Entry) -> KeyedEntry {
    let canonical_url = entry.url.as_deref().and_then(canonical_url);
    let entry_key = match (&entry.guid, &canonical_url) {
        (Some(guid), _) => format!("guid:{guid}"),
        (None, Some(url)) => format!("link:{url}"),
        (None, None) => format!("hash:{}", hash_fields(&[&entry.title, &entry.text])),
    };
    let content_hash = content_hash(&entry);
    KeyedEntry {
        entry,
        entry_key,
        canonical_url,
        content_hash,
    }
}

/// The URL an item is known by across feeds, or `None` when `url` is not an absolute
/// http(s) URL (such links cannot identify a story across outlets).
pub fn canonical_url(url: &str) -> Option<String> {
    let mut url = Url::parse(url.trim()).ok()?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    // `Url` already lower-cases scheme and host and drops default ports.
    url.set_fragment(None);
    if let Some(cleaner) = CLEANER.as_ref()
        && let Ok(cleaned) = cleaner.clear(&url)
    {
        url = cleaned.into_owned();
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    Some(url.to_string())
}

/// SHA-256 over the fields tigris stores for an entry.
fn content_hash(entry: &Entry) -> String {
    let published = entry.published.map(|t| t.to_rfc3339()).unwrap_or_default();
    let updated = entry.updated.map(|t| t.to_rfc3339()).unwrap_or_default();
    let categories = entry.categories.join("\u{1f}");
    hash_fields(&[
        &entry.title,
        entry.url.as_deref().unwrap_or(""),
        entry.author.as_deref().unwrap_or(""),
        entry.summary.as_deref().unwrap_or(""),
        entry.content_html.as_deref().unwrap_or(""),
        &entry.text,
        &published,
        &updated,
        &categories,
    ])
}

/// Hex SHA-256 of the fields, separated so that ("ab","c") and ("a","bc") differ.
pub fn hash_fields(fields: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update(field.as_bytes());
        hasher.update([0x1e]);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_parameters_fragment_and_case_are_removed() {
        assert_eq!(
            canonical_url(
                "HTTPS://News.Example.com/world/iraq-talks?utm_source=rss&utm_medium=feed&fbclid=abc#top"
            )
            .as_deref(),
            Some("https://news.example.com/world/iraq-talks")
        );
        assert_eq!(
            canonical_url("https://news.example.com/a?id=7&gclid=xyz").as_deref(),
            Some("https://news.example.com/a?id=7")
        );
    }

    #[test]
    fn meaningful_query_and_path_case_are_kept() {
        assert_eq!(
            canonical_url("https://news.example.com/Story?id=7").as_deref(),
            Some("https://news.example.com/Story?id=7")
        );
        assert_eq!(canonical_url("/relative/only"), None);
        assert_eq!(canonical_url("mailto:desk@news.example"), None);
    }

    #[test]
    fn canonical_url_is_idempotent() {
        let once = canonical_url("http://a.example/x?utm_campaign=1&b=2#f").unwrap();
        assert_eq!(canonical_url(&once).unwrap(), once);
    }

    #[test]
    fn entry_key_prefers_guid_then_link_then_hash() {
        let mut entry = Entry {
            guid: Some("g1".into()),
            url: Some("https://a.example/1?utm_source=x".into()),
            title: "T".into(),
            text: "body".into(),
            ..Entry::default()
        };
        assert_eq!(key_entry(entry.clone()).entry_key, "guid:g1");
        entry.guid = None;
        assert_eq!(
            key_entry(entry.clone()).entry_key,
            "link:https://a.example/1"
        );
        entry.url = None;
        let hashed = key_entry(entry.clone()).entry_key;
        assert!(hashed.starts_with("hash:"));
        assert_eq!(key_entry(entry.clone()).entry_key, hashed, "stable");
        entry.title = "Other".into();
        assert_ne!(key_entry(entry).entry_key, hashed);
    }

    #[test]
    fn content_hash_changes_with_title_only() {
        let entry = Entry {
            guid: Some("g".into()),
            title: "Before".into(),
            ..Entry::default()
        };
        let before = key_entry(entry.clone());
        let again = key_entry(entry.clone());
        let after = key_entry(Entry {
            title: "After".into(),
            ..entry
        });
        assert_eq!(before.content_hash, again.content_hash);
        assert_ne!(before.content_hash, after.content_hash);
        assert_eq!(before.entry_key, after.entry_key);
    }
}
