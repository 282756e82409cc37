#!/usr/bin/env python3
"""Synthetic feed farm for the side-by-side benchmark (bench/run.sh).

    farm.py generate DIR --feeds N --items M --base-url URL --topics-dir DIR
    farm.py change DIR --fraction 0.05 --round K

`generate` writes DIR/www/fNNNNN.xml (a mix of RSS 2.0 and Atom, item text of news-article
size, about 1 item in 6 on US-Iraq relations, about 1 in 10 also syndicated into a second
feed with tracking parameters on its link), and the feed lists of every aggregator:
DIR/tigris.toml, DIR/sfeedrc, DIR/newsboat/urls, DIR/urls.txt.

`change` rewrites a fraction of the feeds (a different slice each round) with one new item
on top and the oldest dropped, as a publisher does; nginx then sends new ETag and
Last-Modified for those files only.

Output is deterministic for a given N, M and seed, so runs on different machines compare.
"""

import argparse
import json
import os
import random
from datetime import datetime, timedelta, timezone
from html import escape

# Ordinary news vocabulary; topic items add the US-Iraq words below.
GENERAL = """
government minister council economy market prices inflation budget election vote
parliament court ruling police city residents officials report statement company shares
investors bank interest rates growth jobs workers union strike weather storm flood rain
drought farmers harvest energy oil gas electricity grid solar wind plant climate emissions
hospital health patients doctors vaccine school students teachers university research
study scientists space mission launch satellite football match team coach season league
final cup players fans tournament record film festival music album artist concert museum
exhibition book author award technology software phone app users data privacy security
network internet company chief executive plan deal agreement talks summit leaders trade
tariffs exports imports shipping port airline flights travel tourism hotel housing rents
mortgage construction bridge road rail transport traffic accident fire rescue emergency
crime trial judge sentence prison lawyer investigation protest march demonstrators rights
""".split()
TOPIC = """
Iraq Iraqi Baghdad Washington US troops forces coalition Pentagon militia drone strike
Erbil Kurdistan Ain al-Asad base withdrawal embassy ambassador Sudani Kataib Hezbollah
Popular Mobilization CENTCOM ISIS airstrike security agreement sovereignty rocket attack
Anbar Mosul State Department sanctions Tehran-backed bilateral talks military advisers
""".split()
SOURCES = ["Wire", "Herald", "Times", "Post", "Tribune", "Gazette", "Courier", "Daily", "Monitor", "Review"]
TRACKING = "utm_source=rss&utm_medium=feed&utm_campaign=syndication&fbclid=IwAR{:08d}"

BASE_TIME = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)




def vocabulary():
    """The common words first, then 20,000 made-up ones, drawn with Zipf weights (s = 0.8):
    two unrelated items then share about 3.5 % of their content words, as unrelated news
    stories do. (A small vocabulary would make every item look like every other one to the
    story clustering.)"""
    rng = random.Random(20000)
    syllables = "ba ka ri to men sa lo de vi an or el us ter pro con al im ra ne ti mo pe li ston ver ham dor gan ly".split()
    made_up = set()
    while len(made_up) < 20000:
        made_up.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    made_up = sorted(made_up - set(GENERAL))
    rng.shuffle(made_up)
    words = GENERAL + made_up
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(words))]
    total, cumulative = 0.0, []
    for w in weights:
        total += w
        cumulative.append(total)
    return words, cumulative


WORDS, CUMULATIVE = vocabulary()


def sentence(rng, topic):
    n = rng.randint(12, 24)
    text = rng.choices(WORDS, cum_weights=CUMULATIVE, k=n)
    if topic:
        text = [rng.choice(TOPIC) if rng.random() < 0.15 else w for w in text]
    return " ".join(text).capitalize() + "."


