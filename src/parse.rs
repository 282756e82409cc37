//! Parse and normalize: feed bytes in, [`ParsedFeed`] out. feed-rs reads RSS 0.9x/1.0/2.0,
//! Atom and JSON Feed; this stage turns its model into tigris' [`Entry`]: absolute links
//! (xml:base, else the feed's URL), plain-text titles, the HTML content kept for output with a
//! plain-text copy for classification and search, UTC times. Pure: no I/O, no clock.
//!
//! Before feed-rs sees the bytes they are decoded to UTF-8 here ([`decode_to_utf8`]): feed-rs
//! only honours the XML declaration, while the HTTP charset and a byte-order mark outrank it.
//! A body that is no feed but an HTML page is told apart ([`ParseError::HtmlPage`]), with the
//! feed its `<link rel="alternate">` points to, because that is the usual mistake in a config.

use std::borrow::Cow;
use std::ops::Range;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
use feed_rs::model::{Entry as FeedEntry, Link, Text};
use url::Url;

use crate::model::{Entry, ParsedFeed};

mod timestamp;

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
    /// The feed parser (feed-rs, quick-xml) panicked on the document: a bug in it, found by
    /// fuzzing. The document is refused instead of the thread being lost.
    #[error("{source_name}: the feed parser failed on this document ({reason})")]
    ParserFailed { source_name: String, reason: String },
    /// The body is an HTML page (a site's front page, a login wall, an error page), not a
    /// feed; `feed_url` is the feed its `<link rel="alternate">` names, when it names one.
    #[error(
        "{source_name}: an HTML page ({content_type}), not a feed{}",
        points_to(feed_url.as_deref())
    )]
    HtmlPage {
        source_name: String,
        content_type: String,
        feed_url: Option<String>,
    },
}

fn points_to(feed_url: Option<&str>) -> String {
    match feed_url {
        Some(url) => format!("; it points to a feed at {url}"),
        None => "; it names no feed (no <link rel=\"alternate\"> of a feed type)".to_string(),
    }
}

/// Titles longer than this are cut (a feed that puts the whole article in its title).
const MAX_TITLE_CHARS: usize = 500;

/// Parses `body` fetched from (or read as) `source_name`, resolving relative links against
/// `base` (the final URL after redirects). `content_type` is the HTTP Content-Type header
/// value: its charset decides the decoding (see [`decode_to_utf8`]), and it is named in
/// error messages.
pub fn parse_feed(
    body: &[u8],
    base: Option<&Url>,
    source_name: &str,
    content_type: Option<&str>,
) -> Result<ParsedFeed, ParseError> {
    let text = decode_to_utf8(body, content_type);
    let content_type_seen = content_type.unwrap_or("unknown").to_string();
    if text.trim().is_empty() {
        return Err(ParseError::Empty {
            source_name: source_name.to_string(),
            content_type: content_type_seen,
        });
    }
    let parser = feed_rs::parser::Builder::new()
        .base_uri(base.map(Url::as_str))
        // feed-rs invents a random UUID for an entry with neither id nor link; an empty id
        // instead tells the dedup stage to derive a stable key from the entry's content.
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(timestamp::timestamp)
        .build();
    let text = c1_controls_as_windows_1252(text);
    let repaired = repair_for_feed_rs(&text);
    // quick-xml 0.42 panics on some ill-formed input (an XML declaration after the start of
    // the document, found by fuzzing; `repair_for_feed_rs` removes that one). Whatever else
    // is left, a panic in the parser refuses this document only.
    let parse = |document: &str| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parser.parse(document.as_bytes())
        }))
        .map_err(|panic| ParseError::ParserFailed {
            source_name: source_name.to_string(),
            reason: panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "it panicked".to_string()),
        })
    };
    let feed = match parse(&repaired)? {
        // JSON Feed's `version` is a URL feed-rs matches exactly; publishers write "1.0" or
        // the http:// form. The rest of the document decides whether it is a feed.
        Err(feed_rs::parser::ParseFeedError::JsonUnsupportedVersion(_)) => {
            parse(&with_json_feed_version(&repaired))?
        }
        result => result,
    };
    let feed = feed.map_err(|e| {
        // Only a body feed-rs refused is looked at as HTML: servers that label a real feed
        // text/html are common, and their feeds must still be read.
        if is_html_page(content_type, &text) {
            ParseError::HtmlPage {
                source_name: source_name.to_string(),
                content_type: content_type_seen.clone(),
                feed_url: html_feed_link(&text, base),
            }
        } else {
            ParseError::NotAFeed {
                source_name: source_name.to_string(),
                content_type: content_type_seen.clone(),
                reason: e.to_string(),
            }
        }
    })?;

    let feed_base = base.cloned();
    let site_url = pick_link(&feed.links)
        .and_then(|href| absolutize(href, feed_base.as_ref()))
        .map(String::from);
    // Atom says whether a text is plain or markup (RFC 4287 §3.1), JSON Feed's titles are
    // plain; RSS leaves it open, so there markup is recognised by its look.
    let declared = matches!(
        feed.feed_type,
        feed_rs::model::FeedType::Atom | feed_rs::model::FeedType::JSON
    );
    let title = feed
        .title
        .as_ref()
        .map(|t| text_of(t, declared))
        .filter(|t| !t.is_empty());
    let entries = feed
        .entries
        .into_iter()
        .map(|e| normalize_entry(e, feed_base.as_ref(), declared))
        .collect();
    Ok(ParsedFeed {
        title,
        site_url,
        ttl_minutes: feed.ttl,
        update_period: syndication_period(text.as_bytes()),
        entries,
    })
}

/// Rewrites the few things real feeds do that feed-rs 3 refuses or ignores, so that the
/// document feed-rs reads means what the publisher meant (measured on the corpus of feed
/// library test suites; see docs/corpus.md and docs/feed-rs-issues.md):
///
/// - HTML named entities (`&eacute;`, `&nbsp;`) that XML does not declare come out of feed-rs
///   as literal text, indistinguishable from an escaped `&amp;eacute;`; they become numeric
///   references (`&#xE9;`). Entities the document's own DOCTYPE declares with a plain value
///   are expanded; external ones never are.
/// - `<rss>` with no `version`, or 0.93/0.94/2.0.x, is "no root element" to feed-rs; it is
///   read as 2.0, which those versions are subsets of.
/// - Atom 0.3 (`http://purl.org/atom/ns#`) and RSS 0.90 (`http://my.netscape.com/rdf/simple/0.9/`)
///   namespaces are unknown to feed-rs, which then sees no title, link or entry; they are
///   mapped to Atom 1.0 and RSS 1.0, and Atom 0.3's `issued`, `modified`, `tagline` and
///   `copyright` to their Atom 1.0 names.
/// - An Atom text construct whose `type` is a MIME type (`text/plain`, Atom 0.3's way) or
///   anything but text/html/xhtml makes feed-rs refuse the document; the type becomes the
///   Atom 1.0 keyword it means, else `text`.
///
/// Works on the event stream of quick-xml (the reader feed-rs uses) and copies everything
/// else byte for byte; a document that needs none of this is borrowed, not copied. JSON is
/// left alone.
fn repair_for_feed_rs(text: &str) -> Cow<'_, str> {
    // feed-rs decides by the first `<` or `{` anywhere, so XML after leading junk is still
    // read as XML, and repaired as such.
    if text
        .find(['<', '{'])
        .and_then(|at| text.get(at..))
        .is_none_or(|t| t.starts_with('{'))
    {
        return Cow::Borrowed(text);
    }
    repaired_by_scan(text).unwrap_or_else(|| repaired_by_events(text))
}

