//! OPML: the subscription-list format every feed reader imports and exports. Reading
//! flattens nested outlines (readers group feeds in folders) into a list of feeds with their
//! titles; writing produces an OPML 2.0 document of the database's feeds. Parsing and
//! writing are the `opml` crate's; this module maps between it and tigris' feeds.

use url::Url;

use crate::fetch::error_chain;

/// Why an OPML document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OpmlError {
    /// Not an OPML document the `opml` crate can read (bad XML, no `<opml>`, no outlines).
    #[error("{source_name}: not a readable OPML document: {reason}")]
    Parse { source_name: String, reason: String },
    /// The document could not be written.
    #[error("cannot write OPML: {0}")]
    Write(String),
}

/// A feed as an OPML outline names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpmlFeed {
    pub url: String,
    /// The outline's `title`, else its `text`; `None` when both are empty.
    pub title: Option<String>,
    pub site_url: Option<String>,
    /// The folders it sits in, outermost first (kept for messages; tigris has no folders).
    pub folders: Vec<String>,
}

/// The feeds of an OPML document, in document order, nested outlines flattened. Outlines
/// without an `xmlUrl` are folders (or notes) and contribute only their name.
pub fn read(source_name: &str, text: &str) -> Result<Vec<OpmlFeed>, OpmlError> {
    // Some readers' exports start with a byte-order mark, which is not XML.
    let text = text.trim_start_matches('\u{feff}');
    let document = opml::OPML::from_str(text).map_err(|e| OpmlError::Parse {
        source_name: source_name.to_string(),
        reason: error_chain(&e),
    })?;
    let mut feeds = Vec::new();
    let mut stack: Vec<(&opml::Outline, Vec<String>)> = document
        .body
        .outlines
        .iter()
        .rev()
        .map(|o| (o, Vec::new()))
        .collect();
    while let Some((outline, folders)) = stack.pop() {
        let name = [outline.title.as_deref(), Some(outline.text.as_str())]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(str::to_string);
        match outline.xml_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => feeds.push(OpmlFeed {
                url: url.to_string(),
                title: name.clone(),
                site_url: outline
                    .html_url
                    .as_deref()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                folders: folders.clone(),
            }),
            _ => {}
        }
        let mut inner = folders;
        if let Some(name) = name {
            inner.push(name);
        }
        for child in outline.outlines.iter().rev() {
            stack.push((child, inner.clone()));
        }
    }
    Ok(feeds)
}

/// An OPML 2.0 document listing `feeds` (title, feed URL, site URL), for any reader to import.
pub fn write(
    title: &str,
    feeds: &[OpmlFeed],
    created: chrono::DateTime<chrono::Utc>,
) -> Result<String, OpmlError> {
    let mut document = opml::OPML {
        version: "2.0".to_string(),
        head: Some(opml::Head {
            title: Some(title.to_string()),
            date_created: Some(created.to_rfc2822()),
            ..opml::Head::default()
        }),
        body: opml::Body::default(),
    };
    for feed in feeds {
        let name = feed.title.clone().unwrap_or_else(|| feed.url.clone());
        document.body.outlines.push(opml::Outline {
            text: name.clone(),
            title: Some(name),
            r#type: Some("rss".to_string()),
            xml_url: Some(feed.url.clone()),
            html_url: feed.site_url.clone(),
            ..opml::Outline::default()
        });
    }
    let body = document
        .to_string()
        .map_err(|e| OpmlError::Write(error_chain(&e)))?;
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}\n"
    ))
}

/// A feed URL from an outline, checked as the config checks its feeds.
pub fn feed_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("`{url}` must be an http or https URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="1.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="Iraq" title="Iraq">
      <outline type="rss" text="Rudaw" title="Rudaw English" xmlUrl="https://www.rudaw.net/rss" htmlUrl="https://www.rudaw.net/"/>
      <outline text="Defense">
        <outline type="rss" text="Defense One" xmlUrl="https://www.defenseone.com/rss/all/"/>
      </outline>
    </outline>
    <outline type="rss" text="UN News" xmlUrl=" https://news.un.org/feed/rss "/>
  </body>
</opml>"#;

    #[test]
    fn nested_outlines_are_flattened_in_order_with_titles_and_folders() {
        let feeds = read("nested.opml", NESTED).unwrap();
        let urls: Vec<&str> = feeds.iter().map(|f| f.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://www.rudaw.net/rss",
                "https://www.defenseone.com/rss/all/",
                "https://news.un.org/feed/rss"
            ]
        );
        assert_eq!(feeds[0].title.as_deref(), Some("Rudaw English"));
        assert_eq!(feeds[0].site_url.as_deref(), Some("https://www.rudaw.net/"));
        assert_eq!(feeds[1].folders, ["Iraq", "Defense"]);
        assert_eq!(feeds[2].title.as_deref(), Some("UN News"));
    }

    #[test]
    fn written_document_reads_back_the_same() {
        let feeds = read("nested.opml", NESTED)
            .unwrap()
            .into_iter()
            .map(|f| OpmlFeed {
                folders: Vec::new(),
                ..f
            })
            .collect::<Vec<_>>();
        let text = write("tigris feeds", &feeds, chrono::Utc::now()).unwrap();
        assert!(text.contains("version=\"2.0\""), "{text}");
        assert_eq!(read("export.opml", &text).unwrap(), feeds);
    }

    #[test]
    fn not_opml_names_the_file() {
        let err = read("feeds.xml", "<rss version=\"2.0\"><channel/></rss>").unwrap_err();
        assert!(err.to_string().starts_with("feeds.xml: "), "{err}");
        let err = read("empty.opml", "<opml version=\"2.0\"><head/><body/></opml>").unwrap_err();
        assert!(err.to_string().contains("empty.opml"), "{err}");
    }
}
