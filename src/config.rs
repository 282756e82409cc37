//! Configuration: reads the TOML file once, at start, and validates it into a typed [`Config`]
//! (parsed cron schedules, `Url`s, `Duration`s, absolute paths). Nothing else in tigris reads
//! the file or the environment for settings.
//!
//! Every error names the file, the line and the key, so a user can go straight to it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use crate::schedule::CronSchedule;

/// Where the config is looked for when neither `--config` nor `TIGRIS_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/tigris.toml";

const DEFAULT_DATABASE: &str = "data/tigris.db";
const DEFAULT_TOPICS_DIR: &str = "topics";
const DEFAULT_SCHEDULE: &str = "*/15 * * * *";
const DEFAULT_MAX_CONCURRENT_FETCHES: usize = 16;
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
const DEFAULT_MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 10;
const DEFAULT_MAX_REDIRECTS: u64 = 5;
const DEFAULT_MAX_PER_HOST: u64 = 2;
const DEFAULT_MAX_INTERVAL_HOURS: u64 = 24;
const DEFAULT_DEAD_AFTER_DAYS: u64 = 7;
const DEFAULT_RETENTION_DAYS: u64 = 180;
const DEFAULT_RETENTION_PER_FEED: u64 = 1000;
const DEFAULT_KEEP_RELEVANT_DAYS: u64 = 3 * 365;
const DEFAULT_FETCH_HISTORY_DAYS: u64 = 30;

/// Why a config could not be used. Each variant names the file; the others also the line
/// and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has a key tigris does not know, or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A value is well-formed TOML but not acceptable.
    #[error("{path}:{line}: `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub path: PathBuf,
    pub storage: StorageConfig,
    pub schedule: ScheduleConfig,
    pub fetch: FetchConfig,
    pub server: ServerConfig,
    pub classify: ClassifyConfig,
    pub feed: FeedMetaConfig,
    pub output: OutputConfig,
    pub log: LogConfig,
    pub retention: RetentionConfig,
    pub feeds: Vec<FeedConfig>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (the default); colours only on a terminal.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// `[retention]`: how long items and fetch history are kept.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Items older than this (by publication time) are pruned...
    pub max_age: chrono::Duration,
    /// ...and so are those beyond the newest `per_feed` of every feed that carries them...
    pub per_feed: usize,
    /// ...except items relevant to a topic and younger than this (per topic; `keep_relevant`
    /// for topics not listed in `relevant_by_topic`).
    pub keep_relevant: chrono::Duration,
    pub relevant_by_topic: Vec<(String, chrono::Duration)>,
    /// Fetch history rows older than this are deleted.
    pub fetch_history: chrono::Duration,
}

impl RetentionConfig {
    /// How long relevant items of `topic` are kept.
    pub fn keep_relevant_for(&self, topic: &str) -> chrono::Duration {
        self.relevant_by_topic
            .iter()
            .find(|(t, _)| t == topic)
            .map(|(_, d)| *d)
            .unwrap_or(self.keep_relevant)
    }
}

/// What the merged feed says about itself.
#[derive(Debug, Clone)]
pub struct FeedMetaConfig {
    pub title: String,
    pub subtitle: String,
    /// The URL readers reach the server at, without a trailing slash; feeds' self links and
    /// the page's links start with it.
    pub base_url: String,
}

/// Static copies of the merged feed, written after each poll that changed something.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// The folder to write `feed.atom`, `feed.rss` and `feed.json` into; `None` writes nothing.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct ClassifyConfig {
    /// The folder of topic files (`*.toml`), absolute.
    pub topics_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The SQLite database file, absolute (resolved against the config file's folder).
    pub database: PathBuf,
}

#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// The schedule of feeds that do not set their own.
    pub default: CronSchedule,
    /// At most this many fetches run at once.
    pub max_concurrent_fetches: usize,
    /// On SIGTERM/SIGINT, in-flight fetches get this long to finish before they are dropped.
    pub shutdown_grace: Duration,
    /// Backoff, publisher hints and the dead-feed rule.
    pub politeness: crate::schedule::Politeness,
}