/// [`repair_for_feed_rs`] on an XML document, by reading its events.
fn repaired_by_events(text: &str) -> Cow<'_, str> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    let mut out = String::new();
    let mut copied = 0;
    let mut declared: Vec<(String, String)> = Vec::new();
    let mut seen_root = false;
    let mut atom03 = false;
    let mut read_all = true;
    loop {
        let start = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = match reader.read_event() {
            Ok(Event::Eof) => break,
            Err(_) => {
                read_all = false;
                break;
            }
            Ok(event) => event,
        };
        let end = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let Some(raw) = text.get(start..end) else {
            break;
        };
        let replacement = match event {
            // A declaration anywhere but at the very start is ill-formed (XML 1.0 §2.8), and
            // makes quick-xml panic when feed-rs reads it (it tries to switch encodings
            // mid-stream). The text is UTF-8 by now, so it says nothing: drop it.
            Event::Decl(_)
                if !text[..start]
                    .trim_start_matches('\u{feff}')
                    .trim()
                    .is_empty() =>
            {
                Some(String::new())
            }
            // At the start, the declaration has done its work: the text is UTF-8 by now. One
            // naming an encoding is replaced by a plain one, since quick-xml panics when it
            // may only act on it after its first bytes are gone (a declaration longer than
            // its prefix buffer, or one whose `?>` comes late).
            Event::Decl(_) if raw.contains("encoding") => {
                Some("<?xml version=\"1.0\"?>".to_string())
            }
            Event::DocType(_) => {
                declared = declared_entities(raw);
                None
            }
            Event::Start(ref tag) | Event::Empty(ref tag) => {
                let is_root = !seen_root;
                seen_root = true;
                if is_root {
                    atom03 = is_atom03_root(tag);
                }
                let empty = matches!(event, Event::Empty(_));
                repair_tag(tag, empty, is_root, atom03)
                    .map(|t| fix_entities(&t, &declared).into_owned())
                    .or_else(|| match fix_entities(raw, &declared) {
                        Cow::Owned(fixed) => Some(fixed),
                        Cow::Borrowed(_) => None,
                    })
            }
            Event::End(ref tag) if atom03 => {
                let name = tag.name();
                atom03_name(name.as_ref()).map(|new| format!("</{new}>"))
            }
            Event::Text(_) | Event::GeneralRef(_) => match fix_entities(raw, &declared) {
                Cow::Owned(fixed) => Some(fixed),
                Cow::Borrowed(_) => None,
            },
            _ => None,
        };
        if let (Some(replacement), Some(before)) = (replacement, text.get(copied..start)) {
            out.push_str(before);
            out.push_str(&replacement);
            copied = end;
        }
    }
    let rest = text.get(copied..).unwrap_or_default();
    // Where quick-xml stopped on an error, feed-rs's reader may still go on; a declaration
    // in that unread part must not reach it either (see the Decl arm above).
    let rest = if read_all {
        Cow::Borrowed(rest)
    } else {
        without_xml_declarations(rest)
    };
    if copied == 0 && matches!(rest, Cow::Borrowed(_)) {
        return Cow::Borrowed(text);
    }
    out.push_str(&rest);
    Cow::Owned(out)
}

/// What [`repaired_by_events`] gives, found by a scan of the bytes instead of quick-xml's
/// events, for a document that needs nothing but its XML declaration made plain: most feeds
/// (on the benchmark farm's cold poll, reading every event was ~7 % of the parse threads' CPU
/// samples for documents that needed only that). `None` when the scan cannot rule out any
/// other repair; it errs only that way (too many `None`s, never a missed repair), and a test
/// compares both on every corpus document.
///
/// What it rules out, in the whole document (text, tags, comments and CDATA alike, which is
/// more than the events' pass looks at): an entity reference `fix_entities` rewrites, the
/// Atom 0.3 and RSS 0.90 namespaces, a DOCTYPE, any `<?xml` but a declaration at the start,
/// and a comment or DOCTYPE before the root. The root tag and every tag of an Atom text
/// construct or content with attributes are read as quick-xml reads them and checked as
/// `repair_tag` checks them.
fn repaired_by_scan(text: &str) -> Option<Cow<'_, str>> {
    // memchr's SIMD search: with `str::contains`, these two scans of every document were
    // ~1.3 % of the CPU samples of `benches/floors.rs`'s stages on the benchmark farm.
    let has = |needle: &str| memchr::memmem::find(text.as_bytes(), needle.as_bytes()).is_some();
    if has(ATOM_03_NS) || has(RSS_090_NS) || matches!(fix_entities(text, &[]), Cow::Owned(_)) {
        return None;
    }
    let bytes = text.as_bytes();
    let starts_with_xml = |at: usize| {
        bytes
            .get(at..at + 3)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"xml"))
    };
    let mut at = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    // The declaration, when the document starts with one: it names an encoding, and is
    // replaced by a plain one, as the events' pass does.
    let mut declaration = None;
    if bytes[at..].starts_with(b"<?") && starts_with_xml(at + 2) {
        if !(bytes[at..].starts_with(b"<?xml")
            && bytes
                .get(at + 5)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'?'))
        {
            return None;
        }
        let end = at + text[at..].find("?>")? + 2;
        let raw = &text[at..end];
        if raw[..raw.len() - 1].contains('>') {
            return None;
        }
        // One that names none is left as it is, unless quick-xml fails on the document
        // somewhere (its pass then makes every declaration a stray instruction, this one
        // too): only the events can tell, so they are read.
        if !raw.contains("encoding") {
            return None;
        }
        declaration = Some((at, end));
        at = end;
    }
    let mut root_seen = false;
    for (offset, _) in text[at..].match_indices('<') {
        let tag_at = at + offset;
        let rest = &bytes[tag_at + 1..];
        match rest.first() {
            Some(b'?') if starts_with_xml(tag_at + 2) => return None,
            Some(b'?' | b'/') => continue,
            Some(b'!') if !root_seen => return None,
            Some(b'!') if rest[1..].len() >= 7 && rest[1..8].eq_ignore_ascii_case(b"doctype") => {
                return None;
            }
            Some(b'!') => continue,
            _ => {}
        }
        if !root_seen {
            root_seen = true;
            if !rest
                .first()
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
            {
                return None;
            }
            let (tag, empty) = start_tag(text, tag_at)?;
            if is_atom03_root(&tag) || repair_tag(&tag, empty, true, false).is_some() {
                return None;
            }
            continue;
        }
        let name = rest.strip_prefix(b"atom:").unwrap_or(rest);
        let checked = [
            "title",
            "subtitle",
            "summary",
            "rights",
            "content",
            "tagline",
            "copyright",
        ]
        .iter()
        .any(|n| {
            name.starts_with(n.as_bytes()) && name.get(n.len()).is_some_and(u8::is_ascii_whitespace)
        });
        if checked {
            let (tag, empty) = start_tag(text, tag_at)?;
            if repair_tag(&tag, empty, false, false).is_some() {
                return None;
            }
        }
    }
    Some(match declaration {
        Some((from, to)) => Cow::Owned(format!(
            "{}<?xml version=\"1.0\"?>{}",
            &text[..from],
            &text[to..]
        )),
        None => Cow::Borrowed(text),
    })
}

/// Whether a document's root tag is Atom 0.3's (`<feed>` in its namespace or of version 0.3).
fn is_atom03_root(tag: &quick_xml::events::BytesStart<'_>) -> bool {
    tag.local_name().into_inner() == "feed"
        && tag
            .attributes()
            .with_checks(false)
            .flatten()
            .any(|a| a.value == ATOM_03_NS || (a.key.as_ref() == "version" && a.value == "0.3"))
}

/// The start (or empty) tag at `at`, read by quick-xml as its pass would read it: the tag
/// ends at the first `>` outside quotes. Whether it is empty (`<x/>`).
fn start_tag(text: &str, at: usize) -> Option<(quick_xml::events::BytesStart<'_>, bool)> {
    use quick_xml::events::Event;

    let mut quote = None;
    let end = text.as_bytes()[at..].iter().position(|&b| match quote {
        Some(q) if b == q => {
            quote = None;
            false
        }
        Some(_) => false,
        None if b == b'"' || b == b'\'' => {
            quote = Some(b);
            false
        }
        None => b == b'>',
    })?;
    match quick_xml::Reader::from_str(&text[at..=at + end]).read_event() {
        Ok(Event::Start(tag)) => Some((tag, false)),
        Ok(Event::Empty(tag)) => Some((tag, true)),
        _ => None,
    }
}

/// The JSON document with its top-level `version` set to JSON Feed 1.1's; unchanged when it
/// is not a JSON object.
fn with_json_feed_version(text: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(mut object)) => {
            object.insert(
                "version".to_string(),
                serde_json::Value::String("https://jsonfeed.org/version/1.1".to_string()),
            );
            serde_json::Value::Object(object).to_string()
        }
        _ => text.to_string(),
    }
}

/// `text` with every `<?xml` declaration turned into a harmless processing instruction
/// (`<?xml-stray`), for text that quick-xml could not read as events.
fn without_xml_declarations(text: &str) -> Cow<'_, str> {
    let is_declaration = |at: usize| {
        let bytes = text.as_bytes();
        bytes
            .get(at + 2..at + 5)
            .is_some_and(|n| n.eq_ignore_ascii_case(b"xml"))
            && bytes
                .get(at + 5)
                .is_some_and(|b| b.is_ascii_whitespace() || *b == b'?')
    };
    let starts: Vec<usize> = text
        .match_indices("<?")
        .map(|(at, _)| at)
        .filter(|at| is_declaration(*at))
        .collect();
    if starts.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 6 * starts.len());
    let mut copied = 0;
    for at in starts {
        out.push_str(&text[copied..at + 5]);
        out.push_str("-stray");
        copied = at + 5;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

const ATOM_03_NS: &str = "http://purl.org/atom/ns#";
const RSS_090_NS: &str = "http://my.netscape.com/rdf/simple/0.9/";

/// Atom 0.3 element names that Atom 1.0 renamed.
fn atom03_name(name: &str) -> Option<&'static str> {
    match name {
        "issued" => Some("published"),
        "modified" => Some("updated"),
        "tagline" => Some("subtitle"),
        "copyright" => Some("rights"),
        _ => None,
    }
}

