-- tigris schema, version 8: no index takes a poll's rows at random places.
-- A transaction writes every index page that one of its rows lands on, and a page written by
-- many transactions goes to the WAL once for each. An index keyed by publication time, score
-- or a story's latest item takes a poll's rows all over its length, so each transaction of a
-- first poll rewrote most of its pages: with four such indexes the WAL took ~490 MB of writes
-- for a 213 MB database. The indexes below take rows in arrival order instead, or are gone.

-- No query of tigris used it: the feeds, search and retention sort and filter by
-- COALESCE(published_at, first_seen_at), which this index cannot serve.
DROP INDEX items_published_at;

-- Keyed by score, it took every new classification at a random place. What is asked of it
-- is the relevant items of a topic: those, in the order they were stored.
DROP INDEX classifications_topic_relevant;
CREATE INDEX classifications_relevant ON classifications (topic, item_id) WHERE relevant = 1;

-- Only `tigris stories` read it, and a scan of the stories is as quick at that size;
-- every item that joined a story moved its entry.
DROP INDEX stories_last_published;

-- A day's fingerprints, in the order they were stored: a poll's items land at the end of
-- their day, not at the place of their publication time.
DROP INDEX story_prints_published;
CREATE INDEX story_prints_day ON story_prints (substr(published_at, 1, 10), item_id);
