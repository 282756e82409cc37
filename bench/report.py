#!/usr/bin/env python3
"""Turns bench/run.sh's results (one JSON line per measurement) into the BENCHMARKS.md table,
and checks tigris' cold poll against the committed table.

    report.py write|print|check RESULTS BENCHMARKS.md --feeds N --items M --jobs J --runs R --farm-bytes B

`check` fails (exit 1) when tigris' cold-poll median is more than 25 % above the one recorded
in BENCHMARKS.md for the same machine and farm, once both are put at the machine's speed of the
hour (`REFERENCES`); on another machine, or with no recorded figure, it says so and passes.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from datetime import datetime, timezone

PEERS = ["sfeed", "newsboat", "feedparser"]
SCENARIOS = [
    ("cold", "1. cold poll into an empty store"),
    ("unchanged", "2. re-poll, nothing changed"),
    ("changed5", "3. re-poll, 5 % of the feeds changed"),
]
PEER_NAMES = {
    "tigris": "tigris",
    "sfeed": "sfeed_update (sfeed 1.7, C)",
    "newsboat": "newsboat -x reload (2.21)",
    "feedparser": "Python feedparser + SQLite",
}
TOLERANCE = 1.25
# Work measured in the same run that tigris' code does not change: (key in the regression line,
# result row, how its figure is read). The same machine runs a cold poll 10-30 % faster in one
# hour than in another (its neighbours' load), and these move with it: the check compares
# tigris' cold poll with the recorded one times the median of their ratios (now / then), so a
# slow hour does not read as a regression, nor a fast one hide it. feed-rs alone is a crate's
# parse on one core; the store's floor is SQLite's writes and the kernel's I/O; sfeed's cold
# poll is a peer's whole run (with PEERS=1). A new version of one of them moves its ratio, and
# a change to tigris' schema moves the floor's (it writes tigris' tables); the median of three
# keeps one such from moving the limit (of two, without the peers, it moves it half as much).
REFERENCES = [
    ("feedrs_cpu_s", "stage/feed-rs", lambda r: r["cpu_s"]),
    ("floor_cpu_s", "floor/all", lambda r: r["copy_cpu_s"] + r["checkpoint_cpu_s"]),
    ("sfeed_wall_s", "cold/sfeed", lambda r: r["wall_s"]),
]
# benches/floors.rs's stages, in the order a poll runs them.
STAGES = [
    ("HTTP", "reqwest alone: every feed fetched and its body read"),
    ("feed-rs", "feed-rs alone, with its own date parsing"),
    ("parse", "tigris' parse stage: decoding, repairs, feed-rs, HTML read as text"),
    ("dedup keys", "normalized links and the entries' keys"),
    ("classify", "the topic classification and the story fingerprint"),
]


def machine():
    cpu = "unknown CPU"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    cores = os.cpu_count()
    return {
        "key": f"{cpu} / {cores} cores / {round(mem_kb / 1024 / 1024)} GB",
        "cpu": cpu,
        "cores": cores,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
    }


def load(results):
    rows = {}
    for line in open(results):
        row = json.loads(line)
        rows[row["name"]] = row
    return rows


def fmt(row, key, digits=2):
    return f"{row[key]:.{digits}f}" if row and key in row else "-"


def table(rows, args, m):
    farm = f"{args.feeds} feeds x {args.items} items ({args.farm_bytes / 1e6:.0f} MB of XML)"
    out = [
        "# Benchmarks",
        "",
        "tigris side by side with the aggregators a user would pick instead, on one synthetic "
        "feed farm served by nginx on loopback, measured in the same run on the same machine. "
        "Rerun with `bash bench/run.sh` (see README, \"Benchmarks\").",
        "",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB memory, Linux {m['kernel']}",
        f"- Farm: {farm}; RSS 2.0 and Atom, about 1 item in 6 on the topic, about 1 in 10 "
        "syndicated into a second feed with tracking parameters (`bench/farm.py`)",
        f"- Every aggregator fetches {args.jobs} feeds at a time; each figure is the median of "
        f"{args.runs} runs after a warm-up (`bench/measure.py`). CPU is user + system time of the "
        "command and its children; peak RSS is the largest single process (sfeed runs a shell, "
        "curl and sfeed per feed: its figure is its biggest process, not their sum).",
        "- Load: the 1-minute load average when each measurement ended; other work on the "
        "machine makes wall times noisy.",
        "",
        "Commands, each with its store emptied before a cold run:",
        "",
        "    tigris --config farm/tigris.toml poll",
        "    sfeed_update farm/sfeedrc                      # maxjobs = %d" % args.jobs,
        "    newsboat -x reload -u farm/newsboat/urls -c cache.db -C farm/newsboat/config  # reload-threads %d" % args.jobs,
        "    python bench/peers/feedparser_agg.py feedparser.db farm/urls.txt --jobs %d" % args.jobs,
        "",
        "## Polling",
        "",
        "| scenario | aggregator | wall (s) | CPU (s) | peak RSS (MB) | tigris / this (wall) | load |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for scenario, title in SCENARIOS:
        ours = rows.get(f"{scenario}/tigris")
        for agg in ["tigris"] + PEERS:
            row = rows.get(f"{scenario}/{agg}")
            if not row:
                continue
            ratio = "-" if agg == "tigris" or not ours else f"{ours['wall_s'] / row['wall_s']:.2f}"
            out.append(
                f"| {title} | {PEER_NAMES[agg]} | {fmt(row, 'wall_s', 3)} | {fmt(row, 'cpu_s')} "
                f"| {fmt(row, 'peak_rss_mb', 0)} | {ratio} | {row.get('load', '-')} |"
            )
    serve = [rows.get("serve/tigris"), rows.get("serve/tigris-idle"), rows.get("serve/nginx")]
    if serve[0]:
        out += [
            "",
            "## Serving: `/feed.atom` under load, while a poll runs and with none",
            "",
            "`wrk -t2 -c64 -d10s` against `tigris run` while it re-polls the whole farm (every "
            "feed changed), against `tigris run` again with no poll due (serving alone), and against "
            "nginx serving the same document as a static file (a static server for reference; no aggregator in the list "
            "serves a feed itself). wrk shares the cores.",
            "",
            "| server | requests/s | mean latency | kB a response | load |",
            "|---|---:|---:|---:|---:|",
        ]
        names = ("tigris run (polling meanwhile)", "tigris run (no poll due)", "nginx, static file")
        for name, row in zip(names, serve):
            if row:
                size = f"{row['bytes_per_response'] / 1000:.1f}" if "bytes_per_response" in row else "-"
                out.append(f"| {name} | {row['rps']:.0f} | {row['latency']} | {size} | {row['load']} |")
    sizes = sorted({int(k.split("/")[0][5:]) for k in rows if k.startswith("scale")})
    if sizes:
        aggs = [a for a in ["tigris"] + PEERS if any(f"scale{n}/{a}" in rows for n in sizes)]
        out += [
            "",
            "## Scale: cold poll by farm size",
            "",
            "Wall median in seconds (peak RSS in MB); " + str(args.items) + " items a feed.",
            "",
            "| feeds | " + " | ".join(PEER_NAMES[a] for a in aggs) + " |",
            "|---:|" + "---:|" * len(aggs),
        ]
        for n in sizes:
            cells = []
            for a in aggs:
                r = rows.get(f"scale{n}/{a}")
                cells.append(f"{r['wall_s']:.2f} ({r['peak_rss_mb']:.0f})" if r else "-")
            out.append(f"| {n} | " + " | ".join(cells) + " |")
    floor = [row for name, row in rows.items() if name.startswith("floor/")]
    if floor:
        whole = rows.get("floor/all")
        out += [
            "",
            "## The store's floor: SQLite alone writing a cold poll's rows",
            "",
            "`bench/store_floor.py` copies the rows of a cold poll's database into an empty one with "
            "the same schema and settings, in transactions of the cold poll's size (~870 items) with "
            "the full-text index filled in batches of 8,000, by `INSERT ... SELECT`: no parsing, no "
            "story search, no statement a row. SQLite lets one connection write at a time, so this is "
            "the least the store writer's thread could take; its checkpoint runs on another thread in "
            f"tigris. SQLite {floor[0]['sqlite']} (through Python; tigris builds in its own), "
            f"{floor[0]['items']} items, CPU medians of {floor[0]['runs']} run(s). Each line leaves one "
            "part of the schema out; its cost is the difference from the first line.",
            "",
            "| left out | copy, CPU (s) | its checkpoint, CPU (s) | database (MB) | the part's copy cost (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for row in floor:
            cost = "-" if row is whole or not whole else f"{whole['copy_cpu_s'] - row['copy_cpu_s']:.2f}"
            out.append(
                f"| {row['leaves_out']} | {row['copy_cpu_s']:.2f} | {row['checkpoint_cpu_s']:.2f} "
                f"| {row['database_mb']:.0f} | {cost} |"
            )
    stages = {row["stage"]: row for name, row in rows.items() if name.startswith("stage/")}
    if stages:
        first = next(iter(stages.values()))
        out += [
            "",
            "## The rest of a cold poll: each stage alone",
            "",
            "`benches/floors.rs` runs each stage outside the store over the same farm's documents, "
            "with nothing else running: the last four on one thread (its CPU), HTTP on a "
            f"multi-thread runtime, {first['jobs']} fetches at a time (the process's CPU). "
            f"{first['documents']} documents, {first['items']} items, CPU medians of "
            f"{first['runs']} run(s).",
            "",
            "| stage | what it does | CPU (s) | per item (µs) |",
            "|---|---|---:|---:|",
        ]
        for key, what in STAGES:
            row = stages.get(key)
            if row:
                out.append(
                    f"| {key} | {what} | {row['cpu_s']:.3f} | {row['cpu_s'] * 1e6 / row['items']:.1f} |"
                )
        whole = rows.get("floor/all")
        cold = rows.get("cold/tigris")
        if whole and cold and "HTTP" in stages and "feed-rs" in stages:
            least = (
                stages["HTTP"]["cpu_s"]
                + stages["feed-rs"]["cpu_s"]
                + whole["copy_cpu_s"]
                + whole["checkpoint_cpu_s"]
            )
            out += [
                "",
                f"The crates' and SQLite's part alone (HTTP, feed-rs, the store's copy and its "
                f"checkpoint) is {least:.2f} s of CPU: {least / m['cores']:.2f} s on {m['cores']} "
                f"cores at best. tigris' cold poll took {cold['cpu_s']:.2f} s of CPU; the rest is "
                "tigris' own work (the stages above beyond feed-rs, the story search, the store's "
                "lookups and statements) and the threads' competition for the cores and caches.",
            ]
    cold = rows.get("cold/tigris")
    if cold:
        out += [
            "",
            "The regression check in `bench/run.sh` compares tigris' cold poll with this line "
            "(same machine and farm only), scaled by the median ratio of this run's reference "
            "figures (feed-rs alone, the store's floor, sfeed's cold poll) to the ones recorded "
            "here:",
            "",
            f"<!-- regression: machine={m['key']}; farm={args.feeds}x{args.items}x{args.jobs}; "
            f"cold_wall_s={cold['wall_s']:.3f}{reference_fields(rows)} -->",
        ]
    return "\n".join(out) + "\n"


def references(rows):
    """The reference figures this run measured, by their key in the regression line."""
    return {key: read(rows[name]) for key, name, read in REFERENCES if name in rows}


def reference_fields(rows):
    return "".join(f"; {key}={value:.3f}" for key, value in references(rows).items())


def check(rows, args, m, path):
    cold = rows.get("cold/tigris")
    if not cold or not os.path.exists(path):
        print("regression check: nothing to compare")
        return 0
    found = re.search(r"<!-- regression: machine=(.*?); farm=([^;\s]+); (cold_wall_s=.*?) -->", open(path).read())
    farm = f"{args.feeds}x{args.items}x{args.jobs}"
    if not found:
        print("regression check: no recorded figure in", path)
        return 0
    if found.group(1) != m["key"] or found.group(2) != farm:
        print(f"regression check: recorded on {found.group(1)} ({found.group(2)}), this is {m['key']} ({farm}); skipped")
        return 0
    recorded = {}
    for field in found.group(3).split(";"):
        key, _, value = field.strip().partition("=")
        try:
            recorded[key] = float(value)
        except ValueError:
            print(f"regression check: {path}: the regression line's {key!r} is not a number ({value!r})")
            return 1
    then, now = recorded["cold_wall_s"], cold["wall_s"]
    ratios = []
    for key, value in references(rows).items():
        if recorded.get(key, 0) > 0:
            ratios.append(value / recorded[key])
            print(f"regression check: {key} {value:.3f} against {recorded[key]:.3f} recorded ({ratios[-1]:.2f}x)")
    # With no reference in both (a run without the floors and peers, or a line written before
    # they were recorded), the machine is taken to run at the recorded speed.
    speed = statistics.median(ratios) if ratios else 1.0
    expected = then * speed
    verdict = "ok" if now <= expected * TOLERANCE else "REGRESSION"
    print(
        f"regression check: tigris cold poll {now:.3f} s against {then:.3f} s recorded "
        f"({now / then:.2f}x); the machine runs the references at {speed:.2f}x their recorded "
        f"time ({len(ratios)} of {len(REFERENCES)} measured), so {expected:.3f} s is this hour's "
        f"recorded figure: {now / expected:.2f}x, limit {TOLERANCE}x: {verdict}"
    )
    return 0 if verdict == "ok" else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["write", "print", "check"])
    p.add_argument("results")
    p.add_argument("benchmarks")
    p.add_argument("--feeds", type=int, required=True)
    p.add_argument("--items", type=int, required=True)
    p.add_argument("--jobs", type=int, required=True)
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--farm-bytes", type=int, required=True)
    args = p.parse_args()
    rows, m = load(args.results), machine()
    if args.command == "check":
        sys.exit(check(rows, args, m, args.benchmarks))
    text = table(rows, args, m)
    if args.command == "write":
        # Hand-written analysis below the marker survives a rewrite of the tables.
        marker = "<!-- notes: kept by bench/report.py -->"
        if os.path.exists(args.benchmarks):
            old = open(args.benchmarks).read()
            if marker in old:
                text += "\n" + marker + old.split(marker, 1)[1]
        open(args.benchmarks, "w").write(text)
        print("written", args.benchmarks)
    else:
        print(text)


if __name__ == "__main__":
    main()