def make_item(rng, feed, index, serial):
    """One story. About 1 in 6 is on the topic. Serial numbers are global, so items are unique."""
    topic = rng.random() < 1 / 6
    title = sentence(rng, topic)[:-1].split()[: rng.randint(6, 11)]
    if topic:
        title[0] = rng.choice(TOPIC)
    title = " ".join(title).capitalize()
    # About 500 bytes of text in 2-3 paragraphs, as a news feed's description carries.
    paragraphs = []
    while sum(len(p) for p in paragraphs) < rng.randint(260, 420):
        paragraphs.append(" ".join(sentence(rng, topic) for _ in range(2)))
    # Feeds post at their own pace: the newest item is up to a day old, items a few hours apart.
    published = BASE_TIME - timedelta(minutes=(feed * 37) % 1440 + index * (60 + feed % 300))
    return {
        "title": title,
        "link": f"https://news{feed % 97}.example/{feed}/story-{serial}",
        "guid": f"urn:farm:{feed}:{serial}",
        "html": "".join(f"<p>{escape(p)}</p>" for p in paragraphs),
        "published": published,
        "topic": topic,
    }


def syndicated(item, feed, serial):
    """The same story in a second feed: its own guid, the original link plus tracking params."""
    copy = dict(item)
    copy["guid"] = f"urn:farm:{feed}:syn:{serial}"
    copy["link"] = item["link"] + "?" + TRACKING.format(serial)
    return copy


def render_rss(feed, base_url, items):
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>',
        f"<title>Farm feed {feed} ({SOURCES[feed % len(SOURCES)]})</title>",
        f"<link>https://news{feed % 97}.example/{feed}/</link>",
        f"<description>Synthetic feed {feed}</description>",
    ]
    for it in items:
        out.append(
            "<item><title>{}</title><link>{}</link><guid isPermaLink=\"false\">{}</guid>"
            "<pubDate>{}</pubDate><author>desk@news.example (Desk)</author>"
            "<category>World</category><description>{}</description></item>".format(
                escape(it["title"]), escape(it["link"]), escape(it["guid"]),
                it["published"].strftime("%a, %d %b %Y %H:%M:%S +0000"), escape(it["html"]),
            )
        )
    out.append("</channel></rss>\n")
    return "\n".join(out)


def render_atom(feed, base_url, items):
    updated = max(it["published"] for it in items).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = [
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">',
        f"<title>Farm feed {feed} ({SOURCES[feed % len(SOURCES)]})</title>",
        f'<link href="https://news{feed % 97}.example/{feed}/"/>',
        f"<id>urn:farm:feed:{feed}</id><updated>{updated}</updated>",
    ]
    for it in items:
        out.append(
            "<entry><title>{}</title><link href=\"{}\"/><id>{}</id><updated>{}</updated>"
            "<author><name>Desk</name></author><category term=\"World\"/>"
            "<summary type=\"html\">{}</summary></entry>".format(
                escape(it["title"]), escape(it["link"]), escape(it["guid"]),
                it["published"].strftime("%Y-%m-%dT%H:%M:%SZ"), escape(it["html"]),
            )
        )
    out.append("</feed>\n")
    return "\n".join(out)


def feed_path(root, feed):
    return os.path.join(root, "www", f"f{feed:05d}.xml")


def write_feed(root, feed, items):
    # 3 in 5 feeds RSS 2.0, the rest Atom.
    render = render_rss if feed % 5 < 3 else render_atom
    with open(feed_path(root, feed), "w", encoding="utf-8") as f:
        f.write(render(feed, None, items))


def generate(args):
    rng = random.Random(args.seed)
    root = args.dir
    os.makedirs(os.path.join(root, "www"), exist_ok=True)
    n, m = args.feeds, args.items
    feeds = [[] for _ in range(n)]
    serial = 0
    for feed in range(n):
        own = m - len(feeds[feed])
        for index in range(own):
            item = make_item(rng, feed, index, serial)
            feeds[feed].append(item)
            # About 1 in 10 items also runs in another feed, with tracking parameters.
            if rng.random() < 0.1 and n > 1:
                other = rng.randrange(n - 1)
                other += other >= feed
                if len(feeds[other]) < m:
                    feeds[other].append(syndicated(item, other, serial))
            serial += 1
    for feed, items in enumerate(feeds):
        items.sort(key=lambda it: it["published"], reverse=True)
        write_feed(root, feed, items)
    with open(os.path.join(root, "state.json"), "w") as f:
        json.dump({"feeds": n, "items": m, "serial": serial, "seed": args.seed}, f)
    write_lists(root, n, args.base_url.rstrip("/"), args.topics_dir, args.jobs)


