#!/usr/bin/env bash
# Starts a real single-node Teleport cluster on loopback (auth + proxy, TLS routing on one port,
# sqlite storage, file audit log), issues identities, generates audit events, then checks
# teleport-audit against it, with Teleport's own file audit log as the ground truth.
#
# Usage: tests/real-teleport/run.sh
# Env:
#   TELEPORT_AUDIT_BIN   the teleport-audit binary (default: <repo>/target/debug/teleport-audit if
#                        it exists); without it the teleport-audit checks are reported as skipped
#   REAL_TELEPORT_ROLES  roles to create (default 400); REAL_TELEPORT_USERS users (default 400)
#   REAL_TELEPORT_POLL   the tail poll interval teleport-audit uses, in seconds (default 5)
#   REAL_TELEPORT_KEEP   set to 1 to keep the cluster's work directory afterwards
#   REAL_TELEPORT_FACTS  file to write the probe's findings to (default <work>/facts.ndjson)
# Prints a closing line "N passed, N failed, N skipped"; exits non-zero if any check failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
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
cleanup() {
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
pass() { passed=$((passed + 1)); echo "PASS  $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $*"; }
log() { echo "run.sh: $*" >&2; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
auth_port="$(free_port)"
web_port="$(free_port)"
while [[ "$web_port" == "$auth_port" ]]; do web_port="$(free_port)"; done
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
proxy_service:
  enabled: true
  web_listen_addr: 127.0.0.1:$web_port
  public_addr: 127.0.0.1:$web_port
ssh_service:
  enabled: false
EOF

tctl() { "$bin_dir/tctl" -c "$work/teleport.yaml" "$@"; }

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
if [[ -z "$bin" || ! -x "$bin" ]]; then
    for c in identity ping backfill resume live-tail wrong-ca expired no-event-access export-fallback; do
        skip "teleport-audit $c (set TELEPORT_AUDIT_BIN to the teleport-audit binary)"
    done
else
    export RUST_LOG="${RUST_LOG:-info}"
    common=(--proxy "$proxy" --identity-file "$work/audit.identity")

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

    # backfill: every event in the file audit log, field for field, none twice
    backfill_start="$(date -u -d "$cluster_start - 5 minutes" +%Y-%m-%dT%H:%M:%SZ)"
    tail_args=(tail "${common[@]}" --backfill-start "$backfill_start")
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

    # kill mid-stream, resume from the cursor file. The first run goes through a relay that
    # slows the server's bytes to 64 KiB/s, so that it is still streaming when it is stopped.
    coproc RELAY { exec python3 "$here/throttle.py" "$web_port" 65536; }
    relay_pid=$RELAY_PID
    read -r relay_port <&"${RELAY[0]}"
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
            fail "kill and resume is not exact (stopped after $first events)"
        fi
    else
        kill -TERM "$tail_pid" 2>/dev/null || true
        wait "$tail_pid" 2>/dev/null || true
        fail "kill and resume: could not stop the tail mid-stream ($first of $n_events events written; stderr: $(tail -n 2 "$work/resume-1.err"))"
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

    # errors
    # The error must name the problem; the identity's own path (which contains the case's name)
    # is removed from the message first.
    expect_error() { # name identity regex
        local out rc=0
        out="$("$bin" ping --proxy "$proxy" --identity-file "$work/$2.identity" 2>&1 >/dev/null)" || rc=$?
        out="${out//$work\/$2.identity/IDENTITY}"
        if (( rc != 0 )) && grep -Eiq "$3" <<< "$out"; then
            pass "$1: exit $rc, $(grep -Eim1 "$3" <<< "$out")"
        else
            fail "$1: exit $rc, expected /$3/ in: $(head -n 3 <<< "$out")"
        fi
    }
    expect_error "wrong CA" wrong-ca 'unknown (issuer|authority)|not trusted|untrusted|(wrong|unknown|other) (CA|certificate authority)'
    expect_error "expired identity" expired 'expired'
    rc=0
    out="$("$bin" tail --proxy "$proxy" --identity-file "$work/no-events.identity" --backfill-start "$backfill_start" \
        --cursor-file "$work/noev.cursor" --until-now 2>&1 >/dev/null)" || rc=$?
    out="${out//$work\/no-events.identity/IDENTITY}"
    if (( rc != 0 )) && grep -Eiq 'permission|denied|access' <<< "$out"; then
        pass "role without event access: exit $rc, $(grep -Eim1 'permission|denied|access' <<< "$out")"
    else
        fail "role without event access: exit $rc, expected a permission error in: $(head -n 3 <<< "$out")"
    fi
fi

echo "timings: build ${t_build}s (cached binaries: $bin_dir), cluster ready ${t_ready}s, total $(( $(date +%s) - t0 ))s"
echo "$passed passed, $failed failed, $skipped skipped"
(( failed == 0 ))
