//! The feed list as people manage it (`tigris feeds add/remove/enable/disable`, OPML import
//! and export) and the figures `/metrics` reads at scrape time. The config's `[[feeds]]` are
//! synced by [`Store::sync_feeds`]; the feeds here carry their origin so the config never
//! touches the ones it does not list.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use url::Url;

use super::{Store, StoreError, delete_items, timestamp};

/// Where a feed in the database came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOrigin {
    /// A `[[feeds]]` entry of the config file.
    Config,
    /// `tigris feeds add`.
    Cli,
    /// `tigris opml import`.
    Opml,
}

impl FeedOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedOrigin::Config => "config",
            FeedOrigin::Cli => "cli",
            FeedOrigin::Opml => "opml",
        }
    }
}

/// A feed row as feed management and OPML export see it.
#[derive(Debug, Clone, Serialize)]
pub struct ManagedFeed {
    pub id: i64,
    /// The URL polled (a permanent redirect may have moved it).
    pub url: String,
    /// The URL as it was added (the config's, the command line's or the OPML's).
    pub config_url: String,
    pub name: Option<String>,
    /// The title the feed gives itself.
    pub title: Option<String>,
    pub site_url: Option<String>,
    pub schedule: String,
    pub enabled: bool,
    pub origin: String,
}

/// Figures for `/metrics` that live in the database.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// Feeds by health state (`ok`, `failing`, `dead`, `gone`, `new`, `disabled`).
    pub feeds_by_state: Vec<(String, i64)>,
    /// Items relevant to each topic.
    pub relevant_by_topic: Vec<(String, i64)>,
    pub items: i64,
    /// The database file plus its write-ahead log, in bytes.
    pub database_bytes: u64,
}

const MANAGED_COLUMNS: &str = "id, url, COALESCE(config_url, url), name, title, site_url, \
                               schedule, enabled, origin";

fn managed_feed(row: &rusqlite::Row<'_>) -> rusqlite::Result<ManagedFeed> {
    Ok(ManagedFeed {
        id: row.get(0)?,
        url: row.get(1)?,
        config_url: row.get(2)?,
        name: row.get(3)?,
        title: row.get(4)?,
        site_url: row.get(5)?,
        schedule: row.get(6)?,
        enabled: row.get(7)?,
        origin: row.get(8)?,
    })
}

impl Store {
    /// Adds a feed (enabled, due at once). Returns its id, or `None` when a feed with this URL
    /// is already in the database (nothing is changed then).
    pub fn add_feed(
        &mut self,
        url: &Url,
        name: Option<&str>,
        schedule: &str,
        origin: FeedOrigin,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        if self.find_feed(url.as_str())?.is_some() {
            return Ok(None);
        }
        let id = self.conn.query_row(
            "INSERT INTO feeds (url, config_url, name, schedule, enabled, created_at, origin)
             VALUES (?1, ?1, ?2, ?3, 1, ?4, ?5) RETURNING id",
            params![
                url.as_str(),
                name,
                schedule,
                timestamp(now),
                origin.as_str()
            ],
            |row| row.get(0),
        )?;
        Ok(Some(id))
    }

    /// Every feed in the database, enabled first, then by name.
    pub fn managed_feeds(&self) -> Result<Vec<ManagedFeed>, StoreError> {
        let sql = format!(
            "SELECT {MANAGED_COLUMNS} FROM feeds
              ORDER BY enabled DESC, COALESCE(name, title, url) COLLATE NOCASE, id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let feeds = stmt
            .query_map([], managed_feed)?
            .collect::<Result<_, _>>()?;
        Ok(feeds)
    }

    /// The feed a person means by `key`: its numeric id, the URL it was added with, or the
    /// URL it is polled at now.
    pub fn find_feed(&self, key: &str) -> Result<Option<ManagedFeed>, StoreError> {
        let key = key.trim();
        let sql = format!(
            "SELECT {MANAGED_COLUMNS} FROM feeds
              WHERE CAST(id AS TEXT) = ?1 OR config_url = ?1 OR url = ?1
                 OR config_url = ?2 OR url = ?2
              ORDER BY id LIMIT 1"
        );
        // The URL crate's spelling (`https://a.example/`) for a key typed without the slash.
        let normalized = Url::parse(key).map(|u| u.to_string()).unwrap_or_default();
        Ok(self
            .conn
            .query_row(&sql, params![key, normalized], managed_feed)
            .optional()?)
    }

    /// Turns polling of a feed on or off; its items stay either way.
    pub fn set_feed_enabled(&mut self, id: i64, enabled: bool) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE feeds SET enabled = ?2,
                    next_check_at = CASE WHEN ?2 THEN NULL ELSE next_check_at END
              WHERE id = ?1",
            params![id, enabled],
        )?;
        Ok(())
    }

    /// Removes a feed, its fetch history and the items no other feed carries, in one
    /// transaction. Returns how many items were removed.
    pub fn remove_feed(&mut self, id: i64) -> Result<usize, StoreError> {
        let tx = self.conn.transaction()?;
        let only_here: Vec<i64> = tx
            .prepare(
                "SELECT item_id FROM item_sources WHERE feed_id = ?1
                 EXCEPT SELECT item_id FROM item_sources WHERE feed_id <> ?1",
            )?
            .query_map([id], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        delete_items(&tx, &only_here, None, &mut self.stories)?;
        tx.execute("DELETE FROM feeds WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(only_here.len())
    }

    /// A cheap read that proves the database answers and is still the file at its path (for
    /// the watchdog: a daemon whose file was replaced is better restarted).
    pub fn ping(&self) -> Result<(), StoreError> {
        self.ensure_unmoved()?;
        self.conn
            .query_row("SELECT count(*) FROM feeds", [], |row| row.get::<_, i64>(0))?;
        Ok(())
    }

    /// The database's figures for `/metrics`.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let pairs = |sql: &str| -> Result<Vec<(String, i64)>, StoreError> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        };
        let feeds_by_state = pairs("SELECT state, count(*) FROM feed_health GROUP BY state")?;
        let relevant_by_topic =
            pairs("SELECT topic, count(*) FROM classifications WHERE relevant = 1 GROUP BY topic")?;
        let items = self
            .conn
            .query_row("SELECT count(*) FROM items", [], |row| row.get(0))?;
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal_bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        Ok(StoreStats {
            feeds_by_state,
            relevant_by_topic,
            items,
            database_bytes: self.file_bytes()? + wal_bytes,
        })
    }
}
