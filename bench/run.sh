#!/usr/bin/env bash
# Side-by-side benchmark: tigris against the aggregators a user would pick instead (sfeed,
# newsboat, a feedparser script), on one synthetic feed farm served by nginx on loopback, in
# the same run on the same machine. Writes the results table to BENCHMARKS.md.
#
#   bash bench/run.sh                 # everything: scenarios 1-4, the scale series, the check
#   FEEDS=200 RUNS=3 bash bench/run.sh    # a quicker, smaller run
#
# Settings (environment): FEEDS (1000), ITEMS (50), JOBS (parallel fetches of every
# aggregator, 16), RUNS (measured runs per scenario, 5, after one warm-up), PEERS (1: measure
# the peers too), SERVE (1: scenario 4), SCALE ("100 1000 5000": cold poll at these farm sizes;
# empty to skip), SCALE_PEERS (1: the scale series for the peers too), FLOOR (1: the store's
# floor, `bench/store_floor.py`, on a cold poll's database, and each stage outside the store
# alone, `benches/floors.rs`), CHECK (1: fail when
# tigris' cold poll is more than 25 % slower than the committed table on this machine, at the
# machine's speed of the hour as the floors and sfeed measure it: `bench/report.py`),
# WRITE (1: rewrite BENCHMARKS.md).
#
# Installs what it needs from the distribution's packages (nginx, sfeed, newsboat, wrk,
# hyperfine) and feedparser into a virtualenv under target/. Everything generated stays under
# target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
# The peers below get a HOME of their own; cargo and rustup keep finding theirs.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup} CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
FEEDS=${FEEDS:-1000}
ITEMS=${ITEMS:-50}
JOBS=${JOBS:-16}
RUNS=${RUNS:-5}
PEERS=${PEERS:-1}
SERVE=${SERVE:-1}
SCALE=${SCALE-100 1000 5000}
SCALE_PEERS=${SCALE_PEERS:-1}
FLOOR=${FLOOR:-1}
CHECK=${CHECK:-1}
WRITE=${WRITE:-1}

