//! Render: the merged feed, items in, bytes out, in Atom 1.0 (atom_syndication), RSS 2.0
//! (rss) and JSON Feed 1.1 (serde). Pure: no database, no clock (the feed's `updated` time is
//! the newest item's). Item HTML is sanitized with ammonia (no script, no event handlers, no
//! javascript: or data: URLs) and its relative links made absolute against the item's link.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::model::{FeedItem, ItemSource};

/// Why a feed could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("cannot write the {format} feed: {reason}")]
    Write {
        format: &'static str,
        reason: String,
    },
}

/// The three formats of the merged feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Atom,
    Rss,
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Atom, Format::Rss, Format::Json];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Atom => "atom",
            Format::Rss => "rss",
            Format::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "atom" => Ok(Format::Atom),
            "rss" => Ok(Format::Rss),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "`{other}` is not a feed format (atom, rss or json)"
            )),
        }
    }
}

/// Feed-level metadata.
#[derive(Debug, Clone)]
pub struct FeedMeta {
    pub title: String,
    pub subtitle: String,
    /// The URL this feed is served at (its self link), in this format.
    pub self_url: String,
    /// The human page (the server's `/`).
    pub site_url: String,
    /// A stable id for the feed (same for every format of one query).
    pub id: String,
    /// How often the feeds are polled, for RSS `<ttl>` (minutes).
    pub ttl_minutes: u32,
}

const GENERATOR: &str = "tigris";

/// The entry id of an item: stable across renders (it does not depend on the row id).
pub fn entry_id(item: &FeedItem) -> String {
    let digest = Sha256::digest(item.identity.as_bytes());
    format!("urn:tigris:item:{}", &hex::encode(digest)[..32])
}

