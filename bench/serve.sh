#!/usr/bin/env bash
# Serving benchmark: requests per second for the merged feed (/feed.atom, 50 items) on
# loopback, with wrk, cached (the same URL again and again) and cold (every request a new
# filter string, so every request renders). tigris and wrk share this machine's cores.
#
#   bash bench/serve.sh [seconds per run, default 10]
#
# Needs wrk (installed from the distribution's packages if missing) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
farm_port=$(free_port)
tigris_port=$(free_port)

# A feed of 60 relevant items (titles and summaries from the labeled set).
mkdir -p "$work/farm"
python3 - "$work/farm/feed.xml" <<'PY'
import json, sys, html
items = [json.loads(l) for l in open("tests/data/classify/labeled.jsonl")]
relevant = [i for i in items if i["relevant"]][:60]
out = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Bench</title><link>https://bench.example/</link><description>b</description>']
for n, i in enumerate(relevant):
    out.append("<item><title>%s</title><link>https://bench.example/%d</link><guid>bench-%d</guid><pubDate>Mon, %02d Nov 2026 %02d:00:00 GMT</pubDate><description>%s</description></item>"
               % (html.escape(i["title"]), n, n, 1 + n % 28, n % 24, html.escape(i["summary"])))
out.append("</channel></rss>")
open(sys.argv[1], "w").write("\n".join(out))
PY
(cd "$work/farm" && exec python3 -m http.server "$farm_port" --bind 127.0.0.1 >/dev/null 2>&1) &
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$farm_port/feed.xml" && break; sleep 0.1; done

cat > "$work/tigris.toml" <<TOML
[storage]
database = "tigris.db"
[schedule]
default = "0 0 * * *"
[server]
listen = "127.0.0.1:$tigris_port"
[fetch]
allow_private_networks = true
[classify]
topics_dir = "$PWD/config/topics"
[[feeds]]
url = "http://127.0.0.1:$farm_port/feed.xml"
TOML
./target/release/tigris --config "$work/tigris.toml" run 2>"$work/tigris.log" &
for _ in $(seq 1 100); do grep -q "fetched" "$work/tigris.log" 2>/dev/null && break; sleep 0.1; done
grep -q "fetched" "$work/tigris.log" || { cat "$work/tigris.log"; exit 1; }
url="http://127.0.0.1:$tigris_port/feed.atom"
entries=$(curl -s "$url" | grep -o "<entry>" | wc -l || true)
echo "feed: $url with $entries entries, $(curl -s "$url" | wc -c) bytes"

cat > "$work/cold.lua" <<'LUA'
-- Every request asks for the same items under a filter string never seen before.
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/feed.atom?min_score=0." .. string.format("%09d", counter))
end
LUA

echo "== cached: wrk -t2 -c64 -d${seconds}s $url"
wrk -t2 -c64 -d"${seconds}s" "$url" | grep -E "Requests/sec|Latency|requests in"
echo "== cold (a render per request): wrk -t2 -c64 -d${seconds}s -s cold.lua $url"
wrk -t2 -c64 -d"${seconds}s" -s "$work/cold.lua" "$url" | grep -E "Requests/sec|Latency|requests in"
