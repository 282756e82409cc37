//! Parse and normalize: feed bytes in, [`ParsedFeed`] out. feed-rs reads RSS 0.9x/1.0/2.0,
//! Atom and JSON Feed; this stage turns its model into tigris' [`Entry`]: absolute links
//! (xml:base, else the feed's URL), plain-text titles, the HTML content kept for output with a
//! plain-text copy for classification and search, UTC times. Pure: no I/O, no clock.

use feed_rs::model::{Entry as FeedEntry, Link, Text};
use url::Url;

use crate::model::{Entry, ParsedFeed};

/// Why a document could not be read as a feed. Every variant names where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body was empty.
    #[error("{source_name}: empty body (content type {content_type})")]
    Empty {
        source_name: String,
        content_type: String,
    },
    /// The body is not RSS, Atom or JSON Feed.
    #[error("{source_name}: not a feed (content type {content_type}): {reason}")]
    NotAFeed {
        source_name: String,
        content_type: String,
        reason: String,
    },
}

/// Titles longer than this are cut (a feed that puts the whole article in its title).
const MAX_TITLE_CHARS: usize = 500;

/// Parses `body` fetched from (or read as) `source_name`, resolving relative links against
/// `base` (the final URL after redirects). `content_type` is only used in error messages.
pub fn parse_feed(
    body: &[u8],
    base: Option<&Url>,
    source_name: &str,
    content_type: Option<&str>,
) -> Result<ParsedFeed, ParseError> {
    let content_type = content_type.unwrap_or("unknown").to_string();
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Empty {
            source_name: source_name.to_string(),
            content_type,
        });
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base.map(Url::as_str))
        // feed-rs invents a random UUID for an entry with neither id nor link; an empty id
        // instead tells the dedup stage to derive a stable key from the entry's content.
        .id_generator(|_, _, _| String::new())
        .build();
    let feed = parser.parse(body).map_err(|e| ParseError::NotAFeed {
        source_name: source_name.to_string(),
        content_type: content_type.clone(),
        reason: e.to_string(),
    })?;

    let feed_base = base.cloned();
    let site_url = pick_link(&feed.links)
        .and_then(|href| absolutize(href, feed_base.as_ref()))
        .map(String::from);
    let title = feed.title.as_ref().map(text_of).filter(|t| !t.is_empty());
    let entries = feed
        .entries
        .into_iter()
        .map(|e| normalize_entry(e, feed_base.as_ref()))
        .collect();
    Ok(ParsedFeed {
        title,
        site_url,
        entries,
    })
}

fn normalize_entry(entry: FeedEntry, feed_base: Option<&Url>) -> Entry {
    // xml:base on the entry wins over the document's URL (RFC 3986 §5.1).
    let entry_base = entry.base.as_deref().and_then(|b| absolutize(b, feed_base));
    let base = entry_base.as_ref().or(feed_base);

    let url = pick_link(&entry.links)
        .and_then(|href| absolutize(href, base))
        .map(String::from);

    let content_html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .filter(|b| !b.trim().is_empty());
    let summary_html = entry
        .summary
        .as_ref()
        .map(|s| s.content.clone())
        .filter(|s| !s.trim().is_empty());
    let summary = entry
        .summary
        .as_ref()
        .map(text_of)
        .filter(|s| !s.is_empty());
    let text = match (&content_html, &summary_html) {
        (Some(html), _) => html_to_text(html),
        (None, Some(_)) => summary.clone().unwrap_or_default(),
        (None, None) => String::new(),
    };

    let mut title = entry.title.as_ref().map(text_of).unwrap_or_default();
    if title.is_empty() {
        // An untitled entry (common in RSS 2.0, where only one of title/description is
        // required) is shown by the start of its text.
        title = text.chars().take(80).collect::<String>();
        if text.chars().count() > 80 {
            title.push('…');
        }
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        title = title.chars().take(MAX_TITLE_CHARS).collect::<String>() + "…";
    }

    let author = entry
        .authors
        .iter()
        .filter_map(|p| p.name.as_deref().map(str::trim).filter(|n| !n.is_empty()))
        .collect::<Vec<_>>()
        .join(", ");

    let mut categories: Vec<String> = Vec::new();
    for category in &entry.categories {
        let name = category
            .label
            .as_deref()
            .unwrap_or(&category.term)
            .trim()
            .to_string();
        if !name.is_empty() && !categories.contains(&name) {
            categories.push(name);
        }
    }

    Entry {
        guid: Some(entry.id.trim().to_string()).filter(|id| !id.is_empty()),
        url,
        title,
        author: Some(author).filter(|a| !a.is_empty()),
        // Keep the summary only when it adds something to the content.
        summary: if content_html.is_some() {
            summary
        } else {
            None
        },
        content_html: content_html.or(summary_html),
        text,
        published: entry.published.or(entry.updated),
        updated: entry.updated,
        categories,
    }
}

