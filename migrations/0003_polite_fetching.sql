-- tigris schema, version 3: polite and resilient fetching.
-- `url` is now the URL polled, which a permanent redirect (301/308, seen twice) may change;
-- `config_url` keeps the URL as configured, the key the config's feed list is matched on.
ALTER TABLE feeds ADD COLUMN config_url TEXT;
UPDATE feeds SET config_url = url;
CREATE UNIQUE INDEX feeds_config_url ON feeds (config_url);
-- Health: ok, failing, dead (failing for [schedule] dead_after_days; polled daily), gone (410).
ALTER TABLE feeds ADD COLUMN state TEXT NOT NULL DEFAULT 'ok'
    CHECK (state IN ('ok', 'failing', 'dead', 'gone'));
UPDATE feeds SET state = 'failing' WHERE consecutive_failures > 0;
-- When the current run of failures began.
ALTER TABLE feeds ADD COLUMN failing_since TEXT;
-- A permanent redirect target seen on the last fetch, and how many fetches in a row saw it.
ALTER TABLE feeds ADD COLUMN redirect_to TEXT;
ALTER TABLE feeds ADD COLUMN redirect_seen INTEGER NOT NULL DEFAULT 0;

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
       f.config_url
  FROM feeds f;
