-- tigris schema, version 2: the topic engine's output.
-- `reasons` becomes `evidence` (JSON objects instead of strings), and relevant items carry
-- their subtopics. Classifications by the earlier classifier are rescored at the next start.
ALTER TABLE classifications RENAME COLUMN reasons TO evidence;
ALTER TABLE classifications ADD COLUMN subtopics TEXT NOT NULL DEFAULT '[]';

DROP VIEW relevant_items;
CREATE VIEW relevant_items AS
SELECT c.topic,
       c.score,
       c.subtopics,
       i.id,
       i.title,
       i.url,
       COALESCE(i.published_at, i.first_seen_at) AS published_at
  FROM classifications c JOIN items i ON i.id = c.item_id
 WHERE c.relevant = 1
 ORDER BY COALESCE(i.published_at, i.first_seen_at) DESC, c.score DESC;
