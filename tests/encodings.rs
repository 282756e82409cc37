//! Character encodings end to end: a real HTTP server on 127.0.0.1 serves feeds in legacy and
//! UTF-16 encodings with chosen Content-Type headers, the real `tigris` binary polls them, and
//! the titles read back from its SQLite file must be the exact text that was encoded. Also an
//! HTML page in place of a feed, whose recorded error must name the feed the page points to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use encoding_rs::Encoding;

/// One document the server answers with, byte for byte, under its Content-Type.
struct Served {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

type Documents = Arc<HashMap<String, (String, Vec<u8>)>>;

/// Starts a server on 127.0.0.1 (port chosen by the OS) that serves `documents`; returns its
/// base URL. The listener is bound before the server task is spawned, so it is ready at once.
async fn serve(documents: Vec<Served>) -> String {
    let documents: Documents = Arc::new(
        documents
            .into_iter()
            .map(|d| (format!("/{}", d.path), (d.content_type, d.body)))
            .collect(),
    );
    let app = Router::new()
        .route("/{*path}", get(serve_document))
        .with_state(documents);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    base
}

async fn serve_document(
    State(documents): State<Documents>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    let Some((content_type, body)) = documents.get(&format!("/{path}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = (StatusCode::OK, body.clone()).into_response();
    // axum labels bytes application/octet-stream; an empty `content_type` sends no header.
    response.headers_mut().remove(header::CONTENT_TYPE);
    if !content_type.is_empty() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_str(content_type).unwrap(),
        );
    }
    response
}

/// A temporary folder with a config listing `feed_urls`, polled once by the real binary.
struct Poll {
    dir: tempfile::TempDir,
    output: Output,
}

impl Poll {
    async fn run(feed_urls: &[String]) -> Poll {
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "[classify]\ntopics_dir = \"{}/config/topics\"\n\n[storage]\ndatabase = \"tigris.db\"\n\n\
             # The test server is on 127.0.0.1.\n[fetch]\nallow_private_networks = true\n\n",
            env!("CARGO_MANIFEST_DIR")
        );
        for url in feed_urls {
            config.push_str(&format!("[[feeds]]\nurl = \"{url}\"\n\n"));
        }
        let config_path = dir.path().join("tigris.toml");
        std::fs::write(&config_path, config).unwrap();
        let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_tigris"))
            .arg("--config")
            .arg(&config_path)
            .arg("poll")
            .env_remove("RUST_LOG")
            .env_remove("TIGRIS_CONFIG")
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(120), run)
            .await
            .expect("tigris poll did not finish within 120 s")
            .expect("tigris binary runs");
        assert!(
            output.status.success(),
            "tigris poll failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Poll { dir, output }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.path().join("tigris.db")
    }

    fn db(&self) -> rusqlite::Connection {
        open(&self.db_path())
    }