/// The tag rewritten for feed-rs (see [`repair_for_feed_rs`]), or `None` when it is fine.
fn repair_tag(
    tag: &quick_xml::events::BytesStart<'_>,
    empty: bool,
    is_root: bool,
    atom03: bool,
) -> Option<String> {
    let name = tag.name();
    let name = name.as_ref();
    let local = tag.local_name();
    let local = local.into_inner();
    let mut changed = false;
    let new_name = match atom03.then(|| atom03_name(name)).flatten() {
        Some(new) => {
            changed = true;
            new
        }
        None => name,
    };
    // Atom's own elements only: `media:title type="plain"` is Media RSS's, and fine.
    let atom_element = !name.contains(':') || name.starts_with("atom:");
    let text_construct = atom_element
        && matches!(
            atom03_name(local).unwrap_or(local),
            "title" | "subtitle" | "summary" | "rights"
        );
    let content = atom_element && local == "content";
    let mut attributes: Vec<(String, Cow<'_, str>)> = Vec::new();
    let mut has_version = false;
    for attribute in tag.attributes().with_checks(false) {
        let Ok(attribute) = attribute else {
            // An attribute quick-xml cannot read: leave the tag as it was.
            return None;
        };
        let key = attribute.key.as_ref().to_string();
        let mut value = attribute.value;
        if value == ATOM_03_NS {
            value = Cow::Borrowed(ATOM_NS);
            changed = true;
        } else if value == RSS_090_NS {
            value = Cow::Borrowed(RSS_10_NS);
            changed = true;
        } else if is_root && local == "rss" && key == "version" {
            has_version = true;
            if !matches!(value.as_ref(), "2.0" | "0.91" | "0.92") {
                value = Cow::Borrowed("2.0");
                changed = true;
            }
        } else if text_construct && key == "type" {
            let keyword = match value.trim().to_ascii_lowercase().as_str() {
                "text" | "text/plain" => "text",
                "html" | "text/html" => "html",
                "xhtml" | "application/xhtml+xml" => "xhtml",
                _ => "text",
            };
            if value != keyword {
                value = Cow::Borrowed(keyword);
                changed = true;
            }
        } else if content && key == "type" {
            // Content may have any MIME type (RFC 4287 §4.1.3); feed-rs refuses the three that
            // mean text, HTML and XHTML, which Atom 0.3 always used.
            let keyword = match value.trim().to_ascii_lowercase().as_str() {
                "text/plain" => Some("text"),
                "text/html" => Some("html"),
                "application/xhtml+xml" => Some("xhtml"),
                _ => None,
            };
            if let Some(keyword) = keyword {
                value = Cow::Borrowed(keyword);
                changed = true;
            }
        }
        attributes.push((key, value));
    }
    if is_root && local == "rss" && !has_version {
        attributes.push(("version".to_string(), Cow::Borrowed("2.0")));
        changed = true;
    }
    if !changed {
        return None;
    }
    let mut out = format!("<{new_name}");
    for (key, value) in &attributes {
        // Values are kept as written (still escaped); only the quote must not clash.
        let quote = if value.contains('"') { '\'' } else { '"' };
        out.push_str(&format!(" {key}={quote}{value}{quote}"));
    }
    out.push_str(if empty { "/>" } else { ">" });
    Some(out)
}

const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
const RSS_10_NS: &str = "http://purl.org/rss/1.0/";

/// Entities a DOCTYPE's internal subset declares with a plain quoted value
/// (`<!ENTITY id "tag:example.com,">`). External entities (`SYSTEM`, `PUBLIC`) are skipped:
/// tigris never fetches them.
fn declared_entities(doctype: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = doctype;
    while let Some(at) = rest.find("<!ENTITY") {
        rest = &rest[at + "<!ENTITY".len()..];
        let mut words = rest.trim_start().splitn(2, char::is_whitespace);
        let (Some(name), Some(after)) = (words.next(), words.next()) else {
            break;
        };
        let after = after.trim_start();
        let Some(quote) = after.chars().next().filter(|q| *q == '"' || *q == '\'') else {
            continue;
        };
        let Some(value) = after[1..].split(quote).next() else {
            continue;
        };
        // A value with markup or references of its own is not expanded.
        if name != "%" && !value.contains(['<', '&']) {
            found.push((name.to_string(), value.to_string()));
        }
    }
    found
}

/// `raw` (text or a tag, as written) with every reference to an entity XML does not predefine
/// replaced: a DOCTYPE-declared one by its value, an HTML named one by numeric references.
/// Unknown names are left for feed-rs to refuse.
fn fix_entities<'a>(raw: &'a str, declared: &[(String, String)]) -> Cow<'a, str> {
    if !raw.contains('&') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::new();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = raw.get(search..).and_then(|r| r.find('&')) {
        let amp = search + found;
        search = amp + 1;
        let Some(semi) = raw.get(amp + 1..).and_then(|r| r.find(';')) else {
            break;
        };
        let name = &raw[amp + 1..amp + 1 + semi];
        if let Some(fixed) = c1_reference(name) {
            out.push_str(&raw[copied..amp]);
            out.push_str(&fixed);
            copied = amp + 1 + semi + 1;
            search = copied;
            continue;
        }
        if name.is_empty()
            || name.len() > 32
            || !name.chars().all(|c| c.is_ascii_alphanumeric())
            || !name.starts_with(|c: char| c.is_ascii_alphabetic())
            || matches!(name, "amp" | "lt" | "gt" | "quot" | "apos")
        {
            continue;
        }
        let replacement = match declared.iter().find(|(n, _)| n == name) {
            Some((_, value)) => value.clone(),
            None => {
                let reference = format!("&{name};");
                let decoded = html_escape::decode_html_entities(&reference);
                if decoded == reference {
                    continue;
                }
                decoded
                    .chars()
                    .map(|c| format!("&#x{:X};", u32::from(c)))
                    .collect()
            }
        };
        out.push_str(&raw[copied..amp]);
        out.push_str(&replacement);
        copied = amp + 1 + semi + 1;
        search = copied;
    }
    if copied == 0 {
        return Cow::Borrowed(raw);
    }
    out.push_str(&raw[copied..]);
    Cow::Owned(out)
}

/// C1 control characters (U+0080–U+009F) in decoded text as the windows-1252 characters
/// they stand for: a publisher's UTF-8 that carries Word's curly quotes as C1 code points.
fn c1_controls_as_windows_1252(text: Cow<'_, str>) -> Cow<'_, str> {
    let is_c1 = |c: char| ('\u{80}'..='\u{9f}').contains(&c);
    if !text.contains(is_c1) {
        return text;
    }
    Cow::Owned(
        text.chars()
            .map(|c| match u8::try_from(u32::from(c)) {
                Ok(byte) if is_c1(c) => {
                    let bytes = [byte];
                    let (decoded, _) =
                        encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes);
                    decoded.chars().next().unwrap_or(c)
                }
                _ => c,
            })
            .collect(),
    )
}

/// A numeric reference to a C1 control (`&#146;`, `&#x93;`) as the windows-1252 character
/// the publisher meant (`’`, `“`), as HTML (WHATWG tokenizer, numeric character reference
/// end state) and feedparser read it: such references come from pasted Word text, and a
/// C1 control is never what a feed means.
fn c1_reference(name: &str) -> Option<String> {
    let digits = name.strip_prefix('#')?;
    let code = match digits.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u32>().ok()?,
    };
    let byte = u8::try_from(code)
        .ok()
        .filter(|b| (0x80..=0x9F).contains(b))?;
    let bytes = [byte];
    let (decoded, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes);
    let c = decoded.chars().next().filter(|c| u32::from(*c) > 0x9F)?;
    Some(format!("&#x{:X};", u32::from(c)))
}

/// How far into a document its XML declaration is looked for. The declaration must open the
/// document (XML 1.0 §2.8); the slack covers leading whitespace some servers emit.
const DECLARATION_WINDOW: usize = 1024;

