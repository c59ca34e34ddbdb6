#!/usr/bin/env bash
# Starts a real single-node Teleport cluster on loopback (auth + proxy + SSH node, TLS routing on one
# port, sqlite storage, file audit log), issues identities, generates audit events and one recorded
# SSH session (tsh ssh through the node), then checks
# teleport-audit against it, with Teleport's own file audit log as the ground truth.
#
# Usage: tests/real-teleport/run.sh
# Env:
#   REAL_TELEPORT_VERSION  the Teleport versions to check, in turn: "13" (13.3.8), "14" (14.2.3)
#                          or "13 14" (the default); the closing line sums them
#   TELEPORT_AUDIT_BIN   the teleport-audit binary (default: <repo>/target/debug/teleport-audit if
#                        it exists); without it the teleport-audit checks are reported as skipped
#   REAL_TELEPORT_ROLES  roles to create (default 400); REAL_TELEPORT_USERS users (default 400)
#   REAL_TELEPORT_POLL   the tail poll interval teleport-audit uses, in seconds (default 5)
#   REAL_TELEPORT_KEEP   set to 1 to keep the cluster's work directory afterwards
#   REAL_TELEPORT_RECORDING_MODE  auth_service.session_recording (default node-sync: the mode in which
#                        the node in the same process emits session.upload)
#   REAL_TELEPORT_SEQ_LINES  lines the recorded session prints (`seq 1 N`; default 20000)
#   REAL_TELEPORT_FACTS  file to write the probe's findings to (default <work>/facts.ndjson)
#   REAL_TELEPORT_SERVE  set to 1 to serve instead of check (one version only): start the cluster,
#                        issue the identities, generate the events, print key=value lines on stdout
#                        (proxy, cluster, identity_file, proxy_ca, backfill_start, events, work), then
#                        keep the cluster up until SIGTERM or SIGINT (benches/go-peer/compare.py
#                        --real-teleport uses it)
# Prints a closing line "N passed, N failed, N skipped"; exits non-zero if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# Several versions: one run each (each builds its Teleport, then starts its own cluster), summed.
versions="${REAL_TELEPORT_VERSION:-13 14}"
read -r -a version_list <<< "$versions"
serve="${REAL_TELEPORT_SERVE:-0}"
if [[ "$serve" == 1 && ${#version_list[@]} != 1 ]]; then
    echo "run.sh: REAL_TELEPORT_SERVE=1 needs one REAL_TELEPORT_VERSION (13 or 14)" >&2
    exit 2
fi
if (( ${#version_list[@]} > 1 )); then
    total_passed=0 total_failed=0 total_skipped=0
    for v in "${version_list[@]}"; do
        out="$(mktemp)"
        REAL_TELEPORT_VERSION="$v" "$here/run.sh" | tee "$out" || true
        summary="$(tail -n 1 "$out")"
        rm -f "$out"
        if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
            total_passed=$((total_passed + BASH_REMATCH[1]))
            total_failed=$((total_failed + BASH_REMATCH[2]))
            total_skipped=$((total_skipped + BASH_REMATCH[3]))
        else
            echo "FAIL  [teleport $v] run.sh ended without its closing line"
            total_failed=$((total_failed + 1))
        fi
    done
    echo "Teleport ${version_list[*]}:"
    echo "$total_passed passed, $total_failed failed, $total_skipped skipped"
    (( total_failed == 0 ))
    exit
fi
major="${version_list[0]:-13}"
export REAL_TELEPORT_VERSION="$major"
n_roles="${REAL_TELEPORT_ROLES:-400}"
n_users="${REAL_TELEPORT_USERS:-400}"
poll="${REAL_TELEPORT_POLL:-5}"
bin="${TELEPORT_AUDIT_BIN:-}"
if (( n_roles < 16 || n_users < 5 )); then
    echo "run.sh: REAL_TELEPORT_ROLES must be at least 16 and REAL_TELEPORT_USERS at least 5" >&2
    exit 2
fi
if [[ -z "$bin" && -x "$repo/target/debug/teleport-audit" ]]; then
    bin="$repo/target/debug/teleport-audit"
fi

t0=$(date +%s)
bin_dir="$("$here/build.sh" | tail -n 1)"
t_build=$(( $(date +%s) - t0 ))

work="$(mktemp -d "${TMPDIR:-/tmp}/real-teleport.XXXXXX")"
data="$work/data"
facts="${REAL_TELEPORT_FACTS:-$work/facts.ndjson}"
mkdir -p "$data"
teleport_pid=""
bg_pids=()  # relays and tails still running when the script stops early
cleanup() {
    for p in "${bg_pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    if [[ -n "$teleport_pid" ]]; then
        kill "$teleport_pid" 2>/dev/null || true
        wait "$teleport_pid" 2>/dev/null || true
    fi
    if [[ "${REAL_TELEPORT_KEEP:-0}" == 1 ]]; then
        echo "run.sh: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

passed=0 failed=0 skipped=0
pass() { passed=$((passed + 1)); echo "PASS  [teleport $major] $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  [teleport $major] $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  [teleport $major] $*"; }
log() { echo "run.sh [teleport $major]: $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
auth_port="$(free_port)"
web_port="$(free_port)"
while [[ "$web_port" == "$auth_port" ]]; do web_port="$(free_port)"; done
ssh_port="$(free_port)"
while [[ "$ssh_port" == "$auth_port" || "$ssh_port" == "$web_port" ]]; do ssh_port="$(free_port)"; done
proxy="127.0.0.1:$web_port"
cluster="real-teleport.test"

# ---------------------------------------------------------------- the cluster
cat > "$work/teleport.yaml" <<EOF
version: v3
teleport:
  nodename: real-teleport
  data_dir: $data
  log:
    output: $work/teleport.log
    severity: INFO
  storage:
    type: dir
auth_service:
  enabled: true
  listen_addr: 127.0.0.1:$auth_port
  cluster_name: $cluster
  proxy_listener_mode: multiplex
  authentication:
    type: local
    second_factor: "off"
  # The node streams its recordings to the Auth Service over gRPC as the session goes, so that
  # completing one emits session.upload (with the default async "node" mode, a node in the auth's
  # own process uploads through the in-process auth server and no session.upload is emitted).
  session_recording: ${REAL_TELEPORT_RECORDING_MODE:-node-sync}
proxy_service:
  enabled: true
  web_listen_addr: 127.0.0.1:$web_port
  public_addr: 127.0.0.1:$web_port
ssh_service:
  enabled: true
  listen_addr: 127.0.0.1:$ssh_port
EOF

# tctl reads the same file, but logs elsewhere: it would truncate the cluster's log (os.Create).
sed "s#output: $work/teleport.log#output: $work/tctl.log#" "$work/teleport.yaml" > "$work/tctl.yaml"
tctl() { "$bin_dir/tctl" -c "$work/tctl.yaml" "$@"; }

log "starting Teleport (auth + proxy on $proxy, data in $data)"
"$bin_dir/teleport-noweb" start -c "$work/teleport.yaml" > "$work/teleport.stdout" 2>&1 &
teleport_pid=$!
cluster_start="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
t_start=$(date +%s)
ready=0
for _ in $(seq 1 240); do
    if ! kill -0 "$teleport_pid" 2>/dev/null; then
        break
    fi
    if tctl status >/dev/null 2>&1 && curl -sfk "https://$proxy/webapi/ping" >/dev/null 2>&1; then
        ready=1
        break
    fi
    sleep 0.5
done
if [[ "$ready" != 1 ]]; then
    fail "cluster did not come up; last lines of its log:"
    tail -n 30 "$work/teleport.log" "$work/teleport.stdout" 2>/dev/null || true
    echo "$passed passed, $failed failed, $skipped skipped"
    exit 1
fi
t_ready=$(( $(date +%s) - t_start ))
pass "cluster up in ${t_ready}s: Teleport $("$bin_dir/teleport-noweb" version | head -n 1)"

# ---------------------------------------------------------------- roles, users, identities
cat > "$work/roles.yaml" <<EOF
kind: role
version: v6
metadata:
  name: audit-reader
spec:
  allow:
    rules:
    - resources: [event, session]
      verbs: [list, read]
---
kind: role
version: v6
metadata:
  name: no-events
spec:
  allow:
    rules:
    - resources: [user]
      verbs: [list, read]
EOF
tctl create -f "$work/roles.yaml" >/dev/null
tctl users add audit-bot --roles=audit-reader >/dev/null
tctl users add no-events-bot --roles=no-events >/dev/null

sign() { tctl auth sign --user="$1" --format=file --overwrite --out="$2" --ttl="$3" >/dev/null 2>>"$work/tctl.err"; }
# The short-lived identity first, so that it has expired by the time it is used.
sign audit-bot "$work/expired.identity" 1m
sign audit-bot "$work/audit.identity" 8h
sign no-events-bot "$work/no-events.identity" 8h
"$bin_dir/probe" wrong-ca "$work/audit.identity" "$work/wrong-ca.identity"
pass "least-privilege role and identities issued (tctl auth sign --format=file)"

# ---------------------------------------------------------------- audit events
log "generating events: $n_roles roles, $n_users users, certificates, failed logins"
# Roles are created by 16 tctl processes at once, so that some events share a timestamp
# (Teleport's event times have millisecond precision).
parts=$(seq 0 15)
for part in $parts; do
    for i in $(seq $((part + 1)) 16 "$n_roles"); do
        printf 'kind: role\nversion: v6\nmetadata:\n  name: gen-role-%04d\nspec:\n  allow:\n    logins: [gen%04d]\n---\n' "$i" "$i"
    done > "$work/gen-roles-$part.yaml"
done
pids=()
for part in $parts; do
    tctl create -f "$work/gen-roles-$part.yaml" >/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
{
    for i in $(seq 1 "$n_users"); do
        printf 'kind: user\nversion: v2\nmetadata:\n  name: gen-user-%04d\nspec:\n  roles: [gen-role-%04d]\n---\n' "$i" $(( (i - 1) % n_roles + 1 ))
    done
} > "$work/gen-users.yaml"
tctl create -f "$work/gen-users.yaml" >/dev/null
for i in 1 2 3 4 5; do
    sign "gen-user-000$i" "$work/gen-$i.identity" 1h
done
csrf="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
failed_login() {
    curl -sk -o /dev/null -w '%{http_code}' -X POST "https://$proxy/v1/webapi/sessions/web" \
        -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" -b "__Host-grv_csrf=$csrf" \
        --data "{\"user\":\"$1\",\"pass\":\"wrong-password\"}"
}
codes=""
for u in audit-bot gen-user-0001 no-such-user; do
    for _ in 1 2; do codes+="$(failed_login "$u") "; done
done
log "failed logins answered HTTP: $codes"
# A burst of concurrent failed logins, again for events that share a timestamp.
pids=()
for i in $(seq 1 12); do
    failed_login "burst-user-$i" >/dev/null &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

events_dir="$data/log"
count_events() { find "$events_dir" -name '*.log' -type f -exec cat {} + 2>/dev/null | wc -l; }
snapshot() { find "$events_dir" -name '*.log' -type f -exec cat {} + > "$1"; }
n_events="$(count_events)"
if [[ "$serve" == 1 ]]; then
    # Serve mode: no checks; say where the cluster is, then wait for SIGTERM/SIGINT (the EXIT trap
    # stops the cluster and removes the work directory, as on the normal path).
    echo "proxy=$proxy"
    echo "cluster=$cluster"
    echo "identity_file=$work/audit.identity"
    echo "proxy_ca=$data/webproxy_cert.pem"
    echo "backfill_start=$(date -u -d "$cluster_start - 5 minutes" +%Y-%m-%dT%H:%M:%SZ)"
    echo "events=$n_events"
    echo "work=$work"
    log "serving $n_events events on $proxy (up and generated in $(( $(date +%s) - t_start ))s) until SIGTERM or SIGINT"
    trap 'exit 143' TERM
    trap 'exit 130' INT
    wait "$teleport_pid" || true
    teleport_pid=""
    log "Teleport exited by itself; last lines of its log:"
    tail -n 20 "$work/teleport.log" >&2 || true
    exit 1
fi
if (( n_events >= n_roles + n_users )); then
    pass "file audit log under $events_dir holds $n_events events"
else
    fail "file audit log under $events_dir holds only $n_events events"
fi
if grep -q '"event":"user.login"' <(snapshot /dev/stdout) && grep -q '"success":false' <(snapshot /dev/stdout); then
    pass "failed logins are in the audit log"
else
    fail "no failed user.login event in the audit log (HTTP answers: $codes)"
fi

# ---------------------------------------------------------------- a recorded session
# A user whose role may log in to the node as this machine's user, and one SSH session through the
# node with tsh and that user's identity file: a shell (tsh asks for a PTY when no command is
# given, even without a local terminal) that echoes a mark and prints $seq_lines lines, so that the
# recording holds print events worth reading. stdin stays open (a FIFO) until the shell has exited:
# its EOF would end the session at once. Then wait for the session's session.upload in the file
# audit log (node-sync: the node's gRPC stream completes when the session ends).
t_rec0=$(date +%s)
ssh_login="$(id -un)"
seq_lines="${REAL_TELEPORT_SEQ_LINES:-20000}"
cat > "$work/ops.yaml" <<EOF
kind: role
version: v6
metadata:
  name: ops
spec:
  allow:
    logins: [$ssh_login]
    node_labels:
      '*': '*'
---
kind: role
version: v6
metadata:
  name: events-only
spec:
  allow:
    rules:
    - resources: [event]
      verbs: [list, read]
EOF
tctl create -f "$work/ops.yaml" >/dev/null
tctl users add ops --roles=ops >/dev/null
tctl users add events-only-bot --roles=events-only >/dev/null
sign ops "$work/ops.identity" 1h
sign events-only-bot "$work/events-only.identity" 8h
mark="teleport-audit-mark-$RANDOM$RANDOM"
t_session=$(date +%s)
mkfifo "$work/tsh.in"
TELEPORT_HOME="$work/tsh-home" "$bin_dir/tsh" -i "$work/ops.identity" --proxy="$proxy" --insecure \
    --skip-version-check ssh "$ssh_login@real-teleport" < "$work/tsh.in" > "$work/tsh.out" 2> "$work/tsh.err" &
tsh_pid=$!
bg_pids+=("$tsh_pid")
exec 8> "$work/tsh.in"
printf 'echo %s\nseq 1 %d\nexit\n' "$mark" "$seq_lines" >&8
tsh_rc=""
for _ in $(seq 1 600); do
    if ! kill -0 "$tsh_pid" 2>/dev/null; then tsh_rc=0; wait "$tsh_pid" || tsh_rc=$?; break; fi
    sleep 0.1
done
exec 8>&-
if [[ -z "$tsh_rc" ]]; then
    kill "$tsh_pid" 2>/dev/null || true
    wait "$tsh_pid" 2>/dev/null || true
    tsh_rc="still running after 60 s"
fi
# The session's id: its session.start in the file audit log (the only one: the node has no other).
session_event() { # type sid-or-empty: the first such event's JSON line in the file audit log
    snapshot /dev/stdout | python3 -c '
import json, sys
for line in sys.stdin:
    ev = json.loads(line)
    if ev.get("event") == sys.argv[1] and (not sys.argv[2] or ev.get("sid") == sys.argv[2]):
        print(line.strip()); break' "$1" "${2:-}"
}
sid="$(session_event session.start | python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("sid",""))')"
upload=""
if [[ -n "$sid" ]]; then
    for _ in $(seq 1 120); do
        upload="$(session_event session.upload "$sid")"
        [[ -n "$upload" ]] && break
        sleep 0.5
    done
fi
t_session=$(( $(date +%s) - t_session ))
records="$data/log/records"
if [[ -n "$upload" && -s "$records/$sid.tar" ]]; then
    pass "recorded session $sid: tsh ssh (exit $tsh_rc) through the node, session.upload in the file audit log, $records/$sid.tar is $(stat -c %s "$records/$sid.tar") bytes (${t_session}s)"
else
    fail "recorded session: tsh exit $tsh_rc, sid '${sid}', session.upload ${upload:+found}${upload:-not found}; tsh stderr: $(tail -n 3 "$work/tsh.err" | cut -c1-300)"
    sid=""
fi
t_rec=$(( $(date +%s) - t_rec0 ))

# ---------------------------------------------------------------- the probe (Teleport's own client)
log "probing with Teleport's api module (findings in $facts)"
probe() { "$bin_dir/probe" "$1" -proxy "$proxy" -cluster "$cluster" "${@:2}"; }
: > "$facts"
probe facts -identity "$work/audit.identity" -keepalive >> "$facts"
probe compare -identity "$work/audit.identity" -log-dir "$events_dir" >> "$facts"
# Wait for the short-lived identity to expire.
exp_leaf() { awk '/BEGIN CERTIFICATE/{n++} n==1{print} /END CERTIFICATE/{if(n==1) exit}' "$1"; }
until ! exp_leaf "$work/expired.identity" | openssl x509 -noout -checkend 0 >/dev/null 2>&1; do sleep 2; done
for id in audit no-events expired wrong-ca; do
    probe access -identity "$work/$id.identity" -label "$id" >> "$facts"
done

# The recording, as Teleport's own Go client reads it (the ground truth for our session checks),
# and what each recording RPC answers: for the recorded session, an unknown one, copies of its
# recording cut in half, made of garbage and empty, and for an identity without session read.
t_rec0=$(date +%s)
session_truth="$work/session-probe.ndjson"
: > "$session_truth"
if [[ -n "$sid" ]]; then
    t_probe=$(date +%s)
    if ! probe session-events -identity "$work/audit.identity" -sid "$sid" > "$session_truth" 2> "$work/session-probe.err"; then
        fail "Teleport's Go client could not read the recording: $(tail -n 2 "$work/session-probe.err")"
    elif python3 - "$session_truth" "$mark" "$sid" > /dev/null <<'PY'
import base64, json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
types = {}
for e in evs:
    types[e.get("event")] = types.get(e.get("event"), 0) + 1
marked = [e for e in evs if e.get("event") == "print" and sys.argv[2].encode() in base64.b64decode(e.get("data", ""))]
lines = b"".join(base64.b64decode(e.get("data", "")) for e in evs if e.get("event") == "print")
print(f"{len(evs)} events {types}, the mark in {len(marked)} print event(s), {len(lines)} bytes of terminal output")
ok = types.get("session.start") == 1 and types.get("session.end") == 1 and marked and all(e.get("sid") == sys.argv[3] for e in evs if e.get("event") != "print")
sys.exit(0 if ok else 1)
PY
    then
        pass "Teleport's Go client reads the recording (StreamUnstructuredSessionEvents, $(( $(date +%s) - t_probe ))s): $(python3 - "$session_truth" "$mark" "$sid" <<'PY'
import base64, json, sys
evs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
types = {}
for e in evs:
    types[e.get("event")] = types.get(e.get("event"), 0) + 1
print(f"{len(evs)} events {types}")
PY
)"
    else
        fail "Teleport's Go client's recording lacks session.start/end or the mark: $(head -c 300 "$session_truth")"
    fi
    probe session-facts -identity "$work/audit.identity" -sid "$sid" -label recorded >> "$facts"
    unknown_sid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
    probe session-facts -identity "$work/audit.identity" -sid "$unknown_sid" -label unknown >> "$facts"
    size=$(stat -c %s "$records/$sid.tar")
    for fault in half garbage empty; do
        fault_sid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
        case "$fault" in
            half) head -c $((size / 2)) "$records/$sid.tar" > "$records/$fault_sid.tar" ;;
            garbage) head -c 4096 /dev/urandom > "$records/$fault_sid.tar" ;;
            empty) : > "$records/$fault_sid.tar" ;;
        esac
        probe session-facts -identity "$work/audit.identity" -sid "$fault_sid" -label "$fault" >> "$facts"
        eval "${fault}_sid=\$fault_sid"
    done
    probe session-facts -identity "$work/events-only.identity" -sid "$sid" -label no-session-read >> "$facts"
    log "recording RPCs: $(python3 - "$facts" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(probe, label, **kw):
    for r in rows:
        if r["probe"] == probe and r.get("label") == label and all(r.get(k) == v for k, v in kw.items()):
            return r
    return {}
un = get("session_unstructured_rpc", "recorded")
leg = get("session_legacy_rpc", "recorded", start_index=0)
leg2 = get("session_legacy_rpc", "recorded", start_index=2)
out = []
out.append(f"unstructured RPC {un.get('code')} {un.get('message', '')!r}")
out.append(f"legacy RPC {leg.get('code')} with {leg.get('events_before_end')} events (ei {leg.get('first_ei')}..{leg.get('last_ei')}, in order {leg.get('ei_in_order')}, not +1 {leg.get('ei_not_previous_plus_one')})")
out.append(f"from start_index 2: first ei {leg2.get('first_ei')}")
for label in ["unknown", "half", "garbage", "empty", "no-session-read"]:
    r = get("session_legacy_rpc", label, start_index=0)
    out.append(f"{label}: {r.get('code')} after {r.get('events_before_end')} events {r.get('message', '')[:100]!r}")
print("; ".join(out))
PY
)"
fi
t_rec=$(( t_rec + $(date +%s) - t_rec0 ))
if python3 - "$facts" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cmp = [r for r in rows if r["probe"] == "compare_file_log"][0]
ok = cmp["only_in_file"] == 0 and cmp["only_in_api"] == 0 and cmp["api_duplicate_uids"] == 0
print(f"file log {cmp['file_events']} events, API {cmp['api_events']}, identical {cmp['identical']}, different {cmp['different']}")
sys.exit(0 if ok else 1)
EOF
then pass "Teleport's API serves exactly the events of its file audit log"
else fail "Teleport's API and its file audit log disagree (see $facts)"
fi

# ---------------------------------------------------------------- teleport-audit
session_checks=(session-events session-default-skip session-from-index session-corrupt session-not-found
    session-late-upload session-no-permission tail-session-recordings tail-session-recordings-sigkill)
all_checks=(identity ping backfill export-fallback failed-logins types connection-upgrade-always
    no-server-errors resume-sigterm resume-sigkill-output live-tail identity-expiry identity-renewal
    wrong-ca expired no-event-access "${session_checks[@]}")
if [[ -z "$bin" || ! -x "$bin" ]]; then
    for c in "${all_checks[@]}"; do
        skip "teleport-audit $c (set TELEPORT_AUDIT_BIN to the teleport-audit binary)"
    done
else
    export RUST_LOG="${RUST_LOG:-info}"
    common=(--proxy "$proxy" --identity-file "$work/audit.identity")
    backfill_start="$(date -u -d "$cluster_start - 5 minutes" +%Y-%m-%dT%H:%M:%SZ)"
    tail_args=(tail "${common[@]}" --backfill-start "$backfill_start")
    # The proxy's log from here on: our client's normal runs must not make it log an error. The
    # probes' Go clients (which dial several ways at once and drop the losers) leave WARN lines
    # ("connection reset by peer") that can come a moment after they exit: wait until the log
    # has been quiet for a second (at most 10 s) before taking the mark.
    for _ in $(seq 1 10); do
        log_mark=$(stat -c %s "$work/teleport.log")
        sleep 1
        (( $(stat -c %s "$work/teleport.log") == log_mark )) && break
    done
    log_mark=$(stat -c %s "$work/teleport.log")

    # A relay (throttle.py) in front of the proxy; prints its port. $1: bytes per second (0: full
    # speed). `kill -USR1` on its pid (in $relay_pid after the call) cuts its open connections.
    start_relay() {
        local port_file="$work/relay-$RANDOM.port"
        python3 "$here/throttle.py" "$web_port" "$1" > "$port_file" &
        relay_pid=$!
        bg_pids+=("$relay_pid")
        for _ in $(seq 1 100); do [[ -s "$port_file" ]] && break; sleep 0.05; done
        relay_port="$(head -n 1 "$port_file")"
    }
    not_after() { exp_leaf "$1" | openssl x509 -noout -enddate | cut -d= -f2; }
    lines() { if [[ -f "$1" ]]; then wc -l < "$1"; else echo 0; fi; }

    # Two tails that outlive the identity they started with, running beside the other checks:
    # one with a short-lived identity (it must stop with a clear fatal error once it has to dial
    # again after the expiry, losing nothing), one whose identity file is renewed the way tbot
    # does it (a new file renamed over the old one) and must keep going past the old expiry.
    # Each goes through its own relay, so the test can cut its connection after the expiry (an
    # expired certificate keeps working on an open connection until the next dial).
    sign audit-bot "$work/short.identity" 1m
    sign audit-bot "$work/renew.identity" 1m
    short_expiry="$(not_after "$work/short.identity")"
    start_relay 0; exp_relay_pid=$relay_pid; exp_relay_port=$relay_port
    "$bin" tail --proxy "127.0.0.1:$exp_relay_port" --identity-file "$work/short.identity" \
        --backfill-start "$backfill_start" --cursor-file "$work/exp.cursor" --output "$work/exp.ndjson" \
        --poll-interval 1s > /dev/null 2> "$work/exp.err" &
    exp_pid=$!; bg_pids+=("$exp_pid")
    start_relay 0; renew_relay_pid=$relay_pid; renew_relay_port=$relay_port
    "$bin" tail --proxy "127.0.0.1:$renew_relay_port" --identity-file "$work/renew.identity" \
        --backfill-start "$backfill_start" --cursor-file "$work/renew.cursor" --output "$work/renew.ndjson" \
        --poll-interval 1s > /dev/null 2> "$work/renew.err" &
    renew_pid=$!; bg_pids+=("$renew_pid")
    log "tails with identities valid until $short_expiry started (pids $exp_pid, $renew_pid)"

    # identity
    if "$bin" identity "$work/audit.identity" > "$work/identity.json" 2> "$work/identity.err" \
        && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/identity.json" 2>/dev/null; then
        pass "teleport-audit identity: $(head -c 300 "$work/identity.json" | tr -d '\n')"
    else
        fail "teleport-audit identity: $(cat "$work/identity.err")"
    fi

    # ping through the proxy port
    if "$bin" ping "${common[@]}" > "$work/ping.out" 2> "$work/ping.err"; then
        if grep -q "$cluster" "$work/ping.out"; then
            pass "teleport-audit ping: $(head -c 300 "$work/ping.out" | tr -d '\n')"
        else
            fail "teleport-audit ping does not name the cluster: $(head -c 300 "$work/ping.out")"
        fi
    else
        fail "teleport-audit ping: $(tail -n 5 "$work/ping.err")"
    fi

    # The renewal, tbot's way: a new identity file written beside the old one, then renamed over
    # it, while the tail runs (once it has connected, i.e. written its backfill).
    deadline=$(( $(date +%s) + 30 ))
    while (( $(lines "$work/renew.ndjson") == 0 && $(date +%s) < deadline )) && kill -0 "$renew_pid" 2>/dev/null; do sleep 0.2; done
    sign audit-bot "$work/renew.identity.new" 8h
    mv "$work/renew.identity.new" "$work/renew.identity"
    log "renew.identity replaced by rename ($(lines "$work/renew.ndjson") events written by then)"

    # backfill: every event in the file audit log, field for field, none twice
    snapshot "$work/truth-before.ndjson"
    s=$(date +%s%N)
    "$bin" "${tail_args[@]}" --cursor-file "$work/backfill.cursor" --until-now > "$work/backfill.ndjson" 2> "$work/backfill.err" || true
    t_backfill_ms=$(( ($(date +%s%N) - s) / 1000000 ))
    snapshot "$work/truth-after.ndjson"
    if python3 "$here/compare.py" "$work/truth-before.ndjson" "$work/truth-after.ndjson" "$work/backfill.ndjson"; then
        pass "backfill delivered every file-log event exactly once, field for field (${t_backfill_ms} ms)"
    else
        fail "backfill differs from the file audit log (stderr: $(tail -n 3 "$work/backfill.err"))"
    fi
    if grep -Eiq 'unimplemented|fall(ing)? ?back|search' "$work/backfill.err"; then
        pass "export probe fell back to search: $(grep -Eim1 'unimplemented|fall(ing)? ?back|search' "$work/backfill.err")"
    else
        fail "no sign in the log (RUST_LOG=$RUST_LOG) that the export probe fell back to search"
    fi

    # failed logins: each one delivered with the fields that say who failed, how and from where
    if python3 - "$work/truth-before.ndjson" "$work/backfill.ndjson" <<'PY'
import json, sys
def failed(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        if line.strip():
            ev = json.loads(line)
            if ev.get("event") == "user.login" and ev.get("success") is False:
                out[ev["uid"]] = ev
    return out
truth, got = failed(sys.argv[1]), failed(sys.argv[2])
fields = ["user", "error", "method", "user_agent", "addr.remote", "code", "time"]
bad = [u for u, ev in truth.items() if u not in got or any(got[u].get(f) != ev.get(f) or f not in got[u] for f in fields)]
users = sorted({ev["user"] for ev in got.values()})
print(f"{len(got)} of {len(truth)} failed logins delivered with {', '.join(fields)}; users {users[:4]}...")
sys.exit(0 if truth and not bad and len(got) == len(truth) else 1)
PY
    then pass "failed logins (user.login, success false, T1000W) arrive with their fields"
    else fail "failed logins missing or incomplete in the backfill"
    fi

    # --types: only those types, and all of them
    types="user.login,cert.create,user.create"
    snapshot "$work/truth-before.ndjson"
    "$bin" "${tail_args[@]}" --types "$types" --cursor-file "$work/types.cursor" --until-now > "$work/types.ndjson" 2> "$work/types.err" || true
    snapshot "$work/truth-after.ndjson"
    if out="$(python3 "$here/compare.py" --types "$types" "$work/truth-before.ndjson" "$work/truth-after.ndjson" "$work/types.ndjson")"; then
        pass "--types $types: only and all of those (${out#compare: })"
    else
        fail "--types $types: $out (stderr: $(tail -n 2 "$work/types.err"))"
    fi

    # --connection-upgrade always: the proxy's web certificate is Teleport's self-made one, given
    # as --proxy-ca (which pins it). Teleport 13 and 14 serve the legacy upgrade types (alpn,
    # alpn-ping) at /webapi/connectionupgrade, not the WebSocket one.
    snapshot "$work/truth-before.ndjson"
    rc=0
    "$bin" "${tail_args[@]}" --connection-upgrade always --proxy-ca "$data/webproxy_cert.pem" \
        --cursor-file "$work/upgrade.cursor" --until-now > "$work/upgrade.ndjson" 2> "$work/upgrade.err" || rc=$?
    snapshot "$work/truth-after.ndjson"
    if (( rc == 0 )) && out="$(python3 "$here/compare.py" "$work/truth-before.ndjson" "$work/truth-after.ndjson" "$work/upgrade.ndjson")"; then
        pass "tail --connection-upgrade always: every event exactly once (${out#compare: }); $(grep -Eim1 'upgrade' "$work/upgrade.err" | cut -c1-200)"
    else
        fail "tail --connection-upgrade always: exit $rc, $(grep -Ev '^\s*$' "$work/upgrade.err" | tail -n 2 | cut -c1-300)"
    fi

    # No error in the cluster's log from the normal runs above (identity, ping, backfill, types,
    # upgrade, and the two long tails starting): no ERROR line, and no WARN line either (Teleport
    # logs a connection that fails its handshake, "Error occurred in handshake for new SSH conn",
    # at WARN).
    # Not counted: what Teleport logs about itself on its own schedule, whoever is connected
    # (14.2.3's auth polls GitHub for releases, and this machine has no route there).
    errors="$(tail -c +"$((log_mark + 1))" "$work/teleport.log" | grep -aE '^[^ ]+ (ERRO|WARN)' \
        | grep -avF 'Failed to load github releases' || true)"
    if [[ -z "$errors" ]]; then
        pass "no ERROR or WARN line in Teleport's log from our client's normal runs ($(tail -c +"$((log_mark + 1))" "$work/teleport.log" | wc -l) log lines)"
    else
        fail "Teleport logged $(wc -l <<< "$errors") ERROR/WARN line(s) during our client's normal runs, e.g.: $(head -n 2 <<< "$errors" | cut -c1-400)"
    fi

    # stop mid-stream (SIGTERM), resume from the cursor file. The first run goes through a relay
    # that slows the server's bytes to 64 KiB/s, so that it is still streaming when it is stopped.
    start_relay 65536
    snapshot "$work/truth-before.ndjson"
    : > "$work/resume-1.ndjson"
    "$bin" tail --proxy "127.0.0.1:$relay_port" --identity-file "$work/audit.identity" \
        --backfill-start "$backfill_start" --cursor-file "$work/resume.cursor" --until-now \
        >> "$work/resume-1.ndjson" 2> "$work/resume-1.err" &
    tail_pid=$!
    deadline=$(( $(date +%s) + 120 ))
    while kill -0 "$tail_pid" 2>/dev/null && (( $(wc -l < "$work/resume-1.ndjson") < n_events / 3 && $(date +%s) < deadline )); do
        sleep 0.01
    done
    first=$(wc -l < "$work/resume-1.ndjson")
    if (( first > 0 && first < n_events )) && kill -TERM "$tail_pid" 2>/dev/null; then
        wait "$tail_pid" 2>/dev/null || true
        first=$(wc -l < "$work/resume-1.ndjson")
        "$bin" "${tail_args[@]}" --cursor-file "$work/resume.cursor" --until-now > "$work/resume-2.ndjson" 2> "$work/resume-2.err" || true
        cat "$work/resume-1.ndjson" "$work/resume-2.ndjson" > "$work/resume.ndjson"
        snapshot "$work/truth-after.ndjson"
        if python3 "$here/compare.py" "$work/truth-before.ndjson" "$work/truth-after.ndjson" "$work/resume.ndjson"; then
            pass "stopped (SIGTERM) after $first of $n_events events, resumed from the cursor file: still exact"
        else
            fail "stop and resume is not exact (stopped after $first events)"
        fi
    else
        kill -TERM "$tail_pid" 2>/dev/null || true
        wait "$tail_pid" 2>/dev/null || true
        fail "stop and resume: could not stop the tail mid-stream ($first of $n_events events written; stderr: $(tail -n 2 "$work/resume-1.err"))"
    fi

    # SIGKILL mid-backfill three times, writing with --output (exactly once across crashes), then
    # finish with --until-now. Pages of 100 through the slow relay, so that each kill lands
    # between a page's write and its cursor save or in the middle of a page.
    : > "$work/kill.err"
    kills=""
    n_now=$(count_events)
    for k in 1 2 3; do
        "$bin" tail --proxy "127.0.0.1:$relay_port" --identity-file "$work/audit.identity" \
            --backfill-start "$backfill_start" --cursor-file "$work/kill.cursor" --output "$work/kill.ndjson" \
            --page-size 100 > /dev/null 2>> "$work/kill.err" &
        tail_pid=$!
        target=$(( k * n_now / 4 ))
        deadline=$(( $(date +%s) + 120 ))
        while kill -0 "$tail_pid" 2>/dev/null && (( $(lines "$work/kill.ndjson") < target && $(date +%s) < deadline )); do
            sleep 0.01
        done
        kill -KILL "$tail_pid" 2>/dev/null || true
        wait "$tail_pid" 2>/dev/null || true
        kills+=" $(lines "$work/kill.ndjson")"
    done
    rc=0
    "$bin" "${tail_args[@]}" --cursor-file "$work/kill.cursor" --output "$work/kill.ndjson" --until-now > /dev/null 2>> "$work/kill.err" || rc=$?
    snapshot "$work/truth-after.ndjson"
    if (( rc == 0 )) && out="$(python3 "$here/compare.py" "$work/truth-before.ndjson" "$work/truth-after.ndjson" "$work/kill.ndjson")"; then
        mid=1
        for n in $kills; do (( n > 0 && n < n_now )) || mid=0; done
        if (( mid )); then
            pass "SIGKILL during the backfill with --output (file lines at each kill:$kills of $n_now), then --until-now: the file is exact (${out#compare: })"
        else
            fail "SIGKILL with --output: a kill did not land mid-stream (file lines at each kill:$kills of $n_now)"
        fi
    else
        fail "SIGKILL with --output: exit $rc, ${out:-} (kills at$kills; stderr: $(tail -n 2 "$work/kill.err"))"
    fi
    kill "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true

    # live tail: events created after start arrive within the poll interval plus a second
    : > "$work/live.ndjson"
    "$bin" tail "${common[@]}" --cursor-file "$work/live.cursor" >> "$work/live.ndjson" 2> "$work/live.err" &
    live_pid=$!
    sleep "$((poll + 2))"
    late=""
    for i in 1 2 3; do
        name="live-role-$i-$RANDOM"
        printf 'kind: role\nversion: v6\nmetadata:\n  name: %s\nspec: {}\n' "$name" > "$work/live.yaml"
        created=$(date +%s%N)
        tctl create -f "$work/live.yaml" >/dev/null
        seen=""
        while (( ($(date +%s%N) - created) / 1000000 < (poll + 1) * 1000 + 2000 )); do
            if grep -q "\"name\":\"$name\"" "$work/live.ndjson"; then seen=$(( ($(date +%s%N) - created) / 1000000 )); break; fi
            sleep 0.05
        done
        if [[ -z "$seen" || "$seen" -gt $(( (poll + 1) * 1000 )) ]]; then
            late+=" $name:${seen:-never}ms"
        else
            log "live event $name arrived after ${seen} ms"
        fi
    done
    kill -TERM "$live_pid" 2>/dev/null || true
    wait "$live_pid" 2>/dev/null || true
    if [[ -z "$late" ]]; then
        pass "live tail: new events arrived within ${poll}s + 1s"
    else
        fail "live tail: late or missing:$late"
    fi

    # Identity expiry and renewal. Wait for the short-lived identities to expire, then create a
    # few events (the open connections still serve them), then cut both tails' connections.
    until ! exp_leaf "$work/short.identity" | openssl x509 -noout -checkend 0 >/dev/null 2>&1; do sleep 1; done
    snapshot "$work/truth-at-expiry.ndjson"
    create_roles() { # prefix
        for i in 1 2 3; do
            printf 'kind: role\nversion: v6\nmetadata:\n  name: %s-%d\nspec: {}\n' "$1" "$i" > "$work/$1.yaml"
            tctl create -f "$work/$1.yaml" >/dev/null
        done
    }
    create_roles after-expiry
    sleep 3
    open_after_expiry=$(grep -c '"name":"after-expiry-' "$work/exp.ndjson" || true)
    log "after the expiry, on the open connection: $open_after_expiry of 3 new events delivered"
    kill -USR1 "$exp_relay_pid" "$renew_relay_pid" 2>/dev/null || true
    rc=""
    for _ in $(seq 1 300); do
        if ! kill -0 "$exp_pid" 2>/dev/null; then rc=0; wait "$exp_pid" || rc=$?; break; fi
        sleep 0.1
    done
    if [[ -z "$rc" ]]; then
        kill -TERM "$exp_pid" 2>/dev/null || true
        wait "$exp_pid" 2>/dev/null || true
        fail "identity expiry: tail still running 30 s after its expired identity had to dial again (stderr: $(tail -n 2 "$work/exp.err" | cut -c1-300))"
    else
        msg="$(grep -Ei 'error:.*expired' "$work/exp.err" | tail -n 1 | cut -c1-300)"
        msg="${msg//$work\//}"
        snapshot "$work/truth-after.ndjson"
        out="$(python3 "$here/compare.py" "$work/truth-at-expiry.ndjson" "$work/truth-after.ndjson" "$work/exp.ndjson")" && lost=0 || lost=1
        # Resume from its cursor with a valid identity: still exactly once.
        "$bin" "${tail_args[@]}" --cursor-file "$work/exp.cursor" --output "$work/exp.ndjson" --until-now > /dev/null 2> "$work/exp-resume.err" || true
        snapshot "$work/truth-after.ndjson"
        out2="$(python3 "$here/compare.py" "$work/truth-after.ndjson" "$work/truth-after.ndjson" "$work/exp.ndjson")" && resumed=1 || resumed=0
        if [[ "$rc" == 77 && -n "$msg" ]] && (( lost == 0 && resumed == 1 )); then
            pass "identity expiry mid-stream (valid until $short_expiry): exit 77 at the next dial, nothing lost before it ($open_after_expiry of 3 events after the expiry came on the open connection), resumed exactly with a new identity; $msg"
        else
            fail "identity expiry mid-stream: exit $rc (want 77), message '${msg:-none}', before the exit: ${out}; after resuming: ${out2}"
        fi
    fi
    # The renewed tail must go on past the old identity's expiry, on a new connection.
    create_roles after-renewal
    deadline=$(( $(date +%s) + 20 ))
    while (( $(grep -c '"name":"after-renewal-' "$work/renew.ndjson" || true) < 3 && $(date +%s) < deadline )) && kill -0 "$renew_pid" 2>/dev/null; do sleep 0.2; done
    rc=""
    if kill -TERM "$renew_pid" 2>/dev/null; then rc=0; wait "$renew_pid" || rc=$?; else wait "$renew_pid" || rc="died with $?"; fi
    snapshot "$work/truth-after.ndjson"
    if [[ "$rc" == 130 ]] && out="$(python3 "$here/compare.py" "$work/truth-after.ndjson" "$work/truth-after.ndjson" "$work/renew.ndjson")" \
        && grep -q 'identity file changed' "$work/renew.err"; then
        pass "renewed identity file (renamed over the old one) used without restart: going on past the old expiry after its connection was cut, every event exactly once (${out#compare: })"
    else
        fail "renewed identity file: exit $rc (want 130 after SIGTERM), ${out:-}; stderr: $(grep -Ev '^\s*$' "$work/renew.err" | tail -n 2 | cut -c1-300)"
    fi
    kill "$exp_relay_pid" "$renew_relay_pid" 2>/dev/null || true

    # ---------------------------------------------------------------- session recordings
    t_rec0=$(date +%s)
    # Our client against Teleport's Go client (session-probe.ndjson, read above) on the recorded
    # session, and on the probe's faulty copies of its recording.
    if [[ -z "$sid" || ! -s "$session_truth" ]]; then
        for c in "${session_checks[@]}"; do skip "teleport-audit $c (no recorded session, see above)"; done
    elif ! "$bin" session --help > /dev/null 2>&1; then
        for c in "${session_checks[@]}"; do skip "teleport-audit $c (this teleport-audit has no session command)"; done
    else
        n_truth=$(wc -l < "$session_truth")
        # print events in a file (0 if it does not exist yet); JSON spacing may vary
        prints() { if [[ -f "$1" ]]; then grep -cE '"event" *: *"print"' "$1" || true; else echo 0; fi; }
        # session SID: every event, field for field as Teleport's Go client gives it, each with sid.
        rc=0
        "$bin" session "$sid" "${common[@]}" --skip-session-types none > "$work/session.ndjson" 2> "$work/session.err" || rc=$?
        if (( rc == 0 )) && out="$(python3 "$here/session_compare.py" events "$sid" "$mark" "$session_truth" "$work/session.ndjson")"; then
            pass "session SID --skip-session-types none: the recording as Teleport's Go client reads it (legacy RPC + ToUnstructured), field for field (${out#session_compare: })"
        else
            fail "session SID --skip-session-types none: exit $rc, ${out:-} (stderr: $(tail -n 2 "$work/session.err" | cut -c1-300))"
        fi
        # The default skips print (raw terminal output) and nothing else.
        rc=0
        "$bin" session "$sid" "${common[@]}" > "$work/session-default.ndjson" 2> "$work/session-default.err" || rc=$?
        grep -vE '"event" *: *"print"' "$session_truth" > "$work/session-probe-noprint.ndjson" || true
        if (( rc == 0 )) && (( $(prints "$work/session-default.ndjson") == 0 )) \
            && out="$(python3 "$here/session_compare.py" events "$sid" "" "$work/session-probe-noprint.ndjson" "$work/session-default.ndjson")"; then
            pass "session SID (default --skip-session-types print): every event but print (${out#session_compare: })"
        else
            fail "session SID with the default skip: exit $rc, ${out:-} (stderr: $(tail -n 2 "$work/session-default.err" | cut -c1-300))"
        fi
        # --from-index N: the events with ei >= N (Teleport's start index is inclusive).
        from=$(( n_truth / 2 ))
        python3 -c 'import json,sys; [print(l, end="") for l in open(sys.argv[1]) if l.strip() and json.loads(l)["ei"] >= int(sys.argv[2])]' \
            "$session_truth" "$from" > "$work/session-probe-from.ndjson"
        rc=0
        "$bin" session "$sid" "${common[@]}" --skip-session-types none --from-index "$from" > "$work/session-from.ndjson" 2> "$work/session-from.err" || rc=$?
        if (( rc == 0 )) && out="$(python3 "$here/session_compare.py" events "$sid" "" "$work/session-probe-from.ndjson" "$work/session-from.ndjson")"; then
            pass "session SID --from-index $from: exactly the events from ei $from on (${out#session_compare: })"
        else
            fail "session SID --from-index $from: exit $rc, ${out:-} (stderr: $(tail -n 2 "$work/session-from.err" | cut -c1-300))"
        fi
        # A recording cut in half: the events before the cut (as the Go client got them), then our
        # corrupt-recording error (the server says Unknown "unexpected EOF").
        rc=0
        "$bin" session "$half_sid" "${common[@]}" --skip-session-types none > "$work/session-half.ndjson" 2> "$work/session-half.err" || rc=$?
        want="$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if "\"session_legacy_rpc\"" in l and "\"label\":\"half\"" in l][0]["events_before_end"])' "$facts")"
        got="$(lines "$work/session-half.ndjson")"
        msg="$(grep -Ei 'recording_corrupt|corrupt|truncated|cannot be read' "$work/session-half.err" | head -n 2 | tr '\n' ' ' | cut -c1-300)"
        if (( rc != 0 && rc != 130 )) && [[ "$got" == "$want" && -n "$msg" ]]; then
            pass "session of a recording cut in half: $got events (as many as the Go client got before Unknown 'unexpected EOF'), then exit $rc: $msg"
        else
            fail "session of a recording cut in half: exit $rc, $got events (want $want, then a corrupt-recording error): $(tail -n 2 "$work/session-half.err" | cut -c1-300)"
        fi
        # An unknown session: NotFound, retried for --recording-wait, then our not-found error.
        rc=0
        s=$(date +%s)
        "$bin" session "$unknown_sid" "${common[@]}" --recording-wait 3s > "$work/session-unknown.ndjson" 2> "$work/session-unknown.err" || rc=$?
        took=$(( $(date +%s) - s ))
        msg="$(grep -Ei 'recording_not_found|recording not found|no recording' "$work/session-unknown.err" | head -n 2 | tr '\n' ' ' | cut -c1-300)"
        if (( rc != 0 && rc != 130 )) && [[ -n "$msg" ]] && grep -q "$unknown_sid" "$work/session-unknown.err" && [[ ! -s "$work/session-unknown.ndjson" ]]; then
            pass "session of an unknown sid (--recording-wait 3s): exit $rc after ${took}s, $msg"
        else
            fail "session of an unknown sid: exit $rc after ${took}s, stdout $(lines "$work/session-unknown.ndjson") lines, expected a not-found error naming the sid: $(tail -n 2 "$work/session-unknown.err" | cut -c1-300)"
        fi
        # A recording that appears late (uploads are asynchronous): NotFound at first, then the
        # file (a copy of the recorded session's, renamed into place after 4 s); our client retries
        # within --recording-wait and delivers it whole. (Its events keep the recorded session's sid.)
        late_sid="$(python3 -c 'import uuid; print(uuid.uuid4())')"
        rc=0
        s=$(date +%s)
        "$bin" session "$late_sid" "${common[@]}" --skip-session-types none --recording-wait 60s > "$work/session-late.ndjson" 2> "$work/session-late.err" &
        late_pid=$!
        bg_pids+=("$late_pid")
        sleep 4
        cp "$records/$sid.tar" "$records/.$late_sid.tmp" && mv "$records/.$late_sid.tmp" "$records/$late_sid.tar"
        wait "$late_pid" || rc=$?
        took=$(( $(date +%s) - s ))
        if (( rc == 0 && took >= 4 )) && [[ "$(lines "$work/session-late.ndjson")" == "$n_truth" ]]; then
            pass "session of a recording uploaded 4 s late (--recording-wait 60s): all $n_truth events after ${took}s"
        else
            fail "session of a recording uploaded 4 s late: exit $rc after ${took}s, $(lines "$work/session-late.ndjson") of $n_truth events: $(tail -n 2 "$work/session-late.err" | cut -c1-300)"
        fi
        # A role with event read but not session read: our permission error, exit 77.
        rc=0
        out="$("$bin" session "$sid" --proxy "$proxy" --identity-file "$work/events-only.identity" 2>&1 >/dev/null)" || rc=$?
        out="${out//$work\/events-only.identity/IDENTITY}"
        if (( rc == 77 )) && grep -Eiq 'permission|denied' <<< "$out"; then
            pass "session SID with a role without session read: exit $rc, $(grep -Eim1 'permission|denied' <<< "$out" | cut -c1-300)"
        else
            fail "session SID with a role without session read: exit $rc (want 77), expected a permission error in: $(head -n 3 <<< "$out" | cut -c1-300)"
        fi

        # tail --session-recordings: the audit log exactly once (compare.py), and the recording's
        # events after its session.upload, each exactly once (session_compare.py).
        rec_args=(--session-recordings --skip-session-types none)
        snapshot "$work/truth-before.ndjson"
        rc=0
        "$bin" "${tail_args[@]}" "${rec_args[@]}" --cursor-file "$work/rec.cursor" --until-now > "$work/rec.ndjson" 2> "$work/rec.err" || rc=$?
        snapshot "$work/truth-after.ndjson"
        if (( rc == 0 )) && out="$(python3 "$here/session_compare.py" tail "$sid" "$session_truth" "$work/rec.ndjson" "$work/rec-rest.ndjson")" \
            && out2="$(python3 "$here/compare.py" "$work/truth-before.ndjson" "$work/truth-after.ndjson" "$work/rec-rest.ndjson")"; then
            pass "tail --session-recordings --until-now: the recording after its session.upload (${out#session_compare: }); the audit log exactly once (${out2#compare: })"
        else
            fail "tail --session-recordings: exit $rc, ${out:-} ${out2:-} (stderr: $(tail -n 2 "$work/rec.err" | cut -c1-300))"
        fi
        # SIGKILL inside the recording, three times, writing with --output, through a relay that
        # slows the server's bytes to 2 KiB/s; then finish with --until-now: still exactly once.
        # Each run is killed as soon as its first print events reach the file: the file grows a
        # commit (up to a second of events) at a time, so a fixed target (a quarter, a half...)
        # could be passed by a commit that holds the rest of the recording.
        # The backfill starts a second before the session did (the ground truth is the file log
        # from then on), so that the slow relay spends its time on the recording.
        rec_start="$(session_event session.start "$sid" | python3 -c '
import datetime, json, sys
t = datetime.datetime.fromisoformat(json.loads(sys.stdin.read())["time"].replace("Z", "+00:00"))
print((t - datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))')"
        since() { # file: the file log's events at or after $rec_start
            snapshot /dev/stdout | python3 -c '
import datetime, json, sys
start = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
for line in sys.stdin:
    if datetime.datetime.fromisoformat(json.loads(line)["time"].replace("Z", "+00:00")) >= start:
        print(line, end="")' "$rec_start" > "$1"
        }
        start_relay 2048
        since "$work/truth-before.ndjson"
        n_prints=$(prints "$session_truth")
        kills=""
        : > "$work/rec-kill.err"
        for k in 1 2 3; do
            target=$(( $(prints "$work/rec-kill.ndjson") + 1 ))
            "$bin" tail --proxy "127.0.0.1:$relay_port" --identity-file "$work/audit.identity" \
                --backfill-start "$rec_start" "${rec_args[@]}" --cursor-file "$work/rec-kill.cursor" \
                --output "$work/rec-kill.ndjson" > /dev/null 2>> "$work/rec-kill.err" &
            tail_pid=$!
            deadline=$(( $(date +%s) + 120 ))
            while kill -0 "$tail_pid" 2>/dev/null && (( $(prints "$work/rec-kill.ndjson") < target && $(date +%s) < deadline )); do
                sleep 0.01
            done
            kill -KILL "$tail_pid" 2>/dev/null || true
            wait "$tail_pid" 2>/dev/null || true
            kills+=" $(prints "$work/rec-kill.ndjson")"
        done
        kill "$relay_pid" 2>/dev/null || true
        wait "$relay_pid" 2>/dev/null || true
        rc=0
        "$bin" tail "${common[@]}" --backfill-start "$rec_start" "${rec_args[@]}" --cursor-file "$work/rec-kill.cursor" \
            --output "$work/rec-kill.ndjson" --until-now > /dev/null 2>> "$work/rec-kill.err" || rc=$?
        since "$work/truth-after.ndjson"
        out="" out2=""
        if (( rc == 0 )) && out="$(python3 "$here/session_compare.py" tail "$sid" "$session_truth" "$work/rec-kill.ndjson" "$work/rec-kill-rest.ndjson")" \
            && out2="$(python3 "$here/compare.py" "$work/truth-before.ndjson" "$work/truth-after.ndjson" "$work/rec-kill-rest.ndjson")"; then
            inside=1
            read -r -a kill_counts <<< "$kills"
            (( ${#kill_counts[@]} == 3 )) || inside=0
            for n in "${kill_counts[@]}"; do (( n > 0 && n < n_prints )) || inside=0; done
            if (( inside )); then
                pass "tail --session-recordings, SIGKILL inside the recording with --output (print events in the file at each kill:$kills of $n_prints), then --until-now: exact (${out#session_compare: }; ${out2#compare: })"
            else
                fail "tail --session-recordings with SIGKILL: a kill did not land inside the recording (print events at each kill:$kills of $n_prints)"
            fi
        else
            fail "tail --session-recordings with SIGKILL and --output: exit $rc, ${out:-} ${out2:-} (kills at$kills; stderr: $(tail -n 2 "$work/rec-kill.err" | cut -c1-300))"
        fi
    fi
    t_rec=$(( t_rec + $(date +%s) - t_rec0 ))

    # errors
    # The error must name the problem; the identity's own path (which contains the case's name)
    # is removed from the message first.
    expect_error() { # name identity regex [exit status]
        local out rc=0
        out="$("$bin" ping --proxy "$proxy" --identity-file "$work/$2.identity" 2>&1 >/dev/null)" || rc=$?
        out="${out//$work\/$2.identity/IDENTITY}"
        if (( rc != 0 )) && [[ -z "${4:-}" || "$rc" == "${4:-}" ]] && grep -Eiq "$3" <<< "$out"; then
            pass "$1: exit $rc, $(grep -Eim1 "$3" <<< "$out")"
        else
            fail "$1: exit $rc${4:+ (want $4)}, expected /$3/ in: $(head -n 3 <<< "$out")"
        fi
    }
    expect_error "wrong CA" wrong-ca 'unknown (issuer|authority)|not trusted|untrusted|(wrong|unknown|other) (CA|certificate authority)'
    expect_error "expired identity" expired 'expired' 77
    rc=0
    out="$("$bin" tail --proxy "$proxy" --identity-file "$work/no-events.identity" --backfill-start "$backfill_start" \
        --cursor-file "$work/noev.cursor" --until-now 2>&1 >/dev/null)" || rc=$?
    out="${out//$work\/no-events.identity/IDENTITY}"
    if (( rc == 77 )) && grep -Eiq 'permission|denied|access' <<< "$out"; then
        pass "role without event access: exit $rc, $(grep -Eim1 'permission|denied|access' <<< "$out")"
    else
        fail "role without event access: exit $rc (want 77), expected a permission error in: $(head -n 3 <<< "$out")"
    fi
fi

echo "timings: build ${t_build}s (cached binaries: $bin_dir), cluster ready ${t_ready}s, session recordings ${t_rec}s, total $(( $(date +%s) - t0 ))s"
echo "$passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
