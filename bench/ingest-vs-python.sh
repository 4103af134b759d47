#!/usr/bin/env bash
# URL ingestion, declip-ts vs the Python reference (img2dataset's way), on one URL list
# served from 127.0.0.1, one after the other in one command.
# Usage: bench/ingest-vs-python.sh PHOTO_SHARDS_BRACE_PATTERN [SHARED_BENCH_DIR=../shared/bench]
#   e.g. bench/ingest-vs-python.sh '/tmp/photos/photos-{000000..000003}.tar'
# (make the photo shards with SHARED_BENCH_DIR/make_photo_shards.py; needs /usr/bin/python3
# with python3-pil and python3-braceexpand; run `npm run build` first: it runs the compiled dist/)
set -euo pipefail
shards=$1
shared=${2:-../shared/bench}
work=$(mktemp -d)
/usr/bin/python3 "$shared/photo_server.py" "$shards" "$work/list.csv" > "$work/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do grep -q serving "$work/server.log" 2>/dev/null && break; sleep 0.5; done
cat "$work/server.log"
node dist/cli/bin.js bench ingest --input "$work/list.csv" --python-anchor "$shared/anchor_ingest_py.py" "${@:3}"