/// Decodes a fetched body to UTF-8 text, choosing the encoding as browsers and feed readers
/// do (XML 1.0 Appendix F, RFC 7303 §3):
///
/// 1. a byte-order mark (UTF-8, UTF-16LE, UTF-16BE);
/// 2. else the `charset` parameter of `content_type`, by its WHATWG label;
/// 3. else the XML declaration's `encoding` (a document with no declaration, like a JSON
///    Feed, skips this), or UTF-16 recognised from a declaration written in UTF-16;
/// 4. else UTF-8, invalid sequences replaced by U+FFFD.
///
/// An XML declaration naming another encoding is rewritten to say `utf-8`, since feed-rs
/// would otherwise decode the already-decoded text a second time. The common case (valid
/// UTF-8, no BOM, no conflicting declaration) borrows `body` without copying it. WHATWG labels
/// are used as they are: `iso-8859-1`, `latin1` and `us-ascii` mean windows-1252 and `gb2312`
/// means GBK, as in every browser, since that is what such documents actually contain.
pub fn decode_to_utf8<'a>(body: &'a [u8], content_type: Option<&str>) -> Cow<'a, str> {
    let (encoding, bom_len) = match Encoding::for_bom(body) {
        Some(found) => found,
        None => {
            let encoding = content_type
                .and_then(charset_label)
                .and_then(|label| Encoding::for_label_no_replacement(label.as_bytes()))
                .or_else(|| encoding_of_declaration(body))
                .unwrap_or(UTF_8);
            (encoding, 0)
        }
    };
    let body = body.get(bom_len..).unwrap_or_default();
    // Borrows when the body is valid UTF-8, or ASCII in an ASCII-compatible encoding.
    let (text, _had_errors) = encoding.decode_without_bom_handling(body);
    let Some(range) = xml_declared_encoding(text.as_bytes()) else {
        return text;
    };
    let (Some(before), Some(label), Some(after)) = (
        text.get(..range.start),
        text.get(range.clone()),
        text.get(range.end..),
    ) else {
        return text;
    };
    if Encoding::for_label(label.as_bytes()) == Some(UTF_8) {
        return text;
    }
    Cow::Owned([before, "utf-8", after].concat())
}

/// The `charset` parameter of a Content-Type value (RFC 9110 §8.3.1: case-insensitive name,
/// the value a token or a quoted string). Parsed by hand: one parameter does not warrant a
/// media-type crate, and a malformed header must not fail the parse anyway.
fn charset_label(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value)
            .trim();
        Some(value).filter(|v| !v.is_empty())
    })
}

/// The encoding the document's XML declaration names, read from its first bytes.
fn encoding_of_declaration(body: &[u8]) -> Option<&'static Encoding> {
    // A declaration in UTF-16 without a BOM (XML 1.0 Appendix F): `<?` as 16-bit units.
    if body.starts_with(b"<\0?\0") {
        return Some(UTF_16LE);
    }
    if body.starts_with(b"\0<\0?") {
        return Some(UTF_16BE);
    }
    let range = xml_declared_encoding(body)?;
    let encoding = Encoding::for_label_no_replacement(body.get(range)?)?;
    // The declaration was just read as ASCII, so the bytes are not UTF-16 whatever it says;
    // HTML's prescan makes the same correction for a `<meta charset>`.
    if encoding == UTF_16LE || encoding == UTF_16BE {
        return Some(UTF_8);
    }
    Some(encoding)
}