/// The entry's main link: the first `alternate` (or rel-less) link, else the first link.
fn pick_link(links: &[Link]) -> Option<&str> {
    links
        .iter()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| links.first())
        .map(|l| l.href.trim())
        .filter(|h| !h.is_empty())
}

/// Resolves `href` against `base`; an absolute `href` stands as it is.
fn absolutize(href: &str, base: Option<&Url>) -> Option<Url> {
    match Url::parse(href) {
        Ok(url) => Some(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => base.and_then(|b| b.join(href).ok()),
        Err(_) => None,
    }
}

/// Plain text of a feed `Text`, whether it was declared text or HTML.
fn text_of(text: &Text) -> String {
    if text.content_type.subty() == "html" || looks_like_html(&text.content) {
        html_to_text(&text.content)
    } else {
        collapse_whitespace(&text.content)
    }
}

/// RSS puts escaped HTML in plain elements without saying so; look for a tag or an entity.
fn looks_like_html(s: &str) -> bool {
    (s.contains('<') && s.contains('>')) || (s.contains('&') && s.contains(';'))
}

/// HTML to plain text with the html2text crate (no decorations, no wrapping), whitespace
/// collapsed to single spaces.
pub fn html_to_text(html: &str) -> String {
    match html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), 100_000)
    {
        Ok(text) => collapse_whitespace(&text),
        // html2text only fails on I/O errors of its reader, which a byte slice cannot have;
        // fall back to the raw text rather than lose it.
        Err(_) => collapse_whitespace(html),
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://news.example/feeds/iraq.xml").unwrap()
    }

    #[test]
    fn rss_entry_is_normalized() {
        let xml = br#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Iraq desk</title><link>/iraq</link>
<item><title>US troops &amp; Iraq</title><link>/story/1?utm_source=x</link>
<guid isPermaLink="false">abc-1</guid>
<description>&lt;p&gt;Coalition forces &lt;b&gt;left&lt;/b&gt; Ain al-Asad.&lt;/p&gt;</description>
<pubDate>Mon, 23 Nov 2026 10:00:00 +0300</pubDate><category>Iraq</category></item>
</channel></rss>"#;
        let feed = parse_feed(xml, Some(&base()), "test", None).unwrap();
        assert_eq!(feed.title.as_deref(), Some("Iraq desk"));
        assert_eq!(feed.site_url.as_deref(), Some("https://news.example/iraq"));
        let e = &feed.entries[0];
        assert_eq!(e.title, "US troops & Iraq");
        assert_eq!(e.guid.as_deref(), Some("abc-1"));
        assert_eq!(
            e.url.as_deref(),
            Some("https://news.example/story/1?utm_source=x")
        );
        assert_eq!(e.text, "Coalition forces left Ain al-Asad.");
        assert!(e.content_html.as_deref().unwrap().contains("<b>left</b>"));
        assert_eq!(
            e.published.unwrap().to_rfc3339(),
            "2026-11-23T07:00:00+00:00"
        );
        assert_eq!(e.categories, vec!["Iraq".to_string()]);
    }

    #[test]
    fn entry_without_id_or_link_gets_no_invented_guid() {
        let xml = br#"<rss version="2.0"><channel><title>t</title>
<item><title>Only a title</title><description>Some text</description></item>
</channel></rss>"#;
        let a = parse_feed(xml, Some(&base()), "test", None).unwrap();
        let b = parse_feed(xml, Some(&base()), "test", None).unwrap();
        assert_eq!(a.entries[0].guid, None);
        assert_eq!(a.entries[0].url, None);
        assert_eq!(a.entries[0].title, b.entries[0].title);
    }

    #[test]
    fn atom_xml_base_resolves_links() {
        let xml =
            br#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://other.example/base/">
<title>A</title><id>urn:a</id><updated>2026-11-23T00:00:00Z</updated>
<entry><id>urn:a:1</id><title type="html">&lt;i&gt;Erbil&lt;/i&gt; strike</title>
<link rel="alternate" href="post/1"/><updated>2026-11-23T00:00:00Z</updated>
<content type="html">&lt;p&gt;Text&lt;/p&gt;</content></entry></feed>"#;
        let feed = parse_feed(xml, Some(&base()), "test", None).unwrap();
        let e = &feed.entries[0];
        assert_eq!(e.title, "Erbil strike");
        assert_eq!(e.url.as_deref(), Some("https://other.example/base/post/1"));
    }

    #[test]
    fn html_page_is_not_a_feed_and_says_its_type() {
        let err = parse_feed(
            b"<html><body>Login</body></html>",
            Some(&base()),
            "https://news.example/feeds/iraq.xml",
            Some("text/html"),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not a feed"), "{text}");
        assert!(text.contains("text/html"), "{text}");
        assert!(text.contains("news.example"), "{text}");
    }

    #[test]
    fn empty_body_is_an_error() {
        let err = parse_feed(b"  \n", None, "f", None).unwrap_err();
        assert!(matches!(err, ParseError::Empty { .. }));
    }
}
