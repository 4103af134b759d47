#!/usr/bin/env bash
# URL ingestion, declip-ts vs the Python reference (img2dataset's way), on one URL list
# served from 127.0.0.1: REPEAT rounds (default 3), each running ours then Python's in
# one `declip bench ingest` command, then the per-round images/s ratios, their median,
# and the load average of each round (the machine may be shared: only ratios from the
# same round mean anything).
# Usage: [REPEAT=3] bench/ingest-vs-python.sh PHOTO_SHARDS_BRACE_PATTERN [SHARED_BENCH_DIR=../shared/bench] [bench ingest flags...]
#   e.g. bench/ingest-vs-python.sh '/tmp/photos/photos-{000000..000003}.tar'
# (make the photo shards with SHARED_BENCH_DIR/make_photo_shards.py; needs /usr/bin/python3
# with python3-pil and python3-braceexpand; run `npm run build` first: it runs the compiled dist/)
set -euo pipefail
shards=$1
shared=${2:-../shared/bench}
repeat=${REPEAT:-3}
work=$(mktemp -d)
/usr/bin/python3 "$shared/photo_server.py" "$shards" "$work/list.csv" > "$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do grep -q serving "$work/server.log" 2>/dev/null && break; sleep 0.5; done
cat "$work/server.log"
for round in $(seq 1 "$repeat"); do
  echo "== round $round of $repeat"
  node dist/cli/bin.js bench ingest --input "$work/list.csv" --python-anchor "$shared/anchor_ingest_py.py" --json "${@:3}" | tee "$work/round-$round.txt"
done
node -e '
const fs = require("node:fs");
const rounds = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8").trim().split("\n").at(-1)));
const ratio = (r, k) => r.sides[0][k] / r.sides[1][k];
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ips = rounds.map((r) => ratio(r, "imagesPerSecond"));
const cpu = rounds.map((r) => 1 / ratio(r, "cpuMsPerImage"));
console.log("images/s ratio (ours / Python) per round: " + ips.map((x) => x.toFixed(2)).join(" ") + "; median " + median(ips).toFixed(2));
console.log("CPU per image (Python / ours) per round: " + cpu.map((x) => x.toFixed(2)).join(" ") + "; median " + median(cpu).toFixed(2));
console.log("1-minute load per round (before/after): " + rounds.map((r) => r.loadBefore[0].toFixed(1) + "/" + r.loadAfter[0].toFixed(1)).join(" "));
' $(for round in $(seq 1 "$repeat"); do echo "$work/round-$round.txt"; done)