/// Where the value of the XML declaration's `encoding` pseudo-attribute sits in `doc`, when
/// the document opens with a declaration that has one. Works on any ASCII-compatible bytes.
fn xml_declared_encoding(doc: &[u8]) -> Option<Range<usize>> {
    let window = &doc[..doc.len().min(DECLARATION_WINDOW)];
    let start = window.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = window.get(start..)?;
    // `<?xml` then whitespace: `<?xml-stylesheet …?>` is a processing instruction instead.
    if !rest.starts_with(b"<?xml") || !rest.get(5).is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let decl_len = rest.windows(2).position(|w| w == b"?>")?;
    let decl = &rest[..decl_len];
    let mut at = decl.windows(8).position(|w| w == b"encoding")? + 8;
    let skip_spaces = |mut i: usize| {
        while decl.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    at = skip_spaces(at);
    if decl.get(at) != Some(&b'=') {
        return None;
    }
    at = skip_spaces(at + 1);
    let quote = *decl.get(at).filter(|q| matches!(q, b'"' | b'\''))?;
    let value_start = at + 1;
    let value_len = decl.get(value_start..)?.iter().position(|b| *b == quote)?;
    let offset = start + value_start;
    Some(offset..offset + value_len)
}

/// Whether a body feed-rs refused is an HTML page: by its declared type, or by how it opens.
fn is_html_page(content_type: Option<&str>, text: &str) -> bool {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if essence.eq_ignore_ascii_case("text/html")
        || essence.eq_ignore_ascii_case("application/xhtml+xml")
    {
        return true;
    }
    let start = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let opens_with = |prefix: &str| {
        start
            .get(..prefix.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
    };
    opens_with("<!doctype html") || opens_with("<html")
}

/// The feed an HTML page advertises with `<link rel="alternate" type="…" href="…">` (RSS
/// autodiscovery), absolute against the page's `<base href>`, else its URL.
///
/// The page goes through scraper (html5ever, the WHATWG tree builder Servo uses, already in
/// the build through ammonia) rather than a regex: real pages put attributes in any order,
/// quote them either way or not at all, upper-case tags, and hide `<link>`s in comments.
fn html_feed_link(html: &str, page_url: Option<&Url>) -> Option<String> {
    use scraper::{Html, Selector};

    // Constant selectors; a parse failure is a bug the unit tests catch.
    let link_selector = Selector::parse("link[href]").expect("valid selector");
    let base_selector = Selector::parse("base[href]").expect("valid selector");
    let page = Html::parse_document(html);
    let base = page
        .select(&base_selector)
        .next()
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| absolutize(href.trim(), page_url))
        .or_else(|| page_url.cloned());

    // Plain application/json comes last: WordPress marks its REST API URL of every page as an
    // alternate of that type, next to the real RSS feed.
    const FEED_TYPES: [&[&str]; 2] = [
        &[
            "application/rss+xml",
            "application/atom+xml",
            "application/feed+json",
        ],
        &["application/json"],
    ];
    let alternates: Vec<(&str, &str)> = page
        .select(&link_selector)
        .filter(|link| {
            link.value().attr("rel").is_some_and(|rel| {
                rel.split_ascii_whitespace()
                    .any(|token| token.eq_ignore_ascii_case("alternate"))
            })
        })
        .filter_map(|link| {
            let media_type = link.value().attr("type")?.split(';').next()?.trim();
            let href = link.value().attr("href")?.trim();
            Some((media_type, href)).filter(|_| !href.is_empty())
        })
        .collect();
    let href = FEED_TYPES.iter().find_map(|types| {
        alternates
            .iter()
            .find(|(media_type, _)| types.iter().any(|t| media_type.eq_ignore_ascii_case(t)))
            .map(|(_, href)| *href)
    })?;
    // Without a page URL to resolve against, the href as written still tells the reader.
    Some(
        absolutize(href, base.as_ref())
            .map(String::from)
            .unwrap_or_else(|| href.to_string()),
    )
}

/// `declared`: the format declares whether a text is plain or markup (see [`text_of`]).
fn normalize_entry(entry: FeedEntry, feed_base: Option<&Url>, declared: bool) -> Entry {
    // xml:base on the entry wins over the document's URL (RFC 3986 §5.1).
    let entry_base = entry.base.as_deref().and_then(|b| absolutize(b, feed_base));
    let base = entry_base.as_ref().or(feed_base);

    // An RSS item with no <link> but a URL for its guid (a permalink, RSS 2.0's default) is
    // linked to it, as feedparser and most readers do.
    let url = pick_link(&entry.links)
        .and_then(|href| absolutize(href, base))
        .or_else(|| {
            Url::parse(entry.id.trim())
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
        })
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
        .map(|s| text_of(s, declared))
        .filter(|s| !s.is_empty());
    let text = match (&content_html, &summary_html) {
        (Some(html), _) => html_to_text(html),
        (None, Some(_)) => summary.clone().unwrap_or_default(),
        (None, None) => String::new(),
    };

    let mut title = entry
        .title
        .as_ref()
        .map(|t| text_of(t, declared))
        .unwrap_or_default();
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

/// The RSS Syndication module's `<sy:updatePeriod>` (hourly, daily, weekly, monthly, yearly)
/// divided by `<sy:updateFrequency>` (default 1), read from the channel (before the first
/// item). feed-rs does not expose the module, so this reads the document with quick-xml (the
/// XML reader feed-rs itself uses), which never fetches or expands entities.
fn syndication_period(document: &[u8]) -> Option<chrono::Duration> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(document);
    let mut buf = Vec::new();
    let mut current: Option<&'static str> = None;
    let (mut period, mut frequency) = (None::<String>, None::<String>);
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => match e.local_name().into_inner() {
                "updatePeriod" => current = Some("period"),
                "updateFrequency" => current = Some("frequency"),
                "item" | "entry" => break,
                _ => current = None,
            },
            Ok(Event::Text(t)) => {
                let value = t.trim().to_string();
                match current.take() {
                    Some("period") => period = Some(value),
                    Some("frequency") => frequency = Some(value),
                    _ => {}
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        buf.clear();
    }
    let period = match period?.to_ascii_lowercase().as_str() {
        "hourly" => chrono::Duration::hours(1),
        "daily" => chrono::Duration::days(1),
        "weekly" => chrono::Duration::weeks(1),
        "monthly" => chrono::Duration::days(30),
        "yearly" => chrono::Duration::days(365),
        _ => return None,
    };
    let frequency: i32 = frequency
        .and_then(|f| f.parse().ok())
        .filter(|f| *f > 0)
        .unwrap_or(1);
    Some(period / frequency)
}

/// The entry's main link: the first `alternate` (or rel-less) link, else the first link.
/// A link without an href (an `<atom:link rel="alternate"/>` some generators emit) is passed
/// over, not taken as the entry having no link.
fn pick_link(links: &[Link]) -> Option<&str> {
    let with_href = || links.iter().filter(|l| !l.href.trim().is_empty());
    with_href()
        .find(|l| matches!(l.rel.as_deref(), None | Some("alternate")))
        .or_else(|| with_href().next())
        .map(|l| l.href.trim())
}

/// Resolves `href` against `base`; an absolute `href` stands as it is.
fn absolutize(href: &str, base: Option<&Url>) -> Option<Url> {
    match Url::parse(href) {
        Ok(url) => Some(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => base.and_then(|b| b.join(href).ok()),
        Err(_) => None,
    }
}

/// Plain text of a feed `Text`. Where the format `declared` the text's type (Atom, JSON
/// Feed), the type decides: a plain-text title about `<blink>` keeps its brackets. Else
/// (RSS) text that looks like markup is read as HTML.
fn text_of(text: &Text, declared: bool) -> String {
    let markup = matches!(text.content_type.subty().as_str(), "html" | "xhtml");
    if markup || (!declared && looks_like_html(&text.content)) {
        html_to_text(&text.content)
    } else {
        collapse_whitespace(&text.content)
    }
}

/// RSS puts escaped HTML in plain elements without saying so; look for a tag or an entity.
fn looks_like_html(s: &str) -> bool {
    (s.contains('<') && s.contains('>')) || (s.contains('&') && s.contains(';'))
}

/// HTML to plain text, whitespace collapsed to single spaces: the text of the document with a
/// space wherever a tag that is not an inline one stood (so that `<p>a</p><p>b</p>` is two
/// words), images' alternative text, and nothing of what scripts, styles and comments hold.
/// Entities are decoded.
///
/// Why not a whole HTML renderer (the html2text crate did this before): the result is one
/// line of words for search, classification and fingerprints, so a DOM and a layout were
/// built only to be thrown away, ~1 s of CPU on the benchmark farm's cold poll. This reads
/// the tokens of html5ever's tokenizer (the HTML standard's tokenizer, the one the ammonia
/// and scraper crates parse with), which is all that needs. Unlike the renderer, it writes
/// no `[ ]` around links, `*` before list items or numbers before ordered ones.
pub fn html_to_text(html: &str) -> String {
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::{BufferQueue, Tokenizer, TokenizerOpts};

    let sink = TextSink::default();
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // The sink never asks to stop for a script, so one feed reads the whole input.
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    collapse_whitespace(&tokenizer.sink.text.borrow())
}

/// Collects the text of an HTML token stream (see [`html_to_text`]).
#[derive(Default)]
struct TextSink {
    text: std::cell::RefCell<String>,
    /// Inside an element whose content is not text for a reader (`script`, `style`, ...):
    /// its name, until its end tag.
    skipping: std::cell::RefCell<Option<html5ever::LocalName>>,
}

impl html5ever::tokenizer::TokenSink for TextSink {
    type Handle = ();

    fn process_token(
        &self,
        token: html5ever::tokenizer::Token,
        _line: u64,
    ) -> html5ever::tokenizer::TokenSinkResult<()> {
        use html5ever::local_name;
        use html5ever::tokenizer::states::RawKind;
        use html5ever::tokenizer::{TagKind, Token, TokenSinkResult};

        match token {
            Token::CharacterTokens(chars) if self.skipping.borrow().is_none() => {
                self.text.borrow_mut().push_str(&chars);
            }
            Token::TagToken(tag) => {
                let mut skipping = self.skipping.borrow_mut();
                if let Some(name) = skipping.as_ref() {
                    if tag.kind == TagKind::EndTag && tag.name == *name {
                        *skipping = None;
                    }
                    return TokenSinkResult::Continue;
                }
                let inline = matches!(
                    tag.name,
                    local_name!("a")
                        | local_name!("abbr")
                        | local_name!("b")
                        | local_name!("bdi")
                        | local_name!("bdo")
                        | local_name!("cite")
                        | local_name!("code")
                        | local_name!("data")
                        | local_name!("del")
                        | local_name!("dfn")
                        | local_name!("em")
                        | local_name!("font")
                        | local_name!("i")
                        | local_name!("ins")
                        | local_name!("kbd")
                        | local_name!("mark")
                        | local_name!("q")
                        | local_name!("s")
                        | local_name!("samp")
                        | local_name!("small")
                        | local_name!("span")
                        | local_name!("strike")
                        | local_name!("strong")
                        | local_name!("sub")
                        | local_name!("sup")
                        | local_name!("time")
                        | local_name!("tt")
                        | local_name!("u")
                        | local_name!("var")
                );
                if !inline {
                    self.text.borrow_mut().push(' ');
                }
                // An image stands for its alternative text.
                if tag.kind == TagKind::StartTag && tag.name == local_name!("img") {
                    if let Some(alt) = tag
                        .attrs
                        .iter()
                        .find(|a| a.name.local == local_name!("alt"))
                    {
                        let mut text = self.text.borrow_mut();
                        text.push_str(&alt.value);
                        text.push(' ');
                    }
                }
                if tag.kind == TagKind::StartTag && !tag.self_closing {
                    // The tokenizer reads these elements' content as text until their end tag
                    // only when told, as the tree builder would tell it.
                    let raw = match tag.name {
                        local_name!("script") => Some(RawKind::ScriptData),
                        local_name!("style")
                        | local_name!("xmp")
                        | local_name!("iframe")
                        | local_name!("noembed")
                        | local_name!("noframes") => Some(RawKind::Rawtext),
                        local_name!("title") => Some(RawKind::Rcdata),
                        _ => None,
                    };
                    if let Some(raw) = raw {
                        // Of these, only a title's content is text for a reader.
                        if raw != RawKind::Rcdata {
                            *skipping = Some(tag.name.clone());
                        }
                        return TokenSinkResult::RawData(raw);
                    }
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Whitespace runs as one space; control characters other than whitespace, the
/// noncharacters U+FFFE/U+FFFF and stray byte-order marks (U+FEFF, left by concatenated
/// files) dropped: they carry nothing a reader can see, and XML output cannot hold most.
///
/// One pass into one string (it was a scan for junk, then `split_whitespace` into a vector
/// joined again: ~2.5 % of a cold poll's CPU samples). criterion's parse stage (50 RSS
/// items): 467 -> 437 us. Runs of plain ASCII (no whitespace, no control character) are
/// copied whole, and only other bytes are looked at one character at a time: a char-by-char
/// copy was 3.3 % of the parse threads' samples in the benchmark farm's cold poll.
fn collapse_whitespace(s: &str) -> String {
    let plain = |b: u8| b > b' ' && b < 0x7f;
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if plain(b) {
            // Printable ASCII words with one space between them stay as they are, so the
            // whole run is copied at once: the bulk of English text in a few copies instead
            // of one a word.
            let mut run = i + 1;
            while run < bytes.len() {
                if plain(bytes[run]) {
                    run += 1;
                } else if bytes[run] == b' ' && bytes.get(run + 1).copied().is_some_and(plain) {
                    run += 2;
                } else {
                    break;
                }
            }
            if space {
                out.push(' ');
                space = false;
            }
            // The run ends after an ASCII byte, on a character boundary.
            out.push_str(&s[i..run]);
            i = run;
            continue;
        }
        let c = if b < 0x80 {
            char::from(b)
        } else {
            s[i..].chars().next().unwrap_or('\u{fffd}')
        };
        i += c.len_utf8();
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}' | '\u{feff}') {
            // Dropped, as if it were not there: the whitespace on either side is one run.
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // The scan answers for ~1 in 11 of the pieced documents below: enough cases that some
        // hundreds of its answers are compared in every run (both tests take well under 1 s).
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// The one-pass collapse is the definition: junk dropped, then whitespace runs split
        /// on and joined by single spaces.
        #[test]
        fn collapse_whitespace_is_split_and_join(
            s in "[ aZ!~.\t\n\r\u{b}\u{c}\u{1}\u{1f}\u{7f}\u{85}\u{a0}\u{2003}\u{feff}\u{fffe}é漢]{0,40}",
        ) {
            let junk = |c: char| {
                (c.is_control() && !c.is_whitespace())
                    || matches!(c, '\u{fffe}' | '\u{ffff}' | '\u{feff}')
            };
            let kept: String = s.chars().filter(|c| !junk(*c)).collect();
            let expected = kept.split_whitespace().collect::<Vec<_>>().join(" ");
            proptest::prop_assert_eq!(collapse_whitespace(&s), expected);
        }

        /// Documents put together from the pieces each repair turns on (and the markup that
        /// hides them: CDATA, comments, quotes): wherever the scan answers, it answers as the
        /// events' pass does.
        #[test]
        fn the_scan_agrees_with_the_events_on_documents_of_feed_pieces(
            head in proptest::sample::select(vec![
                "",
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
                "<?xml version=\"1.0\"?>",
                "  <?xml version='1.0' encoding='UTF-8' ?>",
            ]),
            root in proptest::sample::select(vec![
                "<rss version=\"2.0\">",
                "<rss>",
                "<rss version=\"0.94\">",
                "<feed xmlns=\"http://www.w3.org/2005/Atom\">",
                "<feed version=\"0.3\">",
                "<rdf:RDF>",
            ]),
            middle in proptest::collection::vec(proptest::sample::select(vec![
                "<channel>", "</channel>", "<item>", "</item>", "<entry>", "</entry>",
                "<title>", "</title>", "<title type=\"", "<atom:summary type='", "<content type=\"",
                "<link type=\"text/html\" href=\"http://a/?b=1&amp;c=2\"/>",
                "<tagline>", "<media:title type=\"plain\">",
                "text", "text/html", "TEXT", "image/png", "application/xhtml+xml", "\">", "'>",
                "\"", "'", ">", "<", "&", ";", "&amp;", "&lt;p&gt;", "&nbsp;", "&eacute;",
                "&#150;", "&#233;", "&bogus;", "<![CDATA[", "]]>", "<!--", "-->",
                "<?xml version=\"1.0\"?>", "<?pi x?>", "<!DOCTYPE x>", "http://purl.org/atom/ns#",
                " ", "\n", "U.S. troops", "</", "/>",
            ]), 0..24),
        ) {
            let document = format!("{head}{root}{}</x>", middle.concat());
            if let Some(scanned) = repaired_by_scan(&document) {
                proptest::prop_assert_eq!(scanned, repaired_by_events(&document));
            }
        }
    }

    #[test]
    fn html_is_read_as_its_words() {
        // Blocks are apart, inline elements are not; entities decoded.
        assert_eq!(
            html_to_text(
                "<p>US troops</p><p>leave <b>Ain</b> al-<i>Asad</i>&nbsp;&amp; Baghdad</p>"
            ),
            "US troops leave Ain al-Asad & Baghdad"
        );
        assert_eq!(
            html_to_text("one<br>two<br/>three<li>four"),
            "one two three four"
        );
        // No link brackets, list bullets or numbers.
        assert_eq!(
            html_to_text(
                r#"<ol><li><a href="https://a.example/">Erbil</a></li><li>Kirkuk</li></ol>"#
            ),
            "Erbil Kirkuk"
        );
        // Scripts, styles and comments hold no words, even with markup inside (a script or a
        // style stands between words, a comment does not).
        assert_eq!(
            html_to_text(
                "a<script>if (x < 1) { document.write('<p>no</p>') }</script>b\
                 <style>p > b { color: red }</style>c<!-- <p>hidden</p> -->d"
            ),
            "a b cd"
        );
        // An image stands for its alternative text.
        assert_eq!(
            html_to_text(r#"Map:<img src="m.png" alt="Iraq&#39;s provinces">done"#),
            "Map: Iraq's provinces done"
        );
        // Text that is not HTML at all, and an unclosed tag.
        assert_eq!(html_to_text("  plain\n text  "), "plain text");
        assert_eq!(html_to_text("cut <b>off"), "cut off");
        assert_eq!(html_to_text("x <div"), "x");
    }

    #[test]
    fn ttl_and_syndication_period_are_read_from_the_channel() {
        let xml = br#"<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"><channel>
<title>t</title><ttl>45</ttl><sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>
<item><title>x</title><sy:updatePeriod>yearly</sy:updatePeriod></item></channel></rss>"#;
        let feed = parse_feed(xml, None, "t", None).unwrap();
        assert_eq!(feed.ttl_minutes, Some(45));
        assert_eq!(feed.update_period, Some(chrono::Duration::hours(6)));
        let plain = parse_feed(
            b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>",
            None,
            "t",
            None,
        )
        .unwrap();
        assert_eq!((plain.ttl_minutes, plain.update_period), (None, None));
    }

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

    /// Windows-1252 bytes of `text`.
    fn cp1252(text: &str) -> Vec<u8> {
        encoding_rs::WINDOWS_1252.encode(text).0.into_owned()
    }

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let bom = bom.then_some('\u{feff}');
        bom.into_iter()
            .chain(text.chars())
            .collect::<String>()
            .encode_utf16()
            .flat_map(|unit| {
                if big_endian {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn valid_utf8_without_bom_is_borrowed() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss><t>Bagdad “é”</t></rss>";
        let decoded = decode_to_utf8(body.as_bytes(), Some("application/rss+xml"));
        assert!(matches!(decoded, Cow::Borrowed(_)));
        assert_eq!(decoded, body);
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"Başra"}"#;
        assert!(matches!(
            decode_to_utf8(json.as_bytes(), None),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn bom_wins_over_header_and_declaration() {
        let doc = "<?xml version=\"1.0\" encoding=\"windows-1252\"?><t>Mosul — €</t>";
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend_from_slice(doc.as_bytes());
        let decoded = decode_to_utf8(&body, Some("text/xml; charset=koi8-r"));
        assert_eq!(
            decoded,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><t>Mosul — €</t>"
        );

        let body = utf16(doc, true, true);
        let decoded = decode_to_utf8(&body, Some("text/xml; charset=latin1"));
        assert_eq!(
            decoded,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><t>Mosul — €</t>"
        );
        let body = utf16(doc, false, true);
        let decoded = decode_to_utf8(&body, None);
        assert!(decoded.ends_with("<t>Mosul — €</t>"), "{decoded}");
    }

    #[test]
    fn header_charset_wins_over_declaration() {
        let body = cp1252("<?xml version='1.0' encoding='koi8-r'?><t>“Erbil” café</t>");
        let decoded = decode_to_utf8(&body, Some("text/xml; Charset=\"Windows-1252\""));
        assert_eq!(
            decoded,
            "<?xml version='1.0' encoding='utf-8'?><t>“Erbil” café</t>"
        );
    }

    #[test]
    fn header_charset_utf8_wins_over_a_declaration_that_says_otherwise() {
        let body = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><t>Nasiriyah “ö”</t>";
        let decoded = decode_to_utf8(body.as_bytes(), Some("text/xml;charset=utf-8"));
        assert_eq!(
            decoded,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><t>Nasiriyah “ö”</t>"
        );
    }

    #[test]
    fn unknown_header_charset_falls_back_to_the_declaration() {
        let body = encoding_rs::KOI8_R
            .encode("<?xml version=\"1.0\" encoding=\"KOI8-R\"?><t>Ирак</t>")
            .0
            .into_owned();
        for content_type in [
            "text/xml; charset=no-such-thing",
            "text/xml; charset=hz-gb-2312",
        ] {
            let decoded = decode_to_utf8(&body, Some(content_type));
            assert!(
                decoded.ends_with("<t>Ирак</t>"),
                "{content_type}: {decoded}"
            );
        }
    }

    #[test]
    fn declaration_is_used_without_header_charset() {
        let body = cp1252("\n <?xml version=\"1.0\"  encoding = \"windows-1252\" ?><t>“Najaf”</t>");
        let decoded = decode_to_utf8(&body, Some("application/rss+xml"));
        assert_eq!(
            decoded,
            "\n <?xml version=\"1.0\"  encoding = \"utf-8\" ?><t>“Najaf”</t>"
        );
    }

    #[test]
    fn utf16_declaration_on_ascii_bytes_means_utf8() {
        let body = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><t>Kirkuk é</t>";
        let decoded = decode_to_utf8(body.as_bytes(), None);
        assert_eq!(
            decoded,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><t>Kirkuk é</t>"
        );
    }

    #[test]
    fn utf16_without_bom_is_read_from_header_or_declaration() {
        let doc = "<?xml version=\"1.0\" encoding=\"utf-16\"?><t>Ramadi ‘é’</t>";
        let expected = "<?xml version=\"1.0\" encoding=\"utf-8\"?><t>Ramadi ‘é’</t>";
        let le = utf16(doc, false, false);
        let be = utf16(doc, true, false);
        assert_eq!(
            decode_to_utf8(&le, Some("text/xml; charset=utf-16le")),
            expected
        );
        assert_eq!(
            decode_to_utf8(&be, Some("text/xml; charset=UTF-16BE")),
            expected
        );
        // XML 1.0 Appendix F: the declaration itself shows the byte order.
        assert_eq!(decode_to_utf8(&le, None), expected);
        assert_eq!(decode_to_utf8(&be, None), expected);
    }

    #[test]
    fn no_charset_anywhere_means_utf8_with_replacement() {
        let decoded = decode_to_utf8(b"<rss><t>Basra \xFF</t></rss>", Some("text/xml"));
        assert_eq!(decoded, "<rss><t>Basra \u{FFFD}</t></rss>");
    }

    #[test]
    fn stylesheet_instruction_is_not_a_declaration() {
        let body = cp1252("<?xml-stylesheet encoding=\"koi8-r\"?><t>é</t>");
        // Not a declaration, so no encoding from it: the byte is invalid UTF-8.
        assert_eq!(
            decode_to_utf8(&body, None),
            "<?xml-stylesheet encoding=\"koi8-r\"?><t>\u{FFFD}</t>"
        );
    }

    #[test]
    fn windows_1252_feed_parses_with_its_titles_intact() {
        let xml = cp1252(
            "<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n<rss version=\"2.0\"><channel><title>Caf\u{e9} desk</title>\n<item><title>\u{201c}Baghdad\u{201d} talks</title><guid>1</guid></item></channel></rss>",
        );
        let feed = parse_feed(&xml, Some(&base()), "test", None).unwrap();
        assert_eq!(feed.title.as_deref(), Some("Café desk"));
        assert_eq!(feed.entries[0].title, "“Baghdad” talks");
        // The header outranks the declaration: the same bytes read as KOI8-R differ.
        let feed = parse_feed(
            &xml,
            Some(&base()),
            "test",
            Some("text/xml; charset=koi8-r"),
        )
        .unwrap();
        assert_ne!(feed.entries[0].title, "“Baghdad” talks");
    }

    #[test]
    fn long_declaration_in_a_legacy_encoding_parses() {
        // feed-rs (quick-xml) can switch decoders only while its first 64 bytes are still
        // buffered; given these bytes as they are, it fails with "no root element".
        let xml = cp1252(
            "<?xml version=\"1.0\"    standalone=\"yes\"      encoding=\"windows-1252\"   ?>\n<rss version=\"2.0\"><channel><title>t</title><item><title>Fallujah \u{e9}</title><guid>1</guid></item></channel></rss>",
        );
        let feed = parse_feed(&xml, None, "test", None).unwrap();
        assert_eq!(feed.entries[0].title, "Fallujah é");
    }

    #[test]
    fn html_page_names_the_feed_it_points_to() {
        let page = br#"<!DOCTYPE html>
<html><head><title>News</title>
<link rel="alternate" type="application/json" href="/wp-json/wp/v2/pages/7">
<LINK HREF=rss.xml TYPE="application/rss+xml; charset=utf-8" REL="Alternate Feed">
<link rel="alternate" type="application/atom+xml" href="atom.xml">
</head><body><!-- <link rel="alternate" type="application/rss+xml" href="/hidden"> --></body></html>"#;
        let page_url = Url::parse("https://site.example/news/").unwrap();
        let err = parse_feed(
            page,
            Some(&page_url),
            "https://site.example/news/",
            Some("text/html; charset=utf-8"),
        )
        .unwrap_err();
        match &err {
            ParseError::HtmlPage { feed_url, .. } => assert_eq!(
                feed_url.as_deref(),
                Some("https://site.example/news/rss.xml")
            ),
            other => panic!("expected HtmlPage, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "https://site.example/news/: an HTML page (text/html; charset=utf-8), not a feed; \
             it points to a feed at https://site.example/news/rss.xml"
        );
    }

    #[test]
    fn html_page_resolves_the_feed_against_its_base_element() {
        let page = br#"<html><head><base href="https://cdn.example/en/">
<link rel="alternate" type="application/feed+json" href="feed.json"></head></html>"#;
        let err = parse_feed(page, Some(&base()), "s", None).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "(unknown), not a feed; it points to a feed at https://cdn.example/en/feed.json"
            ),
            "{err}"
        );
    }

    #[test]
    fn html_page_without_feed_link_says_it_names_none() {
        let page = b"\xEF\xBB\xBF  <!doctype HTML><html><head><link rel=\"stylesheet\" type=\"text/css\" href=\"a.css\"></head></html>";
        let err =
            parse_feed(page, Some(&base()), "s", Some("application/octet-stream")).unwrap_err();
        assert!(
            matches!(err, ParseError::HtmlPage { feed_url: None, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("names no feed"), "{err}");
    }

    #[test]
    fn feed_served_as_text_html_is_still_read() {
        let xml = br#"<rss version="2.0"><channel><title>t</title><item><title>Tikrit</title><guid>1</guid></item></channel></rss>"#;
        let feed = parse_feed(xml, Some(&base()), "s", Some("text/html")).unwrap();
        assert_eq!(feed.entries[0].title, "Tikrit");
    }

    #[test]
    fn plain_garbage_is_not_called_html() {
        let err = parse_feed(b"this is not <<< a feed", None, "s", Some("text/plain")).unwrap_err();
        assert!(matches!(err, ParseError::NotAFeed { .. }), "{err:?}");
    }

    #[test]
    fn undeclared_html_entities_become_numeric_references_outside_cdata() {
        let xml = "<rss><channel><title a=\"&eacute;\">Caf&eacute; &amp; &nbsp;x &#146;</title>\
<description><![CDATA[&eacute; stays]]></description></channel></rss>";
        let repaired = repair_for_feed_rs(xml);
        assert_eq!(
            repaired,
            "<rss version=\"2.0\"><channel><title a=\"&#xE9;\">Caf&#xE9; &amp; &#xA0;x &#x2019;</title>\
<description><![CDATA[&eacute; stays]]></description></channel></rss>"
        );
    }

    /// Every file under `dirs`, recursively.
    fn files_under(dirs: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        let mut todo = dirs.to_vec();
        while let Some(dir) = todo.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files
    }

    /// The corpus subset and the fuzz inputs, and with `TIGRIS_FULL_CORPUS=1` the full corpus
    /// (`TIGRIS_CORPUS_DIR`, else `../shared/corpus`) as well.
    fn corpus_files() -> Vec<std::path::PathBuf> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("tests/data/corpus"), root.join("tests/data/fuzz")];
        if std::env::var("TIGRIS_FULL_CORPUS").is_ok_and(|v| v == "1") {
            dirs.push(
                std::env::var_os("TIGRIS_CORPUS_DIR")
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(|| root.join("../shared/corpus")),
            );
        }
        files_under(&dirs)
    }

    #[test]
    fn the_scan_repairs_as_the_events_do_wherever_it_answers() {
        let (mut answered, mut declined) = (0, 0);
        for path in corpus_files() {
            let body = std::fs::read(&path).unwrap();
            // As `parse_feed` hands documents over.
            let text = c1_controls_as_windows_1252(decode_to_utf8(&body, None));
            match repaired_by_scan(&text) {
                Some(scanned) => {
                    answered += 1;
                    assert_eq!(scanned, repaired_by_events(&text), "{}", path.display());
                }
                None => declined += 1,
            }
        }
        eprintln!("the scan answered for {answered} documents and left {declined} to the events");
        // Both ways are taken, so the comparison covers the scan's answers.
        assert!(answered >= 50 && declined >= 50, "{answered} / {declined}");
    }

    /// `timestamp::timestamp` against feed-rs's own reading of dates, on every corpus document
    /// (as `parse_feed` hands it over): the whole feed read either way must be the same.
    #[test]
    fn the_corpus_dates_read_as_feed_rs_reads_them() {
        // A parser per document, as `parse_feed` builds: one that failed inside an entry keeps
        // state that makes the next document's first entry panic.
        let builder = || feed_rs::parser::Builder::new().id_generator(|_, _, _| String::new());
        let (mut compared, mut dated) = (0, 0);
        for path in corpus_files() {
            let body = std::fs::read(&path).unwrap();
            let text = c1_controls_as_windows_1252(decode_to_utf8(&body, None));
            let repaired = repair_for_feed_rs(&text);
            let read = |parser: &feed_rs::parser::Parser| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    parser.parse(repaired.as_bytes()).ok()
                }))
                .ok()
                .flatten()
            };
            let (theirs, ours) = (
                builder().build(),
                builder().timestamp_parser(timestamp::timestamp).build(),
            );
            let (Some(expected), Some(got)) = (read(&theirs), read(&ours)) else {
                continue;
            };
            compared += 1;
            dated += [expected.published, expected.updated]
                .iter()
                .chain(
                    expected
                        .entries
                        .iter()
                        .flat_map(|e| [&e.published, &e.updated]),
                )
                .filter(|date| date.is_some())
                .count();
            assert!(expected == got, "{}", path.display());
        }
        eprintln!("{compared} feeds read the same either way, with {dated} dates in all");
        assert!(dated >= 100, "{dated}");
    }

    #[test]
    fn the_scan_leaves_each_kind_of_repair_to_the_events() {
        let rss = |head: &str, body: &str| {
            format!(
                "{head}<rss version=\"2.0\"><channel><title>T</title><item><title>{body}</title></item></channel></rss>"
            )
        };
        let decl = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
        // Answered: a plain declaration replaced, nothing else touched.
        let plain = rss(decl, "U.S. &amp; Iraq &#233;");
        let scanned = repaired_by_scan(&plain).expect("a plain feed is answered");
        assert!(
            scanned.starts_with("<?xml version=\"1.0\"?>\n<rss"),
            "{scanned}"
        );
        assert_eq!(scanned, repaired_by_events(&plain));
        let atom = "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"html\">T</title>\
                    <link type=\"text/html\" href=\"http://a/\"/><entry><content type=\"image/png\">x</content></entry></feed>";
        assert!(matches!(repaired_by_scan(atom), Some(Cow::Borrowed(_))));
        // Declined: each needs the events' pass.
        for needs_events in [
            rss(decl, "caf&eacute;"),
            rss(decl, "&#150; dash"),
            rss("<!DOCTYPE rss [<!ENTITY x \"y\">]>", "&x;"),
            rss(decl, "T<?xml version=\"1.0\"?>"),
            "<rss><channel><title>T</title></channel></rss>".to_string(),
            "<rss version=\"0.94\"><channel/></rss>".to_string(),
            "<feed xmlns=\"http://purl.org/atom/ns#\"><title>T</title></feed>".to_string(),
            "<feed version=\"0.3\"><tagline>T</tagline></feed>".to_string(),
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"text/plain\">T</title></feed>".to_string(),
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><atom:summary type=\"TEXT\">x</atom:summary></entry></feed>".to_string(),
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><content type=\"text/html\">x</content></entry></feed>".to_string(),
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"a>b\">T</title></feed>".to_string(),
        ] {
            assert!(repaired_by_scan(&needs_events).is_none(), "{needs_events}");
            assert_ne!(
                repaired_by_events(&needs_events),
                Cow::Borrowed(needs_events.as_str()),
                "the events' pass changes {needs_events}"
            );
        }
        // Declined as well, though the events change nothing here: what comes before the root
        // is left to them.
        for unsure in [
            rss("<!-- a comment first -->", "T"),
            rss("<?xml-stylesheet href=\"s.xsl\"?>", "T"),
        ] {
            assert!(repaired_by_scan(&unsure).is_none(), "{unsure}");
        }
    }

    #[test]
    fn a_document_feed_rs_reads_as_it_is_is_borrowed() {
        let xml = r#"<rss version="2.0"><channel><title>Basra &amp; Mosul</title></channel></rss>"#;
        assert!(matches!(repair_for_feed_rs(xml), Cow::Borrowed(_)));
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"&eacute;"}"#;
        assert!(matches!(repair_for_feed_rs(json), Cow::Borrowed(_)));
    }

    #[test]
    fn atom_03_is_read_as_atom_1() {
        let xml = br#"<feed version="0.3" xmlns="http://purl.org/atom/ns#">
<title type="text/plain" mode="escaped">Iraq &amp; US</title><tagline>Desk</tagline>
<entry><title type="text/html" mode="escaped">&lt;b&gt;Erbil&lt;/b&gt; talks</title><id>urn:x:1</id>
<link rel="alternate" type="text/html" href="https://a.example/1"/>
<issued>2026-11-20T08:00:00Z</issued><modified>2026-11-21T08:00:00Z</modified></entry></feed>"#;
        let feed = parse_feed(xml, None, "t", None).unwrap();
        assert_eq!(feed.title.as_deref(), Some("Iraq & US"));
        let e = &feed.entries[0];
        assert_eq!(e.title, "Erbil talks");
        assert_eq!(e.guid.as_deref(), Some("urn:x:1"));
        assert_eq!(e.url.as_deref(), Some("https://a.example/1"));
        assert_eq!(
            e.published.unwrap().to_rfc3339(),
            "2026-11-20T08:00:00+00:00"
        );
        assert_eq!(e.updated.unwrap().to_rfc3339(), "2026-11-21T08:00:00+00:00");
    }

    #[test]
    fn atom_title_of_an_unknown_type_does_not_lose_the_feed() {
        let xml = br#"<feed xmlns="http://www.w3.org/2005/Atom"><title type="">T</title>
<entry><id>1</id><title type="application/octet-stream">Kirkuk</title></entry></feed>"#;
        let feed = parse_feed(xml, None, "t", None).unwrap();
        assert_eq!(feed.entries[0].title, "Kirkuk");
    }

    #[test]
    fn rss_without_version_or_with_094_is_read() {
        for root in [
            "<rss>",
            "<rss version=\"0.94\">",
            "<rss version='2.0.1' xmlns:a=\"x\">",
        ] {
            let xml = format!(
                "{root}<channel><title>t</title><item><title>Najaf</title><guid>g</guid></item></channel></rss>"
            );
            let feed = parse_feed(xml.as_bytes(), None, "t", None).unwrap();
            assert_eq!(feed.entries[0].title, "Najaf", "{root}");
        }
    }

    #[test]
    fn guid_that_is_a_url_links_an_item_without_a_link() {
        let xml = br#"<rss version="2.0"><channel><title>t</title>
<item><title>a</title><guid>https://n.example/a</guid></item>
<item><title>b</title><guid isPermaLink="false">b-1</guid></item></channel></rss>"#;
        let feed = parse_feed(xml, None, "t", None).unwrap();
        assert_eq!(feed.entries[0].url.as_deref(), Some("https://n.example/a"));
        assert_eq!(feed.entries[1].url, None);
    }

    #[test]
    fn atom_content_typed_by_mime_type_and_media_titles_are_read() {
        let xml = br#"<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">
<entry><id>1</id><title>Mosul</title>
<content type="application/xhtml+xml"><div xmlns="http://www.w3.org/1999/xhtml">Dam <b>repairs</b></div></content>
<media:title type="plain">plain</media:title></entry></feed>"#;
        let feed = parse_feed(xml, None, "t", None).unwrap();
        assert_eq!(feed.entries[0].text, "Dam repairs");
    }

    #[test]
    fn json_feed_with_an_old_version_string_is_read() {
        for version in ["1.0", "http://jsonfeed.org/version/1"] {
            let json = format!(
                r#"{{"version":"{version}","title":"J","items":[{{"id":"1","title":"Basra port","content_text":"x"}}]}}"#
            );
            let feed = parse_feed(json.as_bytes(), None, "t", None).unwrap();
            assert_eq!(feed.entries[0].title, "Basra port", "{version}");
        }
    }

    #[test]
    fn an_xml_declaration_after_the_start_is_dropped() {
        let xml = "<?xml version=\"1.0\"?><!-- c --><feed xmlns=\"http://www.w3.org/2005/Atom\"><entry><id>1</id><?xml version=\"1.0\" encoding=\"utf-16\"?><title>Hit</title></entry></feed>";
        let repaired = repair_for_feed_rs(xml);
        assert_eq!(repaired.matches("<?xml").count(), 1, "{repaired}");
        assert!(repaired.starts_with("<?xml version=\"1.0\"?>"));
        let feed = parse_feed(xml.as_bytes(), None, "t", None).unwrap();
        assert_eq!(feed.entries[0].title, "Hit");
    }

    #[test]
    fn empty_body_is_an_error() {
        let err = parse_feed(b"  \n", None, "f", None).unwrap_err();
        assert!(matches!(err, ParseError::Empty { .. }));
    }
}
