-- tigris schema, version 5: feeds managed from the command line and OPML, and retention.

-- Where a feed came from: 'config' (a [[feeds]] entry of the config file, which stays the
-- source of truth for it: a config feed no longer listed is disabled at the next start or
-- reload), 'cli' (`tigris feeds add`) or 'opml' (`tigris opml import`). Feeds of the last
-- two are never touched by the config.
ALTER TABLE feeds ADD COLUMN origin TEXT NOT NULL DEFAULT 'config'
    CHECK (origin IN ('config', 'cli', 'opml'));

-- Items removed by retention, by the feed entry that brought them, so a feed that still
-- lists a pruned entry does not bring it back.
CREATE TABLE tombstones (
    feed_id   INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    entry_key TEXT NOT NULL,
    pruned_at TEXT NOT NULL,
    PRIMARY KEY (feed_id, entry_key)
) WITHOUT ROWID;

-- Deleting an item checks for a story it represents (the foreign key cascades): without this
-- index every deletion scans `stories` (measured: 3.8 ms per pruned item at 48,000 items,
-- 0.57 ms with it).
CREATE INDEX stories_representative ON stories (representative_item_id);

-- When each periodic task (the daily prune) last ran, so a restart does not repeat it.
CREATE TABLE maintenance (
    task        TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL,
    summary     TEXT
);

DROP VIEW feed_health;
CREATE VIEW feed_health AS
SELECT f.id,
       COALESCE(f.name, f.title, f.url) AS name,
       f.url,
       f.enabled,
       CASE
           WHEN f.enabled = 0 THEN 'disabled'
           WHEN f.state = 'gone' THEN 'gone'
           WHEN f.last_checked_at IS NULL THEN 'new'
           ELSE f.state
       END AS state,
       f.last_success_at,
       f.last_checked_at,
       f.next_check_at,
       f.consecutive_failures,
       f.last_error,
       (SELECT count(*) FROM item_sources s WHERE s.feed_id = f.id) AS items,
       f.config_url,
       f.origin
  FROM feeds f;