    /// The stored item titles of the feed at `feed_url`.
    fn titles_of(&self, feed_url: &str) -> Vec<String> {
        let db = self.db();
        let mut query = db
            .prepare(
                "SELECT i.title FROM items i
                   JOIN item_sources s ON s.item_id = i.id
                   JOIN feeds f ON f.id = s.feed_id
                  WHERE f.url = ?1 ORDER BY i.id",
            )
            .unwrap();
        query
            .query_map([feed_url], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
}

fn open(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// An RSS 2.0 document with one item titled `title`, with an XML declaration naming
/// `declared` (or none at all).
fn rss(name: &str, declared: Option<&str>, title: &str) -> String {
    let declaration = match declared {
        Some(label) => format!("<?xml version=\"1.0\" encoding=\"{label}\"?>\n"),
        None => String::new(),
    };
    format!(
        "{declaration}<rss version=\"2.0\"><channel><title>{title}</title>\
         <link>https://enc.example/{name}/</link><description>{name}</description>\
         <item><title>{title}</title><link>https://enc.example/{name}/1</link>\
         <guid isPermaLink=\"false\">{name}-1</guid><description>{title}</description>\
         <pubDate>Mon, 23 Nov 2026 10:00:00 GMT</pubDate></item></channel></rss>\n"
    )
}

/// `text` in the encoding named by the WHATWG `label`. A character the encoding lacks would
/// come out as an XML character reference and hide a decoding bug, so there must be none.
fn encode(label: &str, text: &str) -> Vec<u8> {
    let encoding = Encoding::for_label(label.as_bytes()).unwrap();
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{label} cannot encode all of {text:?}");
    bytes.into_owned()
}

/// `text` as UTF-16 by hand (encoding_rs only decodes UTF-16), with or without a BOM.
fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    if bom {
        bytes.extend_from_slice(if big_endian { b"\xFE\xFF" } else { b"\xFF\xFE" });
    }
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    bytes
}

/// A feed to serve and the title its item must be stored with.
struct Case {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    title: &'static str,
}

/// Serves every case as its own feed, polls them all once, and checks each stored title.
async fn assert_titles_round_trip(cases: Vec<Case>) {
    let base = serve(
        cases
            .iter()
            .map(|c| Served {
                path: format!("{}.xml", c.name),
                content_type: c.content_type.to_string(),
                body: c.body.clone(),
            })
            .collect(),
    )
    .await;
    let urls: Vec<String> = cases
        .iter()
        .map(|c| format!("{base}/{}.xml", c.name))
        .collect();
    let poll = Poll::run(&urls).await;
    for (case, url) in cases.iter().zip(&urls) {
        assert_eq!(
            poll.titles_of(url),
            vec![case.title.to_string()],
            "{} ({}); poll said:\n{}",
            case.name,
            case.content_type,
            poll.stdout()
        );
    }
}

/// A case whose bytes are `title`'s feed in the encoding `label`, declared as `declared`.
fn legacy(
    name: &'static str,
    content_type: &'static str,
    label: &str,
    declared: Option<&str>,
    title: &'static str,
) -> Case {
    Case {
        name,
        content_type,
        body: encode(label, &rss(name, declared, title)),
        title,
    }
}

#[tokio::test]
async fn single_byte_charsets_from_the_content_type() {
    assert_titles_round_trip(vec![
        legacy(
            "windows-1252",
            "application/rss+xml; charset=windows-1252",
            "windows-1252",
            None,
            "“Smart quotes” in Baghdad — café résumé",
        ),
        // WHATWG reads ISO-8859-1 as windows-1252, so the apostrophe (0x92) survives too.
        legacy(
            "iso-8859-1",
            "text/xml; charset=ISO-8859-1",
            "iso-8859-1",
            None,
            "Erbil: naïve façade, Zürich’s ±5 °C",
        ),
        legacy(
            "iso-8859-15",
            "text/xml; charset=\"iso-8859-15\"",
            "iso-8859-15",
            None,
            "Prix à Bassora : 20 € ; Œuvre",
        ),
        legacy(
            "koi8-r",
            "application/xml;charset=KOI8-R",
            "koi8-r",
            None,
            "Переговоры США и Ирака в Багдаде",
        ),
    ])
    .await;
}

#[tokio::test]
async fn cjk_charsets_from_the_content_type() {
    assert_titles_round_trip(vec![
        legacy(
            "big5",
            "application/rss+xml; charset=big5",
            "big5",
            Some("big5"),
            "美伊在巴格達舉行會談",
        ),
        // gb2312 is read as GBK, its superset, as browsers do.
        legacy(
            "gb2312",
            "application/rss+xml; charset=gb2312",
            "gb2312",
            None,
            "美国与伊拉克在巴格达举行会谈",
        ),
        legacy(
            "shift_jis",
            "text/xml; charset=Shift_JIS",
            "shift_jis",
            None,
            "米国とイラクがバグダッドで協議",
        ),
    ])
    .await;
}

#[tokio::test]
async fn utf16_with_a_bom() {
    const TITLE: &str = "Ирак – 伊拉克 – العراق – 𝔘𝔖";
    assert_titles_round_trip(vec![
        Case {
            name: "utf-16le-bom",
            content_type: "application/rss+xml",
            body: utf16(&rss("utf-16le-bom", Some("UTF-16"), TITLE), false, true),
            title: TITLE,
        },
        // The BOM outranks a header that says otherwise.
        Case {
            name: "utf-16be-bom",
            content_type: "application/rss+xml; charset=utf-8",
            body: utf16(&rss("utf-16be-bom", Some("UTF-16"), TITLE), true, true),
            title: TITLE,
        },
    ])
    .await;
}

#[tokio::test]
async fn utf16_without_bom_declared_in_the_content_type() {
    const TITLE: &str = "Ирак – 伊拉克 – العراق";
    assert_titles_round_trip(vec![
        // WHATWG: a bare "utf-16" label means little-endian.
        Case {
            name: "utf-16",
            content_type: "text/xml; charset=utf-16",
            body: utf16(&rss("utf-16", Some("UTF-16"), TITLE), false, false),
            title: TITLE,
        },
        Case {
            name: "utf-16be",
            content_type: "text/xml; charset=UTF-16BE",
            body: utf16(&rss("utf-16be", None, TITLE), true, false),
            title: TITLE,
        },
    ])
    .await;
}

#[tokio::test]
async fn header_charset_wins_over_the_xml_declaration() {
    // Both encodings are Cyrillic and decode any byte, so only the right one gives the title.
    assert_titles_round_trip(vec![legacy(
        "header-wins",
        "application/rss+xml; charset=windows-1251",
        "windows-1251",
        Some("ISO-8859-5"),
        "Вашингтон и Багдад подписали соглашение",
    )])
    .await;
}

#[tokio::test]
async fn xml_declaration_is_used_without_a_header_charset() {
    assert_titles_round_trip(vec![
        legacy(
            "declared-1256",
            "application/rss+xml",
            "windows-1256",
            Some("windows-1256"),
            "العلاقات الأمريكية العراقية",
        ),
        // No Content-Type header at all behaves the same.
        legacy(
            "declared-koi8",
            "",
            "koi8-r",
            Some("koi8-r"),
            "Новости Ирака",
        ),
    ])
    .await;
}

#[tokio::test]
async fn html_page_error_names_the_feed_it_points_to_and_the_other_feed_is_stored() {
    let page = "<!DOCTYPE html>\n<html><head><title>News</title>\n\
                <link rel=\"alternate\" type=\"application/rss+xml\" title=\"News\" href=\"rss.xml\">\n\
                </head><body><h1>News</h1></body></html>";
    let base = serve(vec![
        Served {
            path: "news/".into(),
            content_type: "text/html; charset=utf-8".into(),
            body: page.as_bytes().to_vec(),
        },
        Served {
            path: "other.xml".into(),
            content_type: "application/rss+xml".into(),
            body: rss("other", Some("utf-8"), "Baghdad talks resume").into_bytes(),
        },
    ])
    .await;
    let page_url = format!("{base}/news/");
    let other_url = format!("{base}/other.xml");
    let poll = Poll::run(&[page_url.clone(), other_url.clone()]).await;

    let (outcome, error): (String, Option<String>) = poll
        .db()
        .query_row(
            "SELECT x.outcome, x.error FROM fetches x JOIN feeds f ON f.id = x.feed_id
              WHERE f.url = ?1",
            [&page_url],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let error = error.unwrap_or_default();
    assert_eq!(outcome, "error", "{error}");
    assert!(error.contains("an HTML page"), "{error}");
    assert!(error.contains("text/html"), "{error}");
    assert!(
        error.contains(&format!("points to a feed at {base}/news/rss.xml")),
        "{error}"
    );
    assert_eq!(poll.titles_of(&other_url), vec!["Baghdad talks resume"]);
}
