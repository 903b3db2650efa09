#!/usr/bin/env bash
# A model of the dispatcher's writes, to compare where due work lives before building either:
#   row    the recharge row is its own outbox (as the service does it): a partial index on next_attempt_at;
#   table  the due work in a small table of its own, VACUUMed every VACUUM_EVERY seconds by the model.
# Each pgbench script is one batch of 10 recharges: insert, claim, record. It prints the CPU time of every
# PostgreSQL process (backends that exit are counted through the postmaster's children) per recharge.
#
#   scripts/queue-model/run.sh row|table [seconds=30] [batches_per_second=100]
set -euo pipefail
model=$1; seconds=${2:-30}; rate=${3:-100}
here=$(cd "$(dirname "$0")" && pwd)
url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
psql "$url" -q -f "$here/$model-setup.sql" 2>/dev/null

tick=$(getconf CLK_TCK)
postmaster=$(pgrep -o -x postgres)
cpu_ticks() {
  local own children
  own=$(for pid in $(pgrep -x postgres); do awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || true; done |
    awk '{ sum += $1 } END { print sum }')
  children=$(awk '{print $16 + $17}' "/proc/$postmaster/stat")
  echo $((own + children))
}

stop=$(mktemp)
rm -f "$stop"
if [[ $model == table ]]; then
  (while [[ ! -e $stop ]]; do psql "$url" -qc 'vacuum queue_model_table.w' || true; sleep "${VACUUM_EVERY:-1}"; done) &
fi
before=$(cpu_ticks)
out=$(pgbench "$url" -n -M prepared -c 4 -j 1 -T "$seconds" -R "$rate" -f "$here/$model.sql" 2>&1)
touch "$stop"
sleep 1.5
after=$(cpu_ticks)
rm -f "$stop"
batches=$(grep 'number of transactions actually processed' <<<"$out" | awk '{print $NF}' | cut -d/ -f1)
echo "$model: $((batches * 10)) recharges, PostgreSQL $(((after - before) * 1000000 / tick / (batches * 10))) µs of CPU each"
psql "$url" -qc "drop schema queue_model_$model cascade" 2>/dev/null