/// The feed's `updated` time: its newest item's, or the Unix epoch for an empty feed (a fixed
/// value keeps an empty feed's bytes, and so its ETag, stable).
pub fn feed_updated(items: &[FeedItem]) -> DateTime<Utc> {
    items
        .iter()
        .map(|i| i.updated.max(i.published))
        .max()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Renders `items` (already in feed order) in `format`.
pub fn render(format: Format, meta: &FeedMeta, items: &[FeedItem]) -> Result<Vec<u8>, RenderError> {
    match format {
        Format::Atom => atom(meta, items).map(xml_chars_only),
        Format::Rss => rss(meta, items).map(xml_chars_only),
        Format::Json => json(meta, items),
    }
}

/// The document without the characters XML 1.0 cannot carry (§2.2: controls other than tab,
/// newline and return, U+FFFE and U+FFFF) or discourages (C1 controls): the feed writers
/// pass them through, and one such character makes a strict reader refuse the whole feed.
/// Stored text from before the parse stage dropped them may still hold some.
fn xml_chars_only(document: Vec<u8>) -> Vec<u8> {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
    match String::from_utf8(document) {
        Ok(text) if text.chars().all(allowed) => text.into_bytes(),
        // Whitespace XML cannot hold (vertical tab, form feed, NEL) still separates words.
        Ok(text) => text
            .chars()
            .filter_map(|c| match c {
                c if allowed(c) => Some(c),
                c if c.is_whitespace() => Some(' '),
                _ => None,
            })
            .collect::<String>()
            .into_bytes(),
        // The writers produce UTF-8; anything else is passed on as it is.
        Err(e) => e.into_bytes(),
    }
}

/// The item's HTML made safe: sanitized, relative links made absolute against its link, and
/// the list of feeds that carried it appended.
pub fn content_html(item: &FeedItem) -> String {
    let body = item
        .content_html
        .as_deref()
        .or(item.summary.as_deref())
        .unwrap_or("");
    let mut html = sanitize(body, item.url.as_deref());
    if !item.sources.is_empty() {
        html.push_str("<p>Carried by: ");
        for (i, source) in item.sources.iter().enumerate() {
            if i > 0 {
                html.push_str(", ");
            }
            let name = html_escape::encode_text(&source.feed_name);
            match source.item_url.as_deref().and_then(safe_url) {
                Some(href) => html.push_str(&format!(
                    "<a href=\"{}\">{name}</a>",
                    html_escape::encode_double_quoted_attribute(&href)
                )),
                None => html.push_str(&name),
            }
        }
        html.push_str("</p>");
    }
    if !item.also_reported_by.is_empty() {
        html.push_str("<p>Also reported by: ");
        for (i, other) in item.also_reported_by.iter().enumerate() {
            if i > 0 {
                html.push_str(", ");
            }
            let name = html_escape::encode_text(&other.feed_name);
            match other.item_url.as_deref().and_then(safe_url) {
                Some(href) => html.push_str(&format!(
                    "<a href=\"{}\">{name}</a>",
                    html_escape::encode_double_quoted_attribute(&href)
                )),
                None => html.push_str(&name),
            }
        }
        html.push_str("</p>");
    }
    html
}

/// Sanitizes untrusted HTML with ammonia's defaults (which drop script, style, event-handler
/// attributes and every URL scheme but http(s), mailto and a few other safe ones), rewriting
/// relative URLs against `base` when there is one.
pub fn sanitize(html: &str, base: Option<&str>) -> String {
    let mut builder = ammonia::Builder::default();
    match base.and_then(|b| Url::parse(b).ok()) {
        Some(base) => builder.url_relative(ammonia::UrlRelative::RewriteWithBase(base)),
        None => builder.url_relative(ammonia::UrlRelative::Deny),
    };
    builder.clean(html).to_string()
}

/// An http(s) URL, or nothing: item links from feeds are untrusted too.
pub fn safe_url(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()
        .filter(|u| u.scheme() == "http" || u.scheme() == "https")
        .map(String::from)
}

/// The categories every format carries: the topic, its subtopics, and the score.
fn categories(item: &FeedItem) -> Vec<String> {
    let mut categories = vec![item.topic.clone()];
    categories.extend(item.subtopics.iter().map(|s| format!("{}/{s}", item.topic)));
    categories.push(format!("score:{:.2}", item.score));
    categories
}

fn summary_text(item: &FeedItem) -> String {
    match &item.summary {
        Some(summary) => summary.clone(),
        None => item.text.chars().take(400).collect(),
    }
}

fn atom(meta: &FeedMeta, items: &[FeedItem]) -> Result<Vec<u8>, RenderError> {
    use atom_syndication::{Category, Content, Entry, Feed, Generator, Link, Person, Text};
    let link = |href: &str, rel: &str, mime: Option<&str>| Link {
        href: href.to_string(),
        rel: rel.to_string(),
        mime_type: mime.map(String::from),
        ..Link::default()
    };
    let entries: Vec<Entry> = items
        .iter()
        .map(|item| {
            let mut links = Vec::new();
            if let Some(url) = item.url.as_deref().and_then(safe_url) {
                links.push(link(&url, "alternate", Some("text/html")));
            }
            for source in item.sources.iter().chain(&item.also_reported_by) {
                if let Some(url) = source.item_url.as_deref().and_then(safe_url)
                    && Some(&url) != item.url.as_ref()
                    && !links.iter().any(|l| l.href == url)
                {
                    links.push(link(&url, "related", Some("text/html")));
                }
            }
            Entry {
                id: entry_id(item),
                title: Text::plain(item.title.clone()),
                updated: item.updated.max(item.published).fixed_offset(),
                published: Some(item.published.fixed_offset()),
                authors: item
                    .author
                    .iter()
                    .map(|name| Person {
                        name: name.clone(),
                        ..Person::default()
                    })
                    .collect(),
                links,
                categories: categories(item)
                    .into_iter()
                    .map(|term| Category {
                        term,
                        ..Category::default()
                    })
                    .collect(),
                summary: Some(Text::plain(summary_text(item))),
                content: Some(Content {
                    value: Some(content_html(item)),
                    content_type: Some("html".to_string()),
                    ..Content::default()
                }),
                ..Entry::default()
            }
        })
        .collect();
    let feed = Feed {
        title: Text::plain(meta.title.clone()),
        subtitle: Some(Text::plain(meta.subtitle.clone())),
        id: meta.id.clone(),
        updated: feed_updated(items).fixed_offset(),
        links: vec![
            link(&meta.self_url, "self", Some("application/atom+xml")),
            link(&meta.site_url, "alternate", Some("text/html")),
        ],
        generator: Some(Generator {
            value: GENERATOR.to_string(),
            uri: Some(env!("CARGO_PKG_REPOSITORY").to_string()),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
        }),
        entries,
        ..Feed::default()
    };
    feed.write_to(Vec::new()).map_err(|e| RenderError::Write {
        format: "Atom",
        reason: e.to_string(),
    })
}

fn rss(meta: &FeedMeta, items: &[FeedItem]) -> Result<Vec<u8>, RenderError> {
    use rss::extension::atom::{AtomExtension, Link as AtomLink};
    use rss::{Category, Channel, Guid, Item, Source};
    let rss_items: Vec<Item> = items
        .iter()
        .map(|item| {
            let first_source = item.sources.first();
            Item {
                title: Some(item.title.clone()),
                link: item.url.as_deref().and_then(safe_url),
                description: Some(content_html(item)),
                author: None,
                dublin_core_ext: item.author.as_ref().map(|a| {
                    rss::extension::dublincore::DublinCoreExtension {
                        creators: vec![a.clone()],
                        ..Default::default()
                    }
                }),
                guid: Some(Guid {
                    value: entry_id(item),
                    permalink: false,
                }),
                pub_date: Some(item.published.to_rfc2822()),
                categories: categories(item)
                    .into_iter()
                    .map(|name| Category { name, domain: None })
                    .collect(),
                source: first_source.and_then(|s| {
                    safe_url(&s.feed_url).map(|url| Source {
                        url,
                        title: Some(s.feed_name.clone()),
                    })
                }),
                ..Item::default()
            }
        })
        .collect();
    let channel = Channel {
        title: meta.title.clone(),
        link: meta.site_url.clone(),
        description: meta.subtitle.clone(),
        generator: Some(format!(
            "{GENERATOR} {} ({})",
            env!("CARGO_PKG_VERSION"),
            env!("CARGO_PKG_REPOSITORY")
        )),
        last_build_date: Some(feed_updated(items).to_rfc2822()),
        ttl: Some(meta.ttl_minutes.to_string()),
        atom_ext: Some(AtomExtension {
            links: vec![AtomLink {
                href: meta.self_url.clone(),
                rel: "self".into(),
                mime_type: Some("application/rss+xml".into()),
                ..AtomLink::default()
            }],
        }),
        items: rss_items,
        ..Channel::default()
    };
    channel
        .write_to(Vec::new())
        .map_err(|e| RenderError::Write {
            format: "RSS",
            reason: e.to_string(),
        })
}

/// JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/). tigris' own fields use the
/// spec's extension convention: a key starting with an underscore.
#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    description: &'a str,
    home_page_url: &'a str,
    feed_url: &'a str,
    items: Vec<JsonItem>,
}

