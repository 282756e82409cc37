-- tigris schema, version 4: stories. The same story told by several outlets (near-duplicate
-- title and text, published within the story window) is one story; items keep their own rows.
CREATE TABLE stories (
    id                     INTEGER PRIMARY KEY,
    representative_item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    first_published_at     TEXT NOT NULL,
    last_published_at      TEXT NOT NULL,
    member_count           INTEGER NOT NULL DEFAULT 1,
    created_at             TEXT NOT NULL
);
CREATE INDEX stories_last_published ON stories (last_published_at);

ALTER TABLE items ADD COLUMN story_id INTEGER REFERENCES stories (id) ON DELETE SET NULL;
CREATE INDEX items_story ON items (story_id);

-- Each item's fingerprint: the hashes of its stemmed content words (sorted little-endian
-- u64s) and their MinHash signature (64 little-endian u32s).
CREATE TABLE story_prints (
    item_id      INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    published_at TEXT NOT NULL,
    words        BLOB NOT NULL,
    signature    BLOB NOT NULL
);

-- Locality-sensitive keys of the fingerprints (32 per item), by publication day (days since
-- 1970-01-01): a new item is compared only with items sharing a key and published within the
-- story window. Ordered by day first, so new rows land in the few pages of recent days and
-- storing an item costs the same however large the table grows. One B-tree (no rowid, no
-- second index); a row whose item is gone is skipped by the join with story_prints, and
-- removed by recomputing its keys from the stored signature.
CREATE TABLE story_bands (
    day     INTEGER NOT NULL,
    key     INTEGER NOT NULL,
    item_id INTEGER NOT NULL,
    PRIMARY KEY (day, key, item_id)
) WITHOUT ROWID;

-- Stories with an item published in the last day, with how many items and outlets told them.
CREATE VIEW stories_last_day AS
SELECT s.id,
       i.title,
       i.url,
       s.member_count AS items,
       (SELECT count(DISTINCT src.feed_id)
          FROM items m JOIN item_sources src ON src.item_id = m.id
         WHERE m.story_id = s.id) AS outlets,
       s.first_published_at,
       s.last_published_at
  FROM stories s JOIN items i ON i.id = s.representative_item_id
 WHERE s.last_published_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')
 ORDER BY outlets DESC, s.last_published_at DESC;
