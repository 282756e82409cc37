-- tigris schema, version 10: new items enter the full-text index in batches.
-- tigris indexes new items once thousands are waiting (or when it has nothing else to store,
-- and before `tigris poll` ends), not at every store transaction: FTS5's cost per item falls
-- with the batch (one segment, one sort of its terms, no merging of many small segments), from
-- ~1.4 s to ~0.65 s of CPU for the benchmark farm's 47,646 items in batches of ~380 against
-- 8,000. The items not yet indexed are those whose id is above the largest id the index
-- holds (`items_fts_docsize`), which every writer can read, so a `tigris poll` beside the
-- daemon, a crash, or a script that inserts items without indexing them leaves nothing behind.
--
-- The triggers act only on indexed items: deleting or editing an item that is waiting must not
-- take from the index what was never in it (FTS5 would subtract its terms anyway and corrupt
-- the index), and the batch indexes its current text. Deleting the indexed item with the
-- largest id lowers that id, which keeps the rule true: every item at or below it is indexed.
DROP TRIGGER items_fts_delete;
CREATE TRIGGER items_fts_delete AFTER DELETE ON items
WHEN old.id <= (SELECT coalesce(max(id), 0) FROM items_fts_docsize) BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, content_text)
        VALUES ('delete', old.id, old.title, old.content_text);
END;
DROP TRIGGER items_fts_update;
CREATE TRIGGER items_fts_update AFTER UPDATE OF title, content_text ON items
WHEN old.id <= (SELECT coalesce(max(id), 0) FROM items_fts_docsize) BEGIN
    INSERT INTO items_fts (items_fts, rowid, title, content_text)
        VALUES ('delete', old.id, old.title, old.content_text);
    INSERT INTO items_fts (rowid, title, content_text) VALUES (new.id, new.title, new.content_text);
END;
-- A batch's terms are held in memory until it is written as one segment: FTS5 writes a segment
-- whenever its pending terms pass 'hashsize' (1 MiB by default, ~500 of the farm's items).
-- 16 MiB holds a batch of 8,000 (measured: ~7 MB more peak memory while a batch is indexed).
INSERT INTO items_fts (items_fts, rank) VALUES ('hashsize', 16777216);
