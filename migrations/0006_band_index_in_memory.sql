-- tigris schema, version 6: the story band index is held in memory.
-- `story_bands` held 32 rows per item under random keys, so storing a feed's 50 new items
-- dirtied ~1,600 index pages and wrote them all to the WAL (~6 MB a feed). tigris now keeps
-- the band index in memory and rebuilds a publication day of it from the signatures in
-- `story_prints` the first time it needs that day; this index finds a day's fingerprints.
CREATE INDEX story_prints_published ON story_prints (published_at);
DROP TABLE story_bands;
