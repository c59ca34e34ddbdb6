#!/bin/bash
# Peak resident memory of `tail --session-recordings`, for docs/benchmarks.md ("Memory with
# session recordings").
#
# usage: benches/recordings_rss.sh BINARY [SESSIONS] [LARGE_EVENTS]
#
# Starts `BINARY sim` as a separate process with SESSIONS recorded sessions (default 1,000; the
# first recording has LARGE_EVENTS events, default 100,000; the next are missing, late, corrupt
# and empty, the rest small) over the hour before now and a backlog of 2,000 other events (file
# backend, no new events). Then runs `BINARY tail --session-recordings --skip-session-types
# none --until-now --output FILE --cursor-file FILE` over all of it under /usr/bin/time: the
# peak RSS of the client process only (not the sim's), its CPU time, the lines written. The
# audit log holds all SESSIONS uploads from the start: at most 32 are in progress at a time
# (backpressure), the rest wait in the audit log. A late recording is uploaded 0 s after its
# upload event (it would otherwise be given up or not, by timing).
set -eu
BIN=$1; SESSIONS=${2:-1000}; LARGE=${3:-100000}
DIR=$(mktemp -d)
trap 'kill $SIM 2>/dev/null; rm -rf "$DIR"' EXIT
"$BIN" sim --identity-out "$DIR/id" --backlog 2000 --rate 0 --backend file \
  --sessions "$SESSIONS" --large-session-events "$LARGE" --late-upload-delay 0s -q >"$DIR/sim.out" &
SIM=$!
for _ in $(seq 300); do grep -q '^proxy_ca=' "$DIR/sim.out" 2>/dev/null && break; sleep 0.1; done
PROXY=$(sed -n 's/^proxy=//p' "$DIR/sim.out")
CA=$(sed -n 's/^proxy_ca=//p' "$DIR/sim.out")
/usr/bin/time -f "%e %U %S %M" -o "$DIR/time" "$BIN" tail --proxy "$PROXY" -i "$DIR/id" \
  --proxy-ca "$CA" --backfill-start 2h --until-now --max-lateness 1s --mode search \
  --session-recordings --skip-session-types none \
  --output "$DIR/out.ndjson" --cursor-file "$DIR/cursor.json" -q
read -r WALL USER SYS RSS <"$DIR/time"
UPLOADS=$(grep -c '"event":"session.upload"' "$DIR/out.ndjson" || true)
PRINTS=$(grep -c '"event":"print"' "$DIR/out.ndjson" || true)
printf 'sessions %d, large recording %d events: %d lines (%d session.upload, %d print), %.1f MB written\n' \
  "$SESSIONS" "$LARGE" "$(wc -l <"$DIR/out.ndjson")" "$UPLOADS" "$PRINTS" \
  "$(echo "$(stat -c %s "$DIR/out.ndjson") / 1000000" | bc -l)"
printf 'client: wall %s s, CPU %.2f s (user %s, sys %s), peak RSS %d KiB (%.1f MiB)\n' \
  "$WALL" "$(echo "$USER + $SYS" | bc)" "$USER" "$SYS" "$RSS" "$(echo "$RSS / 1024" | bc -l)"
