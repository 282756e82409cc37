#!/usr/bin/env python3
"""The do-it-yourself aggregator a Python user would write: a thread pool fetches every feed
(conditional GET with the stored ETag and Last-Modified), feedparser parses, one SQLite
connection stores entries keyed by (feed, entry id), one transaction per feed.

    feedparser_agg.py DB URLS_FILE --jobs N
"""

import argparse
import sqlite3
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed

import feedparser


def fetch_and_parse(url, etag, modified):
    request = urllib.request.Request(url, headers={"User-Agent": "diy-aggregator/1"})
    if etag:
        request.add_header("If-None-Match", etag)
    if modified:
        request.add_header("If-Modified-Since", modified)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            headers = response.headers
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return url, None, etag, modified
        raise
    parsed = feedparser.parse(body)
    return url, parsed, headers.get("ETag"), headers.get("Last-Modified")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("db")
    p.add_argument("urls")
    p.add_argument("--jobs", type=int, default=16)
    args = p.parse_args()
    db = sqlite3.connect(args.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(
        """CREATE TABLE IF NOT EXISTS feeds (url TEXT PRIMARY KEY, etag TEXT, modified TEXT, title TEXT);
           CREATE TABLE IF NOT EXISTS entries (feed TEXT, entry_id TEXT, link TEXT, title TEXT,
               summary TEXT, published TEXT, PRIMARY KEY (feed, entry_id));"""
    )
    urls = [u.strip() for u in open(args.urls) if u.strip()]
    known = {row[0]: row[1:] for row in db.execute("SELECT url, etag, modified FROM feeds")}
    new = not_modified = failed = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(fetch_and_parse, u, *known.get(u, (None, None))) for u in urls]
        for future in as_completed(futures):
            try:
                url, parsed, etag, modified = future.result()
            except Exception:
                failed += 1
                continue
            if parsed is None:
                not_modified += 1
                continue
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO feeds (url, etag, modified, title) VALUES (?, ?, ?, ?)",
                    (url, etag, modified, parsed.feed.get("title")),
                )
                for e in parsed.entries:
                    cur = db.execute(
                        "INSERT OR IGNORE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                        (url, e.get("id") or e.get("link"), e.get("link"), e.get("title"),
                         e.get("summary"), e.get("published") or e.get("updated")),
                    )
                    new += cur.rowcount
    print(f"{len(urls)} feeds: {new} new entries, {not_modified} not modified, {failed} failed")


if __name__ == "__main__":
    main()