def write_lists(root, n, base, topics_dir, jobs):
    urls = [f"{base}/f{feed:05d}.xml" for feed in range(n)]
    with open(os.path.join(root, "urls.txt"), "w") as f:
        f.write("\n".join(urls) + "\n")
    # tigris: one loopback host, so the per-host cap is raised to the same parallelism.
    with open(os.path.join(root, "tigris.toml"), "w") as f:
        f.write(
            f'[storage]\ndatabase = "tigris/tigris.db"\n'
            f'[schedule]\ndefault = "0 0 1 1 *"\nmax_concurrent_fetches = {jobs}\n'
            f"[fetch]\nallow_private_networks = true\nmax_per_host = {jobs}\n"
            f'[classify]\ntopics_dir = "{os.path.abspath(topics_dir)}"\n'
        )
        for feed, url in enumerate(urls):
            f.write(f'[[feeds]]\nname = "farm {feed}"\nurl = "{url}"\n')
    # sfeed: the rc file is a shell script sourced by sfeed_update.
    with open(os.path.join(root, "sfeedrc"), "w") as f:
        f.write(f'sfeedpath="{os.path.abspath(root)}/sfeed/feeds"\nmaxjobs={jobs}\nfeeds() {{\n')
        for feed, url in enumerate(urls):
            f.write(f'\tfeed "farm{feed:05d}" "{url}"\n')
        f.write("}\n")
    os.makedirs(os.path.join(root, "newsboat"), exist_ok=True)
    with open(os.path.join(root, "newsboat", "urls"), "w") as f:
        f.write("\n".join(urls) + "\n")
    with open(os.path.join(root, "newsboat", "config"), "w") as f:
        f.write(f"reload-threads {jobs}\nshow-read-feeds yes\nmax-items 0\n")


def change(args):
    """Rewrites a slice of the feeds: one new item on top, the oldest dropped."""
    root = args.dir
    with open(os.path.join(root, "state.json")) as f:
        state = json.load(f)
    n = state["feeds"]
    count = max(1, round(n * args.fraction))
    # Each call changes the next slice, so repeated runs never change the same feeds twice.
    rounds = state.get("rounds", 0) if args.round is None else args.round
    state["rounds"] = rounds + 1
    start = (rounds * count) % n
    rng = random.Random(args.seed * 1000 + rounds)
    import xml.etree.ElementTree as ET
    for k in range(count):
        feed = (start + k) % n
        path = feed_path(root, feed)
        text = open(path, encoding="utf-8").read()
        serial = state["serial"]
        state["serial"] += 1
        item = make_item(rng, feed, 0, serial)
        item["published"] = BASE_TIME + timedelta(minutes=state["serial"])
        # Splice the new item in front and drop the last one: cheaper than re-rendering.
        if feed % 5 < 3:
            new = next(l for l in render_rss(feed, None, [item]).split("\n") if l.startswith("<item>"))
            head, rest = text.split("<item>", 1)
            rest = "<item>" + rest
            rest = rest[: rest.rfind("<item>")] + "</channel></rss>\n"
            text = head + new + "\n" + rest
        else:
            new = next(l for l in render_atom(feed, None, [item]).split("\n") if l.startswith("<entry>"))
            head, rest = text.split("<entry>", 1)
            rest = "<entry>" + rest
            rest = rest[: rest.rfind("<entry>")] + "</feed>\n"
            text = head + new + "\n" + rest
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        ET.fromstring(text.encode())  # a broken splice would make every aggregator fail
    with open(os.path.join(root, "state.json"), "w") as f:
        json.dump(state, f)
    print(f"changed {count} feeds from {start}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("dir")
    g.add_argument("--feeds", type=int, default=1000)
    g.add_argument("--items", type=int, default=50)
    g.add_argument("--base-url", required=True)
    g.add_argument("--topics-dir", required=True)
    g.add_argument("--jobs", type=int, default=16)
    g.add_argument("--seed", type=int, default=8)
    c = sub.add_parser("change")
    c.add_argument("dir")
    c.add_argument("--fraction", type=float, default=0.05)
    c.add_argument("--round", type=int)
    c.add_argument("--seed", type=int, default=8)
    args = p.parse_args()
    generate(args) if args.command == "generate" else change(args)


if __name__ == "__main__":
    main()