# --- tools -------------------------------------------------------------------------------
need=()
for tool in nginx:nginx sfeed_update:sfeed newsboat:newsboat wrk:wrk curl:curl; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if ((${#need[@]})); then
    echo "installing ${need[*]}"
    apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null
fi
venv=$repo/target/bench-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import feedparser, pysqlite3' 2>/dev/null; then
    python3 -m venv "$venv"
    # pysqlite3-binary: a recent SQLite for the store's floor (bench/store_floor.py).
    "$venv/bin/pip" install -q feedparser pysqlite3-binary
fi
cargo build --release --quiet
tigris=$repo/target/release/tigris

work=$repo/target/bench
rm -rf "$work"
mkdir -p "$work/nginx-tmp"
results=$work/results.jsonl
: >"$results"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the farm and its web server ---------------------------------------------------------
port=$(free_port)
base=http://127.0.0.1:$port
user_line=""
[ "$(id -u)" = 0 ] && user_line="user root;"
# One nginx serves every farm: the folder of the farm being measured is linked as its root.
sed -e "s#@ROOT@#$work/www#; s#@PORT@#$port#; s#@WORK@#$work#g; s#@USER@#$user_line#" \
    bench/nginx.conf.in >"$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
serve_farm() { ln -sfn "$1/www" "$work/www"; }

make_farm() { # feeds -> folder
    local dir=$work/farm-$1
    python3 bench/farm.py generate "$dir" --feeds "$1" --items "$ITEMS" --base-url "$base/" \
        --topics-dir "$repo/config/topics" --jobs "$JOBS" >/dev/null
    echo "$dir"
}
farm=$(make_farm "$FEEDS")
serve_farm "$farm"
for _ in $(seq 1 50); do curl -sf -o /dev/null "$base/f00000.xml" && break; sleep 0.1; done
curl -sf -o /dev/null "$base/f00000.xml" || { cat "$work/nginx-error.log"; exit 1; }
farm_bytes=$(du -sb "$farm/www" | cut -f1)
echo "farm: $FEEDS feeds x $ITEMS items, $((farm_bytes / 1000000)) MB, served by nginx at $base"

measure() { python3 bench/measure.py "$results" "$@"; }

# Each aggregator: how to empty its store and how to poll once.
tigris_reset() { echo "rm -rf $1/tigris"; }
tigris_poll() { echo "$tigris --config $1/tigris.toml poll"; }
sfeed_reset() { echo "rm -rf $1/sfeed"; }
sfeed_poll() { echo "sfeed_update $1/sfeedrc"; }
newsboat_reset() { echo "rm -f $1/newsboat/cache.db $1/newsboat/cache.db.lock"; }
newsboat_poll() { echo "newsboat -x reload -u $1/newsboat/urls -c $1/newsboat/cache.db -C $1/newsboat/config"; }
feedparser_reset() { echo "rm -f $1/feedparser.db $1/feedparser.db-wal $1/feedparser.db-shm"; }
feedparser_poll() { echo "$venv/bin/python bench/peers/feedparser_agg.py $1/feedparser.db $1/urls.txt --jobs $JOBS"; }

aggregators=(tigris)
[ "$PEERS" = 1 ] && aggregators+=(sfeed newsboat feedparser)

for agg in "${aggregators[@]}"; do
    reset=$("${agg}_reset" "$farm")
    # shellcheck disable=SC2046
    poll=$("${agg}_poll" "$farm")
    log=$work/$agg.log
    # sfeed keeps its files where HOME says when not told otherwise; newsboat wants a HOME.
    export HOME=$work/home-$agg
    mkdir -p "$HOME"
    # (1) cold poll into an empty store.
    # shellcheck disable=SC2086
    measure "cold/$agg" --runs "$RUNS" --prepare "$reset" --log "$log" -- $poll
    # (2) re-poll, nothing changed (the store is the last cold run's).
    # shellcheck disable=SC2086
    measure "unchanged/$agg" --runs "$RUNS" --log "$log" -- $poll
    # (3) re-poll with 5 % of the feeds changed (a new slice before each run).
    # shellcheck disable=SC2086
    measure "changed5/$agg" --runs "$RUNS" --prepare "python3 bench/farm.py change $farm" --log "$log" -- $poll
done
export HOME=$work/home
mkdir -p "$HOME"

# --- (4) serving /feed.atom under load while a poll runs -----------------------------------
if [ "$SERVE" = 1 ]; then
    # Starts `tigris run` on the serving store, logging to $1, and waits until it listens.
    start_serving() {
        RUST_LOG=info "$tigris" --config "$work/serve/tigris.toml" run 2>"$1" &
        serve_pid=$!
        pids+=("$serve_pid")
        for _ in $(seq 1 100); do grep -q "listening on" "$1" && break; sleep 0.1; done
    }
    serve_port=$(free_port)
    mkdir -p "$work/serve"
    sed -e "s#database = \"tigris/tigris.db\"#database = \"$work/serve/tigris.db\"#" "$farm/tigris.toml" >"$work/serve/tigris.toml"
    printf '[server]\nlisten = "127.0.0.1:%s"\n' "$serve_port" >>"$work/serve/tigris.toml"
    # A populated store first (a cold poll), so the feed has items; then `run` re-polls the
    # farm at start (the feeds are due) while wrk asks for the merged feed.
    "$tigris" --config "$work/serve/tigris.toml" poll >/dev/null
    python3 bench/farm.py change "$farm" --fraction 1.0 >/dev/null
    sqlite3_due="UPDATE feeds SET next_check_at = '2000-01-01T00:00:00.000Z'"
    "$venv/bin/python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()" \
        "$work/serve/tigris.db" "$sqlite3_due"
    start_serving "$work/serve/run.log"
    url=http://127.0.0.1:$serve_port/feed.atom
    wrk -t2 -c64 -d10s "$url" >"$work/serve/wrk-tigris.txt"
    polled=$(grep -c '"fetched"\|fetched' "$work/serve/run.log" || true)
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    # The same load with no poll under way (every feed was just polled, none is due): what
    # serving alone costs, beside nginx's.
    start_serving "$work/serve/run-idle.log"
    wrk -t2 -c64 -d10s "$url" >"$work/serve/wrk-tigris-idle.txt"
    # The same document for nginx, taken while tigris still serves it (once it is stopped
    # there is nothing to take, and nginx would serve an empty file).
    curl -sf "$url" >"$farm/www/merged.atom" || true
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
    if [ ! -s "$farm/www/merged.atom" ]; then
        echo "bench: $url gave no document (see $work/serve/run-idle.log); nginx would serve nothing" >&2
        exit 1
    fi
    # The same load on nginx serving that document as a static file, for reference.
    wrk -t2 -c64 -d10s "$base/merged.atom" >"$work/serve/wrk-nginx.txt"
    python3 - "$results" "$work/serve" "$polled" <<'PY'
import json, re, sys
results, folder, polled = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name in ("tigris", "tigris-idle", "nginx"):
    text = open(f"{folder}/wrk-{name}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = re.search(r"Latency\s+([\d.]+\w+)", text).group(1)
    # "N requests in 10.00s, 212.72MB read": what a response carried, headers included (wrk
    # counts in powers of 1,024).
    count, size, unit = re.search(r"(\d+) requests in \S+, ([\d.]+)(\w+) read", text).groups()
    scale = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[unit]
    per_response = float(size) * scale / int(count)
    row = {"name": f"serve/{name}", "rps": rps, "latency": lat, "feeds_polled_meanwhile": polled,
           "bytes_per_response": round(per_response), "load": open("/proc/loadavg").read().split()[0]}
    open(results, "a").write(json.dumps(row) + "\n")
    print(f"serve/{name:<34} {rps:.0f} req/s, mean latency {lat}, {per_response / 1000:.1f} kB a response")
PY
fi

# --- the store's floor: SQLite alone writing a cold poll's rows -----------------------------
if [ "$FLOOR" = 1 ]; then
    mkdir -p "$work/floor"
    sed -e "s#database = \"tigris/tigris.db\"#database = \"$work/floor/tigris.db\"#" "$farm/tigris.toml" >"$work/floor/tigris.toml"
    "$tigris" --config "$work/floor/tigris.toml" poll >/dev/null
    "$venv/bin/python" bench/store_floor.py "$work/floor/tigris.db" --runs "$RUNS" --results "$results"
    rm -rf "$work/floor"
    # The stages outside the store, each alone, on the same farm (benches/floors.rs).
    FLOORS_FARM=$farm FLOORS_RUNS=$RUNS FLOORS_JOBS=$JOBS FLOORS_RESULTS=$results \
        cargo bench --quiet --bench floors
fi

# --- scale: the same cold poll at other farm sizes ------------------------------------------
for n in $SCALE; do
    if [ "$n" = "$FEEDS" ]; then
        # Already measured above; the row is copied under its scale name.
        python3 - "$results" "$n" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in [r for r in rows if r["name"].startswith("cold/")]:
    r = dict(r, name=r["name"].replace("cold/", f"scale{sys.argv[2]}/"))
    open(sys.argv[1], "a").write(json.dumps(r) + "\n")
PY
        continue
    fi
    scale_farm=$(make_farm "$n")
    serve_farm "$scale_farm"
    scale_aggs=(tigris)
    [ "$PEERS" = 1 ] && [ "$SCALE_PEERS" = 1 ] && scale_aggs+=(sfeed newsboat feedparser)
    for agg in "${scale_aggs[@]}"; do
        export HOME=$work/home-$agg
        runs=$RUNS
        [ "$n" -gt "$FEEDS" ] && runs=3
        # shellcheck disable=SC2046
        measure "scale$n/$agg" --runs "$runs" --prepare "$("${agg}_reset" "$scale_farm")" \
            --log "$work/scale-$agg.log" -- $("${agg}_poll" "$scale_farm")
    done
    rm -rf "$scale_farm"
done
serve_farm "$farm"

# --- the table ---------------------------------------------------------------------------
args=(--feeds "$FEEDS" --items "$ITEMS" --jobs "$JOBS" --runs "$RUNS" --farm-bytes "$farm_bytes")
[ "$CHECK" = 1 ] && python3 bench/report.py check "$results" BENCHMARKS.md "${args[@]}"
[ "$WRITE" = 1 ] && python3 bench/report.py write "$results" BENCHMARKS.md "${args[@]}"
python3 bench/report.py print "$results" BENCHMARKS.md "${args[@]}"
