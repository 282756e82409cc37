#!/usr/bin/env python3
"""The store's floor: what SQLite alone takes to write the rows of a tigris cold poll.

Copies the rows of a tigris database (the benchmark farm's, after a cold poll) into a new
database with the same schema and settings, in the same shape of transactions as tigris' store
writer (~870 new items each, the cold poll's size; the full-text index filled in batches of
8,000 items, `store::full_text::BATCH`), with `INSERT ... SELECT` statements: no parsing, no
story search, no statement per row. That is a lower bound for the store writer's thread, which
SQLite lets only one connection at a time be. Each variant leaves one part of the schema out,
to show what that part costs.

    python3 bench/store_floor.py farm/tigris/tigris.db [--runs 3] [--results results.jsonl]

Prints a line a variant (median CPU seconds of the copy before the final checkpoint, then of
that checkpoint, which tigris runs on a thread of its own) and appends a row a variant to
--results for `bench/report.py`. The copy runs through `pysqlite3` (a recent SQLite, as a
wheel) when it is installed, else Python's `sqlite3` and the system's SQLite; not through the
SQLite built into tigris. The version is printed.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

try:
    # A recent SQLite as a wheel (bench/run.sh installs it into its virtualenv), nearer the
    # one built into tigris than the system's.
    import pysqlite3 as sqlite3
except ImportError:
    import sqlite3

PER_TRANSACTION = 870
FULL_TEXT_BATCH = 8000

# The secondary indexes that serve queries (tigris' and its users'). The others serve the
# foreign keys: without them SQLite scans the child table for each parent row a transaction
# inserts while a deferred constraint is pending (a new story names its item before the item
# row is written), and the copy takes minutes.
QUERY_INDEXES = {"items_canonical_url", "items_first_seen_at", "story_prints_day", "classifications_relevant"}

# name -> what it leaves out, for the table
VARIANTS = {
    "all": "nothing: the schema as tigris writes it",
    "no_full_text": "the full-text index (items_fts)",
    "no_query_indexes": "the indexes that serve queries: " + ", ".join(sorted(QUERY_INDEXES)),
    "no_content_html": "items.content_html (the HTML beside content_text)",
    "no_evidence": "classifications.evidence (the JSON of the strongest features)",
    "no_story_prints": "story_prints (the story fingerprints)",
}


def schema_of(source):
    """The source's schema, tables first, without FTS5's shadow tables and SQLite's own."""
    return [
        (name, sql)
        for name, sql in source.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
            " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            " AND name NOT IN ('items_fts_data', 'items_fts_idx', 'items_fts_docsize',"
            "                  'items_fts_config', 'items_fts_content')"
            " ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid"
        )
    ]


def columns(source, table):
    return [row[1] for row in source.execute(f"PRAGMA table_info({table})")]


def copy(source_path, variant, folder):
    """One copy into a new database in `folder`, removed again (with its WAL) once measured."""
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    path = os.path.join(folder, f"{variant}.db")
    db = sqlite3.connect(path, isolation_level=None)
    # tigris' settings (store.rs `Store::open`); its own checkpoints run on another thread, so
    # SQLite's automatic ones are off here and the final one is timed apart.
    db.execute("PRAGMA page_size = 16384")
    db.execute("PRAGMA auto_vacuum = INCREMENTAL")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA cache_size = -8192")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    for name, sql in schema_of(source):
        if variant == "no_query_indexes" and name in QUERY_INDEXES:
            continue
        db.execute(sql)
    for key, value in source.execute("SELECT k, v FROM items_fts_config WHERE k <> 'version'"):
        db.execute("INSERT INTO items_fts (items_fts, rank) VALUES (?, ?)", (key, value))
    db.execute("ATTACH ? AS src", (f"file:{source_path}?mode=ro",))
    db.execute("INSERT INTO feeds SELECT * FROM src.feeds")

    items = columns(source, "items")
    items_select = ", ".join("NULL" if c == "content_html" and variant == "no_content_html" else c for c in items)
    classifications = columns(source, "classifications")
    classifications_select = ", ".join(
        "'[]'" if c == "evidence" and variant == "no_evidence" else c for c in classifications
    )
    statements = [
        "INSERT INTO stories SELECT * FROM src.stories WHERE representative_item_id BETWEEN ?1 AND ?2",
        f"INSERT INTO items SELECT {items_select} FROM src.items WHERE id BETWEEN ?1 AND ?2",
        f"INSERT INTO classifications SELECT {classifications_select} FROM src.classifications"
        " WHERE item_id BETWEEN ?1 AND ?2",
        "INSERT INTO item_sources SELECT * FROM src.item_sources WHERE item_id BETWEEN ?1 AND ?2",
    ]
    if variant != "no_story_prints":
        statements.append(
            "INSERT INTO story_prints SELECT * FROM src.story_prints WHERE item_id BETWEEN ?1 AND ?2"
        )
    index = "INSERT INTO items_fts (rowid, title, content_text) SELECT id, title, content_text FROM items WHERE id > ?"
    ids = [row[0] for row in source.execute("SELECT id FROM items ORDER BY id")]

    started, cpu = time.perf_counter(), time.process_time()
    indexed = 0
    for at in range(0, len(ids), PER_TRANSACTION):
        low, high = ids[at], ids[min(at + PER_TRANSACTION, len(ids)) - 1]
        db.execute("BEGIN")
        db.execute("PRAGMA defer_foreign_keys = ON")
        for sql in statements:
            db.execute(sql, (low, high))
        if variant != "no_full_text" and high - indexed >= FULL_TEXT_BATCH:
            db.execute(index, (indexed,))
            indexed = high
        db.execute("COMMIT")
    if variant != "no_full_text":
        db.execute(index, (indexed,))
    copied_cpu = time.process_time() - cpu
    checkpoint_cpu = time.process_time()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    row = {
        "copy_cpu_s": copied_cpu,
        "checkpoint_cpu_s": time.process_time() - checkpoint_cpu,
        "wall_s": time.perf_counter() - started,
        "database_mb": os.path.getsize(path) / 1e6,
        "items": len(ids),
    }
    db.close()
    source.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database", help="a tigris database after a cold poll")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--results", help="append a JSON row a variant to this file")
    args = parser.parse_args()
    if not os.path.exists(args.database):
        parser.error(f"no database at {args.database}")
    print(f"store floor: SQLite {sqlite3.sqlite_version} ({sqlite3.__name__}), rows of {args.database}")
    with tempfile.TemporaryDirectory() as folder:
        for variant, leaves_out in VARIANTS.items():
            try:
                runs = [copy(args.database, variant, folder) for _ in range(args.runs)]
            except sqlite3.Error as e:
                parser.error(f"{args.database} is not a tigris database after a poll: {e}")
            row = {
                key: statistics.median(r[key] for r in runs)
                for key in ("copy_cpu_s", "checkpoint_cpu_s", "wall_s", "database_mb")
            }
            row.update(
                name=f"floor/{variant}",
                leaves_out=leaves_out,
                items=runs[0]["items"],
                runs=args.runs,
                sqlite=sqlite3.sqlite_version,
            )
            print(
                f"floor/{variant:<16} copy {row['copy_cpu_s']:.2f} s CPU, checkpoint "
                f"{row['checkpoint_cpu_s']:.2f} s, {row['database_mb']:.0f} MB"
            )
            if args.results:
                with open(args.results, "a") as out:
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