#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_body_bytes: u64,
    pub user_agent: String,
    /// Redirects followed per fetch.
    pub max_redirects: usize,
    /// Fetches of one host at once.
    pub max_per_host: usize,
    /// Allow feeds (and redirects) on loopback, private and link-local addresses.
    pub allow_private_networks: bool,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// The line of the config file that lists the feed (for messages).
    pub line: usize,
    pub url: Url,
    pub name: Option<String>,
    pub schedule: CronSchedule,
}

/// The User-Agent tigris sends unless the config sets another: name, version, repository.
pub fn default_user_agent() -> String {
    format!(
        "tigris/{} (+{})",
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_REPOSITORY")
    )
}

// The raw mirror of the TOML file. Values that are validated further carry their span so
// errors can name the line.

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    fetch: RawFetch,
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    classify: RawClassify,
    #[serde(default)]
    feed: RawFeedMeta,
    #[serde(default)]
    output: RawOutput,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    feeds: Vec<RawFeed>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    days: Option<Spanned<i64>>,
    per_feed: Option<Spanned<i64>>,
    keep_relevant_days: Option<Spanned<i64>>,
    #[serde(default)]
    keep_relevant_days_by_topic: std::collections::BTreeMap<String, Spanned<i64>>,
    fetch_history_days: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    database: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    default: Option<Spanned<String>>,
    max_concurrent_fetches: Option<Spanned<i64>>,
    shutdown_grace_secs: Option<Spanned<i64>>,
    max_interval_hours: Option<Spanned<i64>>,
    dead_after_days: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFetch {
    timeout_secs: Option<Spanned<i64>>,
    connect_timeout_secs: Option<Spanned<i64>>,
    max_body_bytes: Option<Spanned<i64>>,
    user_agent: Option<Spanned<String>>,
    max_redirects: Option<Spanned<i64>>,
    max_per_host: Option<Spanned<i64>>,
    allow_private_networks: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFeedMeta {
    title: Option<String>,
    subtitle: Option<String>,
    base_url: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    dir: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClassify {
    topics_dir: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    url: Spanned<String>,
    name: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
}

impl Config {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(path, &text)
    }

    /// Validates config text as if it had been read from `path` (relative paths in it resolve
    /// against `path`'s folder).
    pub fn from_toml(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: e.span().map(|s| Lines::new(text).of(s.start)).unwrap_or(1),
            message: e.message().trim().to_string(),
        })?;
        Validator {
            path,
            lines: Lines::new(text),
        }
        .validate(raw)
    }
}

/// The 1-based lines of byte offsets in a text, by binary search over where its newlines are:
/// each feed remembers the line of its `url`, and counting the newlines from the start for
/// each one made a config of many feeds quadratic to load (for 1,000 feeds, ~4 % of an
/// unchanged re-poll's CPU).
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        Lines(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(at, _)| at)
                .collect(),
        )
    }

    /// The line of the byte at `offset`: one more than the newlines before it.
    fn of(&self, offset: usize) -> usize {
        self.0.partition_point(|&newline| newline < offset) + 1
    }
}

