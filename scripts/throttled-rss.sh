#!/usr/bin/env bash
# Measures the runner's memory while a source produces as fast as it can and
# a sink is throttled to 100 records/s: backpressure must keep RSS flat.
# The broker runs as its own process (runner broker) so its in-memory log is
# not counted. Usage: scripts/throttled-rss.sh [seconds] [records]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
records=${2:-2000000}
make -s build
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { kill "${runner:-}" "${broker:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
bin/runner broker --listen "127.0.0.1:$port" 2>"$work/broker.log" &
broker=$!
sleep 1
cat >"$work/rss.yaml" <<YAML
pipeline: rss
kafka: {brokers: 127.0.0.1:$port}
topics:
  rss-in: {partitions: 3}
sources:
  gen:
    generate:
      count: $records
      value: '{"order_id": uuid(), "store": pick(["orlando", "tampa", "miami"]), "qty": int_between(1, 24), "n": _offset}'
    key: store
    to: rss-in
sinks:
  slow:
    from: rss-in
    rate: 100/s
    file: {path: $work/out.jsonl}
YAML
bin/runner -c "$work/rss.yaml" --progress 10s 2>"$work/runner.log" &
runner=$!
peak=0
for ((i = 1; i <= secs; i++)); do
  sleep 1
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$runner/status")
  ((rss > peak)) && peak=$rss
  if ((i % 10 == 0)); then echo "t=${i}s rss=$((rss / 1024))MiB"; fi
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$runner/status")
written=$(wc -l <"$work/out.jsonl")
produced=$(grep -o 'stage=gen in_per_s=[0-9.]* out_per_s=[0-9.]* in=[0-9]*' "$work/runner.log" | tail -1 | sed 's/.* in=//')
echo "records produced by the source: ${produced:-?} (of $records); written by the throttled sink: $written in ${secs}s"
echo "runner peak RSS (sampled): $((peak / 1024)) MiB; VmHWM: $((hwm / 1024)) MiB"
