-- tigris schema, version 1.
-- This schema is a public interface: docs/schema.md documents every table, column and view.
-- Times are stored as RFC 3339 text in UTC ("2026-11-23T14:00:00Z"), so they sort and compare
-- as strings and read well in the sqlite3 shell.

-- One row per feed tigris polls, with its polling state and health.
CREATE TABLE feeds (
    id                   INTEGER PRIMARY KEY,
    url                  TEXT NOT NULL UNIQUE,
    name                 TEXT,
    schedule             TEXT NOT NULL,
    enabled              INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    title                TEXT,
    site_url             TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    body_hash            TEXT,
    next_check_at        TEXT,
    last_checked_at      TEXT,
    last_success_at      TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_error           TEXT,
    created_at           TEXT NOT NULL
);

-- One row per story item, however many feeds carried it.
CREATE TABLE items (
    id              INTEGER PRIMARY KEY,
    canonical_url   TEXT,
    url             TEXT,
    title           TEXT NOT NULL,
    author          TEXT,
    summary         TEXT,
    content_html    TEXT,
    content_text    TEXT NOT NULL,
    categories      TEXT NOT NULL DEFAULT '[]',
    published_at    TEXT,
    updated_at      TEXT,
    content_hash    TEXT NOT NULL,
    first_seen_at   TEXT NOT NULL,
    last_changed_at TEXT NOT NULL
);
CREATE INDEX items_canonical_url ON items (canonical_url);
CREATE INDEX items_published_at ON items (published_at);
CREATE INDEX items_first_seen_at ON items (first_seen_at);

-- Which feed carried which item, under which key. (feed_id, entry_key) is how an entry of a
-- feed is recognised on the next poll.
CREATE TABLE item_sources (
    item_id       INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    feed_id       INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    entry_key     TEXT NOT NULL,
    guid          TEXT,
    url           TEXT,
    content_hash  TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    PRIMARY KEY (feed_id, entry_key)
);
CREATE INDEX item_sources_item ON item_sources (item_id);

-- One row per item and topic: the classifier's score and verdict.
CREATE TABLE classifications (
    item_id       INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    topic         TEXT NOT NULL,
    score         REAL NOT NULL,
    relevant      INTEGER NOT NULL CHECK (relevant IN (0, 1)),
    reasons       TEXT NOT NULL DEFAULT '[]',
    classifier    TEXT NOT NULL,
    classified_at TEXT NOT NULL,
    PRIMARY KEY (item_id, topic)
);
CREATE INDEX classifications_topic_relevant ON classifications (topic, relevant, score);

-- One row per fetch attempt: the feed's history.
CREATE TABLE fetches (
    id            INTEGER PRIMARY KEY,
    feed_id       INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    started_at    TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('ok', 'not_modified', 'unchanged_body', 'error')),
    http_status   INTEGER,
    bytes         INTEGER NOT NULL DEFAULT 0,
    duration_ms   INTEGER NOT NULL,
    items_new     INTEGER NOT NULL DEFAULT 0,
    items_updated INTEGER NOT NULL DEFAULT 0,
    items_duplicate INTEGER NOT NULL DEFAULT 0,
    error         TEXT
);
CREATE INDEX fetches_feed_started ON fetches (feed_id, started_at);

-- Full-text index over item titles and text, kept in step with `items` by triggers.
CREATE VIRTUAL TABLE items_fts USING fts5 (
    title,
    content_text,
    content = 'items',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_fts (rowid, title, content_text) VALUES (new.id, new.title, new.content_text);
END;
CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, content_text)
        VALUES ('delete', old.id, old.title, old.content_text);
END;
CREATE TRIGGER items_fts_update AFTER UPDATE OF title, content_text ON items BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, content_text)
        VALUES ('delete', old.id, old.title, old.content_text);
    INSERT INTO items_fts (rowid, title, content_text) VALUES (new.id, new.title, new.content_text);
END;

-- The newest items first, with the feeds that carried them.
CREATE VIEW latest_items AS
SELECT i.id,
       i.title,
       i.url,
       COALESCE(i.published_at, i.first_seen_at) AS published_at,
       i.first_seen_at,
       (SELECT group_concat(COALESCE(f.name, f.url), ', ')
          FROM item_sources s JOIN feeds f ON f.id = s.feed_id
         WHERE s.item_id = i.id) AS sources
  FROM items i
 ORDER BY COALESCE(i.published_at, i.first_seen_at) DESC;

-- Items the classifier judged relevant, per topic, best-scored and newest first.
CREATE VIEW relevant_items AS
SELECT c.topic,
       c.score,
       i.id,
       i.title,
       i.url,
       COALESCE(i.published_at, i.first_seen_at) AS published_at
  FROM classifications c JOIN items i ON i.id = c.item_id
 WHERE c.relevant = 1
 ORDER BY COALESCE(i.published_at, i.first_seen_at) DESC, c.score DESC;

-- Each feed's health at a glance.
CREATE VIEW feed_health AS
SELECT f.id,
       COALESCE(f.name, f.title, f.url) AS name,
       f.url,
       f.enabled,
       CASE
           WHEN f.enabled = 0 THEN 'disabled'
           WHEN f.last_checked_at IS NULL THEN 'new'
           WHEN f.consecutive_failures = 0 THEN 'ok'
           ELSE 'failing'
       END AS state,
       f.last_success_at,
       f.last_checked_at,
       f.next_check_at,
       f.consecutive_failures,
       f.last_error,
       (SELECT count(*) FROM item_sources s WHERE s.feed_id = f.id) AS items
  FROM feeds f;