/// The folder relative paths in the config resolve against: the config file's own, absolute.
fn config_dir(config_path: &Path) -> PathBuf {
    let dir = config_path.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Removes `.` and `..` components lexically, so logs and messages show
/// `/srv/tigris/data/tigris.db` rather than `/srv/tigris/config/../data/tigris.db`. (Written by
/// hand: `std::fs::canonicalize` needs the file to exist, and the database may not yet.)
fn clean_path(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

struct Validator<'a> {
    path: &'a Path,
    lines: Lines,
}

impl Validator<'_> {
    fn err(&self, key: &str, span_start: usize, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: self.lines.of(span_start),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// A positive integer setting, or its default.
    fn positive(
        &self,
        key: &str,
        value: Option<Spanned<i64>>,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if *v.get_ref() > 0 => Ok(*v.get_ref() as u64),
            Some(v) => Err(self.err(
                key,
                v.span().start,
                format!("must be a positive integer, got {}", v.get_ref()),
            )),
        }
    }

    fn cron(&self, key: &str, value: &Spanned<String>) -> Result<CronSchedule, ConfigError> {
        CronSchedule::parse(value.get_ref())
            .map_err(|e| self.err(key, value.span().start, e.to_string()))
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let base_dir = config_dir(self.path);

        let database = match &raw.storage.database {
            Some(v) if v.get_ref().trim().is_empty() => {
                return Err(self.err("storage.database", v.span().start, "must not be empty"));
            }
            Some(v) => clean_path(&base_dir.join(v.get_ref())),
            None => clean_path(&base_dir.join(DEFAULT_DATABASE)),
        };

        let topics_dir = match &raw.classify.topics_dir {
            Some(v) if v.get_ref().trim().is_empty() => {
                return Err(self.err("classify.topics_dir", v.span().start, "must not be empty"));
            }
            Some(v) => clean_path(&base_dir.join(v.get_ref())),
            None => clean_path(&base_dir.join(DEFAULT_TOPICS_DIR)),
        };

        let default_schedule = match &raw.schedule.default {
            Some(v) => self.cron("schedule.default", v)?,
            None => CronSchedule::parse(DEFAULT_SCHEDULE)
                .map_err(|e| self.err("schedule.default", 0, e.to_string()))?,
        };
        let max_concurrent_fetches = self.positive(
            "schedule.max_concurrent_fetches",
            raw.schedule.max_concurrent_fetches,
            DEFAULT_MAX_CONCURRENT_FETCHES as u64,
        )? as usize;
        let shutdown_grace = Duration::from_secs(self.positive(
            "schedule.shutdown_grace_secs",
            raw.schedule.shutdown_grace_secs,
            DEFAULT_SHUTDOWN_GRACE_SECS,
        )?);

        let fetch = FetchConfig {
            timeout: Duration::from_secs(self.positive(
                "fetch.timeout_secs",
                raw.fetch.timeout_secs,
                DEFAULT_TIMEOUT_SECS,
            )?),
            connect_timeout: Duration::from_secs(self.positive(
                "fetch.connect_timeout_secs",
                raw.fetch.connect_timeout_secs,
                DEFAULT_CONNECT_TIMEOUT_SECS,
            )?),
            max_body_bytes: self.positive(
                "fetch.max_body_bytes",
                raw.fetch.max_body_bytes,
                DEFAULT_MAX_BODY_BYTES,
            )?,
            user_agent: match raw.fetch.user_agent {
                Some(v) if v.get_ref().trim().is_empty() => {
                    return Err(self.err("fetch.user_agent", v.span().start, "must not be empty"));
                }
                Some(v) => v.into_inner(),
                None => default_user_agent(),
            },
            max_redirects: self.positive(
                "fetch.max_redirects",
                raw.fetch.max_redirects,
                DEFAULT_MAX_REDIRECTS,
            )? as usize,
            max_per_host: self.positive(
                "fetch.max_per_host",
                raw.fetch.max_per_host,
                DEFAULT_MAX_PER_HOST,
            )? as usize,
            allow_private_networks: raw.fetch.allow_private_networks.unwrap_or(false),
        };
        let max_interval = chrono::Duration::hours(self.positive(
            "schedule.max_interval_hours",
            raw.schedule.max_interval_hours,
            DEFAULT_MAX_INTERVAL_HOURS,
        )? as i64);
        let politeness = crate::schedule::Politeness {
            max_interval,
            backoff_cap: max_interval,
            dead_after: chrono::Duration::days(self.positive(
                "schedule.dead_after_days",
                raw.schedule.dead_after_days,
                DEFAULT_DEAD_AFTER_DAYS,
            )? as i64),
        };

        let listen = match &raw.server.listen {
            Some(v) => v.get_ref().parse::<SocketAddr>().map_err(|e| {
                self.err(
                    "server.listen",
                    v.span().start,
                    format!("`{}` is not an address:port ({e})", v.get_ref()),
                )
            })?,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| self.err("server.listen", 0, "bad built-in default"))?,
        };

        let base_url = match &raw.feed.base_url {
            Some(v) => {
                let url = Url::parse(v.get_ref()).map_err(|e| {
                    self.err(
                        "feed.base_url",
                        v.span().start,
                        format!("`{}` is not a URL: {e}", v.get_ref()),
                    )
                })?;
                if url.scheme() != "http" && url.scheme() != "https" {
                    return Err(self.err(
                        "feed.base_url",
                        v.span().start,
                        "must be an http or https URL",
                    ));
                }
                url.as_str().trim_end_matches('/').to_string()
            }
            None => format!("http://{listen}"),
        };
        let feed = FeedMetaConfig {
            title: raw
                .feed
                .title
                .unwrap_or_else(|| "tigris: US–Iraq relations".to_string()),
            subtitle: raw.feed.subtitle.unwrap_or_else(|| {
                "News on the US military presence in Iraq, the coalition, militia attacks and US strikes, and Baghdad–Washington diplomacy, merged from many outlets by tigris.".to_string()
            }),
            base_url,
        };
        let output = OutputConfig {
            dir: match &raw.output.dir {
                Some(v) if v.get_ref().trim().is_empty() => {
                    return Err(self.err(
                        "output.dir",
                        v.span().start,
                        "must not be empty (leave it out to write nothing)",
                    ));
                }
                Some(v) => Some(clean_path(&base_dir.join(v.get_ref()))),
                None => None,
            },
        };

        let mut feeds = Vec::with_capacity(raw.feeds.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, feed) in raw.feeds.into_iter().enumerate() {
            let key = format!("feeds[{index}].url");
            let url = Url::parse(feed.url.get_ref().trim()).map_err(|e| {
                self.err(
                    &key,
                    feed.url.span().start,
                    format!("`{}` is not a URL: {e}", feed.url.get_ref()),
                )
            })?;
            if url.scheme() != "http" && url.scheme() != "https" {
                return Err(self.err(
                    &key,
                    feed.url.span().start,
                    format!("`{url}` must be an http or https URL"),
                ));
            }
            if let Some(first) = seen.insert(url.as_str().to_string(), index) {
                return Err(self.err(
                    &key,
                    feed.url.span().start,
                    format!("`{url}` is listed twice (also feeds[{first}])"),
                ));
            }
            let schedule = match &feed.schedule {
                Some(v) => self.cron(&format!("feeds[{index}].schedule"), v)?,
                None => default_schedule.clone(),
            };
            let name = match feed.name {
                Some(n) if n.get_ref().trim().is_empty() => {
                    return Err(self.err(
                        &format!("feeds[{index}].name"),
                        n.span().start,
                        "must not be empty (leave it out to use the feed's URL)",
                    ));
                }
                Some(n) => Some(n.into_inner().trim().to_string()),
                None => None,
            };
            feeds.push(FeedConfig {
                line: self.lines.of(feed.url.span().start),
                url,
                name,
                schedule,
            });
        }

        let log = LogConfig {
            format: match &raw.log.format {
                None => LogFormat::Text,
                Some(v) => match v.get_ref().as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    other => {
                        return Err(self.err(
                            "log.format",
                            v.span().start,
                            format!("`{other}` is not a log format (text or json)"),
                        ));
                    }
                },
            },
        };
        let days = |key: &str, value: Option<Spanned<i64>>, default: u64| {
            self.positive(key, value, default)
                .map(|d| chrono::Duration::days(d.min(100 * 365) as i64))
        };
        let mut relevant_by_topic = Vec::new();
        for (topic, value) in raw.retention.keep_relevant_days_by_topic {
            let key = format!("retention.keep_relevant_days_by_topic.{topic}");
            relevant_by_topic.push((topic, days(&key, Some(value), 0)?));
        }
        let retention = RetentionConfig {
            max_age: days("retention.days", raw.retention.days, DEFAULT_RETENTION_DAYS)?,
            per_feed: self.positive(
                "retention.per_feed",
                raw.retention.per_feed,
                DEFAULT_RETENTION_PER_FEED,
            )? as usize,
            keep_relevant: days(
                "retention.keep_relevant_days",
                raw.retention.keep_relevant_days,
                DEFAULT_KEEP_RELEVANT_DAYS,
            )?,
            relevant_by_topic,
            fetch_history: days(
                "retention.fetch_history_days",
                raw.retention.fetch_history_days,
                DEFAULT_FETCH_HISTORY_DAYS,
            )?,
        };

        Ok(Config {
            path: self.path.to_path_buf(),
            storage: StorageConfig { database },
            schedule: ScheduleConfig {
                default: default_schedule,
                max_concurrent_fetches,
                shutdown_grace,
                politeness,
            },
            fetch,
            server: ServerConfig { listen },
            classify: ClassifyConfig { topics_dir },
            feed,
            output,
            log,
            retention,
            feeds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(Path::new("/etc/tigris/tigris.toml"), text)
    }

    #[test]
    fn every_feed_knows_the_line_of_its_url() {
        let mut text = String::from("# feeds\n\n[schedule]\ndefault = \"*/30 * * * *\"\n");
        let mut expected = Vec::new();
        for n in 0..50 {
            text.push_str(&format!("\n[[feeds]]\nname = \"feed {n}\"\n"));
            if n % 3 == 0 {
                text.push_str("# a comment line\n");
            }
            expected.push(text.lines().count() + 1);
            text.push_str(&format!("url = \"https://example.com/{n}.xml\"\n"));
        }
        let config = load(&text).unwrap();
        let lines: Vec<usize> = config.feeds.iter().map(|f| f.line).collect();
        assert_eq!(lines, expected);
        // The byte at a newline is on the line the newline ends; past the end, the last line.
        let lines = Lines::new("a\nbc\n\nd");
        let of: Vec<usize> = (0..10).map(|at| lines.of(at)).collect();
        assert_eq!(of, [1, 1, 2, 2, 2, 3, 4, 4, 4, 4]);
    }

    #[test]
    fn empty_config_takes_defaults_relative_to_the_file() {
        let config = load("").unwrap();
        assert_eq!(
            config.storage.database,
            PathBuf::from("/etc/tigris/data/tigris.db")
        );
        assert_eq!(config.schedule.max_concurrent_fetches, 16);
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.fetch.max_body_bytes, 16 * 1024 * 1024);
        assert!(config.fetch.user_agent.starts_with("tigris/"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = load("[schedule]\ndefault = \"*/5 * * * *\"\nevery = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("tigris.toml:3"), "{text}");
        assert!(text.contains("every"), "{text}");
    }

    #[test]
    fn bad_cron_names_feed_key_and_line() {
        let err = load(
            "[[feeds]]\nurl = \"https://a.example/rss\"\n\n[[feeds]]\nurl = \"https://b.example/rss\"\nschedule = \"every tuesday\"\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(":6:"), "{text}");
        assert!(text.contains("feeds[1].schedule"), "{text}");
    }

    #[test]
    fn duplicate_feed_is_refused() {
        let err = load(
            "[[feeds]]\nurl = \"https://a.example/rss\"\n[[feeds]]\nurl = \"https://A.example/rss\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        assert!(err.to_string().contains("feeds[1].url"), "{err}");
    }

    #[test]
    fn non_http_url_is_refused() {
        let err = load("[[feeds]]\nurl = \"ftp://a.example/rss\"\n").unwrap_err();
        assert!(err.to_string().contains("http or https"), "{err}");
    }

    #[test]
    fn retention_and_log_defaults_and_errors() {
        let config = load("").unwrap();
        assert_eq!(config.retention.max_age, chrono::Duration::days(180));
        assert_eq!(config.retention.per_feed, 1000);
        assert_eq!(
            config.retention.keep_relevant_for("us-iraq"),
            chrono::Duration::days(1095)
        );
        assert_eq!(config.log.format, LogFormat::Text);
        let config = load(
            "[log]\nformat = \"json\"\n[retention]\ndays = 30\n[retention.keep_relevant_days_by_topic]\nus-iraq = 400\n",
        )
        .unwrap();
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.retention.max_age, chrono::Duration::days(30));
        assert_eq!(
            config.retention.keep_relevant_for("us-iraq"),
            chrono::Duration::days(400)
        );
        let err = load("[log]\nformat = \"xml\"\n").unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("log.format"), "{err}");
        let err = load("[retention]\n\nper_feed = -1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":3:") && err.contains("retention.per_feed"),
            "{err}"
        );
    }

    #[test]
    fn zero_concurrency_is_refused() {
        let err = load("[schedule]\nmax_concurrent_fetches = 0\n").unwrap_err();
        assert!(
            err.to_string().contains("schedule.max_concurrent_fetches"),
            "{err}"
        );
    }
}
