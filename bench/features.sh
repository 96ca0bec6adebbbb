#!/usr/bin/env bash
# Times `nightshift generate` and the `features` task at 1M contacts/day (release build).
# (The same join in PySpark, with inference, is in bench/e2e.sh.)
#
# Usage: bench/features.sh [ROWS_PER_DAY] [DAYS]      (defaults: 1000000 6)
# Output: a small table on stdout; details in bench/results/features-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
days=${2:-6}
cargo build --release --locked --bin nightshift >&2
bin=$(realpath target/release/nightshift)
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p bench/results
results=bench/results

"$bin" -q init "$work/p" >/dev/null 2>&1 || true
proj=(--project "$work/p")

t0=$(date +%s.%N)
"$bin" -q "${proj[@]}" --json generate --days "$days" --rows-per-day "$rows" --end-date 2026-11-20 > "$results/generate.json"
t1=$(date +%s.%N)
gen_s=$(echo "$t1 - $t0" | bc)

# Two runs: the first creates the table, the second measures a re-run (replace the slice).
/usr/bin/time -v "$bin" -q "${proj[@]}" --json run root_cause --date 2026-11-22 --only features > "$results/features-1.json" 2> "$results/features-1.time"
t2=$(date +%s.%N)
/usr/bin/time -v "$bin" -q "${proj[@]}" --json run root_cause --date 2026-11-22 --only features > "$results/features-2.json" 2> "$results/features-2.time"
t3=$(date +%s.%N)
feat_s=$(echo "$t3 - $t2" | bc)
peak_kb=$(grep "Maximum resident" "$results/features-2.time" | awk '{print $NF}')
written=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["tasks"][0]["rows_written"])' "$results/features-2.json")
count=$("$bin" -q "${proj[@]}" --json sql "SELECT count(*) AS n FROM raw.support_contacts WHERE created_at >= TIMESTAMP '2026-11-19 00:00:00' AND created_at < TIMESTAMP '2026-11-20 00:00:00'" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["n"])')

echo "| step | rows | seconds | peak RSS MiB |"
echo "| --- | ---: | ---: | ---: |"
echo "| generate ($days days x $rows contacts + trips, orders, labels) | $((rows * days)) | $gen_s | |"
echo "| features (1 day, contacts LEFT JOIN trips, orders; re-run) | $written (raw count in window: $count) | $feat_s | $((peak_kb / 1024)) |"
