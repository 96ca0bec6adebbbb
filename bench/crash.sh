#!/usr/bin/env bash
# Crash safety: kill -9 `nightshift run` at several points of a 1M-row date, re-run it, and
# check that every output table holds exactly one row per id (no duplicates, no half slice)
# and that the run history shows the killed attempts as abandoned, not running.
#
# Usage: bench/crash.sh [ROWS] [KILL_AFTER_SECONDS...]   (default 1000000; 0.5 1 2 3 4 6)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
shift || true
if [ $# -gt 0 ]; then delays=("$@"); else delays=(0.5 1 2 3 4 6); fi
cargo build --release --locked --bin nightshift >&2
bin=$(realpath target/release/nightshift)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
p=$work/p
"$bin" -q init "$p" >/dev/null
"$bin" -q --project "$p" generate --days 3 --rows-per-day "$rows" --end-date 2026-11-20 >/dev/null
"$bin" -q --project "$p" models train root_cause --alias production \
    --sql "SELECT c.text, l.category, l.subcategory FROM raw.agent_labels l JOIN raw.support_contacts c ON c.contact_id = l.contact_id" \
    --text-column text --label-column subcategory --parent-column category >/dev/null
q() { "$bin" -q --project "$p" sql --csv "$1" | tail -n 1; }

echo "| kill after s | killed during | features rows / distinct | predictions rows / distinct | rollup sum | abandoned runs | ok |"
echo "| ---: | --- | --- | --- | ---: | ---: | --- |"
fails=0
for d in "${delays[@]}"; do
    "$bin" -q --project "$p" run root_cause --date 2026-11-22 >/dev/null 2>"$work/err" &
    pid=$!
    sleep "$d"
    during=$( (kill -9 "$pid" 2>/dev/null && echo "running") || echo "(already done)")
    wait "$pid" 2>/dev/null || true
    "$bin" -q --project "$p" run root_cause --date 2026-11-22 >/dev/null
    f=$(q "SELECT count(*) || ' / ' || count(DISTINCT contact_id) FROM intermediate.root_cause_features WHERE ds = '2026-11-19'")
    pr=$(q "SELECT count(*) || ' / ' || count(DISTINCT id) FROM output.root_cause_predictions WHERE ds = '2026-11-19'")
    r=$(q "SELECT sum(contacts) FROM output.root_cause_rollups WHERE ds = '2026-11-19'")
    ab=$("$bin" -q --project "$p" --json runs list --status abandoned | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    running=$("$bin" -q --project "$p" --json runs list --status running | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    ok=yes
    for pair in "$f" "$pr"; do
        a=${pair% / *}; b=${pair#* / }
        [ "$a" = "$b" ] || ok=NO
    done
    [ "${f% / *}" = "${pr% / *}" ] && [ "${pr% / *}" = "$r" ] && [ "$running" = 0 ] || ok=NO
    [ "$ok" = yes ] || fails=$((fails + 1))
    echo "| $d | $during | $f | $pr | $r | $ab | $ok |"
done
exit $fails
