#!/bin/bash
# CPU seconds of the client process per backfill, for docs/benchmarks.md ("Client CPU per event").
#
# usage: benches/client_cpu.sh EVENTS RUNS PAGE_SIZE BINARY [BINARY...]
#
# Starts `BINARY sim` (the first binary) as a separate process with a backlog of EVENTS events
# (file backend, no new events), drains it once to fill the sim's event cache, then RUNS times
# runs each BINARY's `tail --until-now` over the whole backlog into a file, alternating the
# binaries, under /usr/bin/time: user + system CPU seconds of the client process only (the sim's
# CPU is not counted). Finally checks that every output is byte-identical.
#
# With INSTRUCTIONS=1 in the environment, each binary then runs once more under valgrind's
# cachegrind (`--cache-sim=no`): the instructions the client executed in user space, a count that
# other load on the machine does not move (hardware counters, `perf stat -e instructions`, are
# not available on every virtual machine). Under valgrind, code that picks CPU features at run
# time takes its generic path (the `sha2` crate's SHA-256 without SHA-NI, for one).
#
# With SIM_CPUS and CLIENT_CPUS (taskset lists, e.g. 0 and 1), the sim and the clients are
# pinned to those CPUs, so that they do not compete for one and the spread between runs narrows.
set -eu
EVENTS=$1; RUNS=$2; PAGE=$3; shift 3
SIM_PIN=(); CLIENT_PIN=()
[ -n "${SIM_CPUS:-}" ] && SIM_PIN=(taskset -c "$SIM_CPUS")
[ -n "${CLIENT_CPUS:-}" ] && CLIENT_PIN=(taskset -c "$CLIENT_CPUS")
DIR=$(mktemp -d)
trap 'kill $SIM 2>/dev/null; rm -rf "$DIR"' EXIT
"${SIM_PIN[@]}" "$1" sim --identity-out "$DIR/id" --backlog "$EVENTS" --rate 0 --backend file -q >"$DIR/sim.out" &
SIM=$!
for _ in $(seq 100); do grep -q '^proxy_ca=' "$DIR/sim.out" 2>/dev/null && break; sleep 0.1; done
PROXY=$(sed -n 's/^proxy=//p' "$DIR/sim.out")
CA=$(sed -n 's/^proxy_ca=//p' "$DIR/sim.out")
ARGS=(tail --proxy "$PROXY" -i "$DIR/id" --proxy-ca "$CA" --backfill-start 2h --until-now
      --page-size "$PAGE" --max-lateness 1s -q)
"$1" "${ARGS[@]}" >/dev/null
for run in $(seq "$RUNS"); do
  n=0
  for BIN in "$@"; do
    n=$((n + 1))
    "${CLIENT_PIN[@]}" /usr/bin/time -f "%U %S %M" -o "$DIR/time" "$BIN" "${ARGS[@]}" \
      >"$DIR/out.$n.$run"
    read -r USER SYS RSS <"$DIR/time"
    printf 'binary %d run %d: %d events, CPU %.2f s (user %s, sys %s), peak RSS %d KiB\n' \
      "$n" "$run" "$(wc -l <"$DIR/out.$n.$run")" "$(echo "$USER + $SYS" | bc)" "$USER" "$SYS" "$RSS"
  done
done
if [ "${INSTRUCTIONS:-0}" = 1 ]; then
  n=0
  for BIN in "$@"; do
    n=$((n + 1))
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
      "$BIN" "${ARGS[@]}" >"$DIR/out.$n.valgrind" 2>"$DIR/valgrind"
    printf 'binary %d under valgrind: %d events, %s instructions\n' "$n" \
      "$(wc -l <"$DIR/out.$n.valgrind")" "$(sed -n 's/.*I *refs: *//p' "$DIR/valgrind")"
  done
fi
if [ "$(md5sum "$DIR"/out.* | awk '{print $1}' | sort -u | wc -l)" = 1 ]; then
  echo "outputs: all byte-identical"
else
  echo "outputs: DIFFER"; exit 1
fi