#[derive(Serialize)]
struct JsonItem {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    title: String,
    content_html: String,
    summary: String,
    date_published: String,
    date_modified: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<JsonAuthor>,
    tags: Vec<String>,
    #[serde(rename = "_tigris")]
    tigris: JsonExtension,
}

#[derive(Serialize)]
struct JsonAuthor {
    name: String,
}

#[derive(Serialize)]
struct JsonExtension {
    about: &'static str,
    topic: String,
    score: f64,
    subtopics: Vec<String>,
    sources: Vec<ItemSource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    also_reported_by: Vec<ItemSource>,
}

/// A source with only http(s) links: links from feeds are untrusted.
fn safe_source(source: &ItemSource) -> ItemSource {
    ItemSource {
        feed_name: source.feed_name.clone(),
        feed_url: source.feed_url.clone(),
        site_url: source.site_url.as_deref().and_then(safe_url),
        item_url: source.item_url.as_deref().and_then(safe_url),
    }
}

fn json(meta: &FeedMeta, items: &[FeedItem]) -> Result<Vec<u8>, RenderError> {
    let feed = JsonFeed {
        version: "https://jsonfeed.org/version/1.1",
        title: &meta.title,
        description: &meta.subtitle,
        home_page_url: &meta.site_url,
        feed_url: &meta.self_url,
        items: items
            .iter()
            .map(|item| JsonItem {
                id: entry_id(item),
                url: item.url.as_deref().and_then(safe_url),
                title: item.title.clone(),
                content_html: content_html(item),
                summary: summary_text(item),
                date_published: item.published.to_rfc3339(),
                date_modified: item.updated.max(item.published).to_rfc3339(),
                authors: item
                    .author
                    .iter()
                    .map(|name| JsonAuthor { name: name.clone() })
                    .collect(),
                tags: categories(item),
                tigris: JsonExtension {
                    about: env!("CARGO_PKG_REPOSITORY"),
                    topic: item.topic.clone(),
                    score: item.score,
                    subtopics: item.subtopics.clone(),
                    sources: item.sources.iter().map(safe_source).collect(),
                    also_reported_by: item.also_reported_by.iter().map(safe_source).collect(),
                },
            })
            .collect(),
    };
    serde_json::to_vec_pretty(&feed).map_err(|e| RenderError::Write {
        format: "JSON Feed",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(crate) fn item(id: i64, title: &str, html: &str) -> FeedItem {
        FeedItem {
            id,
            identity: format!("https://news.example/{id}"),
            url: Some(format!("https://news.example/{id}")),
            title: title.into(),
            author: Some("Desk".into()),
            summary: None,
            content_html: Some(html.into()),
            text: "text".into(),
            published: Utc
                .with_ymd_and_hms(2026, 11, 20, 10, id as u32, 0)
                .unwrap(),
            updated: Utc
                .with_ymd_and_hms(2026, 11, 20, 10, id as u32, 0)
                .unwrap(),
            categories: vec![],
            topic: "us-iraq".into(),
            score: 0.91,
            subtopics: vec!["withdrawal-talks".into()],
            sources: vec![
                ItemSource {
                    feed_name: "Wire A".into(),
                    feed_url: "https://a.example/rss".into(),
                    site_url: None,
                    item_url: Some(format!("https://news.example/{id}?utm_source=a")),
                },
                ItemSource {
                    feed_name: "Wire <B>".into(),
                    feed_url: "https://b.example/rss".into(),
                    site_url: None,
                    item_url: Some(format!("https://b.example/story/{id}")),
                },
            ],
            story_id: None,
            also_reported_by: vec![],
        }
    }

    fn meta() -> FeedMeta {
        FeedMeta {
            title: "tigris: US–Iraq relations".into(),
            subtitle: "Merged".into(),
            self_url: "http://127.0.0.1:8080/feed.atom".into(),
            site_url: "http://127.0.0.1:8080/".into(),
            id: "urn:tigris:feed:us-iraq".into(),
            ttl_minutes: 15,
        }
    }

    #[test]
    fn every_format_parses_back_with_the_same_entries_in_order() {
        let items = vec![
            item(2, "Second & newest", "<p>Two</p>"),
            item(1, "First <one>", "<p>One <a href=\"/rel\">rel</a></p>"),
        ];
        for format in Format::ALL {
            let bytes = render(format, &meta(), &items).unwrap();
            let feed = feed_rs::parser::parse(bytes.as_slice())
                .unwrap_or_else(|e| panic!("{format:?}: {e}"));
            assert_eq!(feed.entries.len(), 2, "{format:?}");
            for (entry, item) in feed.entries.iter().zip(&items) {
                assert_eq!(entry.id, entry_id(item), "{format:?}");
                assert_eq!(
                    entry.title.as_ref().unwrap().content,
                    item.title,
                    "{format:?}"
                );
                assert_eq!(entry.links[0].href, item.url.clone().unwrap(), "{format:?}");
            }
            let content = feed.entries[1]
                .content
                .as_ref()
                .and_then(|c| c.body.clone())
                .or_else(|| feed.entries[1].summary.as_ref().map(|s| s.content.clone()))
                .unwrap();
            assert!(
                content.contains("https://news.example/rel"),
                "{format:?}: {content}"
            );
            assert!(content.contains("Wire &lt;B&gt;"), "{format:?}: {content}");
        }
    }

    #[test]
    fn entry_ids_are_stable_and_distinct() {
        let a = item(1, "A", "");
        let mut renamed = a.clone();
        renamed.id = 99;
        renamed.title = "A, edited".into();
        assert_eq!(entry_id(&a), entry_id(&renamed));
        assert_ne!(entry_id(&a), entry_id(&item(2, "B", "")));
    }

    #[test]
    fn json_feed_has_the_required_fields() {
        let bytes = render(Format::Json, &meta(), &[item(1, "A", "<p>x</p>")]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["version"], "https://jsonfeed.org/version/1.1");
        assert_eq!(v["title"], "tigris: US–Iraq relations");
        let item = &v["items"][0];
        assert!(item["id"].as_str().unwrap().starts_with("urn:tigris:item:"));
        assert!(item["content_html"].is_string());
        assert_eq!(item["_tigris"]["sources"][1]["feed_name"], "Wire <B>");
    }

    #[test]
    fn an_empty_feed_renders_the_same_bytes_twice() {
        for format in Format::ALL {
            assert_eq!(
                render(format, &meta(), &[]).unwrap(),
                render(format, &meta(), &[]).unwrap()
            );
        }
    }
}
