-- tigris schema, version 7: new items enter the full-text index once per transaction.
-- The trigger that indexed each inserted item made FTS5 write its pending index to disk at
-- every later statement of the transaction (SQLite opens a statement savepoint for each, and
-- FTS5 flushes on a savepoint): a feed's 50 new items became ~50 tiny index segments that
-- FTS5 then merged again. tigris now indexes the items a transaction inserted with one
-- statement just before it commits (`INSERT INTO items_fts ... SELECT ... FROM items`).
-- Updates and deletes keep their triggers. A program that inserts into `items` itself must
-- now index the rows it inserts in the same way.
DROP TRIGGER items_fts_insert;
