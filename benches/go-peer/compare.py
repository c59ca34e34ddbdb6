#!/usr/bin/env python3
"""teleport-audit against Teleport's own Go API client (go-peer), side by side.

Both clients read the same audit log in search mode (SearchUnstructuredEvents / GetUnstructured-
Events, ascending, paged by last key) from the same cluster with the same identity file, and write
NDJSON. Runs alternate (ours, go-peer 13, go-peer 14, ours, ...). For each run: wall time,
events/s, CPU seconds of the client process only (user + sys) and its peak RSS (/usr/bin/time); then the medians per client and our ratios. The outputs are compared: the same events, line
for line (same uid order, equal as parsed JSON).

Simulated cluster (default): for each backlog size, `teleport-audit sim --backlog N --rate 0
--backend file` with TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS=yes (the sim, like Teleport 16+, would
disconnect the 13 and 14 Go clients otherwise), then every page size.

    benches/go-peer/compare.py                                  # 100k and 1M, pages 500 and 10000, 3 runs each
    benches/go-peer/compare.py --events 100000 --runs 5
    benches/go-peer/compare.py --real-teleport 13,14                  # real Teleport 13.3.8, then 14.2.3
    benches/go-peer/compare.py --real PROXY IDENTITY_FILE --backfill-start 2023-01-01T00:00:00Z

--real measures against a running cluster; go-peer then dials as the event handler does
(client.New with the proxy address: the api client races its dialers and keeps the first that
connects) unless --alpn-auth. --proxy-ca PEM: a CA for the proxy's web certificate when it is not
publicly trusted (go-peer gets it as SSL_CERT_FILE: the api client asks the proxy's /webapi/find
over HTTPS with the system roots; ours as --proxy-ca, used only by a connection upgrade).

--real-teleport VERSIONS starts the real Teleport of tests/real-teleport for each version in turn
(`REAL_TELEPORT_SERVE=1 tests/real-teleport/run.sh`: --roles roles and --users users created
through tctl, a few certificates and failed logins), runs the --real comparison against it with
the identity, backfill start and proxy CA it prints, and stops it; every client must deliver
exactly the events of Teleport's file audit log (their count).

Needs: python3, GNU time (/usr/bin/time), Go (builds go-peer into ~/.cache/teleport-audit/go-peer unless --go-peer-13/14
are given), and the release build of teleport-audit (cargo build --release -p teleport-audit-cli).
"""
import argparse
import datetime
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def build_go_peer(cache):
    """Builds go-peer against the 13.3.8 and the 14.2.3 api modules; returns {label: path}."""
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GONOSUMDB="github.com/gravitational/teleport", GOFLAGS="-mod=readonly")
    out = {}
    for label, modfile in (("go13", "go.mod"), ("go14", "go14.mod")):
        target = cache / f"go-peer-{label}"
        started = time.monotonic()
        subprocess.run(["nice", "-n", "10", "go", "build", f"-modfile={modfile}", "-o", str(target), "."],
                       cwd=HERE, env=env, check=True)
        print(f"built {target} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        out[label] = target
    return out


def measure(cmd, stdout_path, env=None):
    """Runs cmd under /usr/bin/time with stdout to a file; returns wall seconds, CPU seconds,
    peak RSS (MiB) and stderr. The peak RSS is cmd's alone, from GNU time (wait4 on a child of
    this script would report this script's own RSS as the peak: Linux keeps the larger of the
    pre-exec and post-exec peaks). The CPU seconds (user + sys) come from wait4 on GNU time, in
    microseconds rather than GNU time's hundredths: cmd's plus GNU time's own 1 to 3 ms (measured
    with `true`), which matters at the 30 to 80 ms our client spends on 20,000 events."""
    with open(stdout_path, "wb") as out, tempfile.NamedTemporaryFile(mode="w+") as usage, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-o", usage.name, "-f", "%M"] + cmd, stdout=out, stderr=err, env=env)
        _, status, rusage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
        max_kib = usage.read().split()[-1]
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}): {stderr[-2000:]}")
    return wall, rusage.ru_utime + rusage.ru_stime, int(max_kib) / 1024, stderr


def count_lines(path):
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def canonical(value):
    """JSON value with every number as a float (200 and 200.0 are the same number in a Struct)."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def digest(path):
    """(uids in order, one hash over the canonical events in order)."""
    uids, h = [], hashlib.sha256()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                event = json.loads(line)
                uids.append(event.get("uid"))
                h.update(json.dumps(canonical(event), sort_keys=True, separators=(",", ":")).encode())
                h.update(b"\n")
    return uids, h.hexdigest()


def compare_outputs(paths):
    """Checks that every output holds the same events in the same order; returns a summary."""
    ours_label = next(iter(paths))
    ours_uids, ours_hash = digest(paths[ours_label])
    if len(set(ours_uids)) != len(ours_uids):
        sys.exit(f"{ours_label}: an event delivered twice")
    notes = []
    for label, path in paths.items():
        if label == ours_label:
            continue
        uids, h = digest(path)
        if uids != ours_uids:
            first = next((i for i, (a, b) in enumerate(zip(uids, ours_uids)) if a != b), min(len(uids), len(ours_uids)))
            sys.exit(f"outputs differ: {label} has {len(uids)} events, {ours_label} {len(ours_uids)}; first difference at line {first + 1}")
        if h != ours_hash:
            sys.exit(f"outputs differ: {label} and {ours_label} have the same uids but different event contents")
        notes.append(label)
    return f"{len(ours_uids)} events, identical (same uids in the same order, equal JSON) in {ours_label} and {', '.join(notes)}"


def fmt_row(label, rows, events):
    wall = statistics.median(r[0] for r in rows)
    cpu = statistics.median(r[1] for r in rows)
    rss = statistics.median(r[2] for r in rows)
    return {"client": label, "runs": len(rows), "wall_s": wall, "events_per_s": events / wall,
            "cpu_s": cpu, "cpu_s_per_100k": cpu * 100000 / events, "peak_rss_mib": rss,
            "all_cpu_s": [round(r[1], 3) for r in rows], "all_wall_s": [round(r[0], 2) for r in rows],
            "all_rss_mib": [round(r[2], 1) for r in rows]}


def bench(name, events_expected, clients, runs, work, envs=None):
    """Alternating runs of every client (envs: extra environment per client label); prints and
    returns the table rows."""
    results = {label: [] for label in clients}
    kept = {}
    for run in range(runs):
        for label, cmd in clients.items():
            out = work / f"{label}.ndjson"
            extra = (envs or {}).get(label)
            wall, cpu, rss, _ = measure(cmd, out, dict(os.environ, **extra) if extra else None)
            n = count_lines(out)
            if events_expected is not None and n != events_expected:
                sys.exit(f"{name}: {label} wrote {n} events, expected {events_expected}")
            events_expected = n
            results[label].append((wall, cpu, rss))
            print(f"  {name} run {run + 1} {label}: {n} events, {wall:.2f} s, {cpu:.3f} CPU s, {rss:.0f} MiB", file=sys.stderr, flush=True)
            if run == 0:
                kept[label] = work / f"{label}.first.ndjson"
                shutil.move(out, kept[label])
            else:
                out.unlink()
    verdict = compare_outputs(kept)
    for path in kept.values():
        path.unlink()
    rows = [fmt_row(label, rows, events_expected) for label, rows in results.items()]
    ours = rows[0]
    print(f"\n{name}: {verdict}; load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'client':8} {'events/s':>10} {'wall s':>8} {'CPU s':>8} {'CPU s/100k':>11} {'peak RSS MiB':>13} {'their CPU/ours':>15} {'their RSS/ours':>15}")
    for row in rows:
        print(f"{row['client']:8} {row['events_per_s']:10.0f} {row['wall_s']:8.2f} {row['cpu_s']:8.3f} {row['cpu_s_per_100k']:11.3f} "
              f"{row['peak_rss_mib']:13.1f} {row['cpu_s'] / ours['cpu_s']:15.2f} {row['peak_rss_mib'] / ours['peak_rss_mib']:15.2f}")
    print(flush=True)
    return {"name": name, "events": events_expected, "outputs": verdict, "load_average": os.getloadavg()[0], "clients": rows}


def start_sim(binary, backlog, work):
    """Starts `teleport-audit sim`; returns (process, proxy address, identity file, proxy CA)."""
    identity = work / "identity"
    env = dict(os.environ, TELEPORT_UNSTABLE_ALLOW_OLD_CLIENTS="yes")
    proc = subprocess.Popen([str(binary), "-q", "sim", "--identity-out", str(identity), "--backlog", str(backlog),
                             "--rate", "0", "--backend", "file"], stdout=subprocess.PIPE, env=env, text=True)
    lines = dict(proc.stdout.readline().strip().split("=", 1) for _ in range(2))
    return proc, lines["proxy"], identity, lines["proxy_ca"]


REAL_TELEPORT_KEYS = ("proxy", "identity_file", "proxy_ca", "backfill_start", "events")


def start_real_teleport(version, roles, users):
    """Starts tests/real-teleport/run.sh in serve mode; returns (process, {key: value}) once it
    has printed where the cluster is. Its stderr (progress) goes to ours."""
    env = dict(os.environ, REAL_TELEPORT_SERVE="1", REAL_TELEPORT_VERSION=version,
               REAL_TELEPORT_ROLES=str(roles), REAL_TELEPORT_USERS=str(users))
    proc = subprocess.Popen([str(ROOT / "tests/real-teleport/run.sh")], stdout=subprocess.PIPE, env=env, text=True)
    info = {}
    for line in proc.stdout:
        key, sep, value = line.strip().partition("=")
        if sep and key in REAL_TELEPORT_KEYS:
            info[key] = value
        if all(k in info for k in REAL_TELEPORT_KEYS):
            return proc, info
    proc.wait()
    sys.exit(f"tests/real-teleport/run.sh (Teleport {version}) ended ({proc.returncode}) before saying where its cluster is")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def real_benches(ours, go_peers, proxy, identity, proxy_ca, start, pages, alpn_auth, runs, work, label, expected=None):
    """The --real comparison: every page size against one running cluster."""
    envs = {name: {"SSL_CERT_FILE": proxy_ca} for name in go_peers} if proxy_ca else None
    out = []
    for page in pages:
        cmds = clients_for(ours, go_peers, proxy, identity, proxy_ca, start, page, alpn_auth)
        out.append(bench(f"{label}, page {page}", expected, cmds, runs, work, envs))
    return out


def clients_for(ours, go_peers, proxy, identity, proxy_ca, start, page, alpn_auth):
    cmds = {"ours": [str(ours), "tail", "--proxy", proxy, "--identity-file", str(identity), "--mode", "search",
                     "--page-size", str(page), "--backfill-start", start, "--until-now", "--max-lateness", "0s"]}
    if proxy_ca:
        cmds["ours"] += ["--proxy-ca", proxy_ca]
    for label, path in go_peers.items():
        cmds[label] = [str(path), "--proxy", proxy, "--identity-file", str(identity), "--page-size", str(page),
                       "--backfill-start", start] + (["--alpn-auth"] if alpn_auth else [])
    return cmds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", default="100000,1000000", help="backlog sizes of the simulated cluster")
    ap.add_argument("--pages", default="500,10000", help="page sizes")
    ap.add_argument("--runs", type=int, default=3, help="runs per client and configuration")
    ap.add_argument("--teleport-audit", default=str(ROOT / "target/release/teleport-audit"))
    ap.add_argument("--go-peer-13", help="a built go-peer (13.3.8 api); default: build it")
    ap.add_argument("--go-peer-14", help="a built go-peer (14.2.3 api); default: build it")
    ap.add_argument("--go", default="13,14", help="which go-peers to run")
    ap.add_argument("--real", nargs=2, metavar=("PROXY", "IDENTITY_FILE"), help="measure against this cluster instead of the sim")
    ap.add_argument("--backfill-start", help="with --real: where the search starts (RFC 3339)")
    ap.add_argument("--alpn-auth", action="store_true", help="with --real: go-peer dials Auth by ALPN through the proxy")
    ap.add_argument("--proxy-ca", help="with --real: PEM CA of the proxy's web certificate, if not publicly trusted")
    ap.add_argument("--real-teleport", metavar="VERSIONS",
                    help="start the real Teleport of tests/real-teleport (13, 14 or 13,14) and measure against it")
    ap.add_argument("--roles", type=int, default=12000, help="with --real-teleport: roles to create (one event each)")
    ap.add_argument("--users", type=int, default=8000, help="with --real-teleport: users to create (one event each)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    ours = pathlib.Path(args.teleport_audit)
    if not ours.exists():
        sys.exit(f"{ours} not found: cargo build --release -p teleport-audit-cli")
    wanted = {f"go{v}" for v in args.go.split(",") if v}
    given = {"go13": args.go_peer_13, "go14": args.go_peer_14}
    if any(not given[label] for label in wanted):
        built = build_go_peer(pathlib.Path.home() / ".cache/teleport-audit/go-peer")
        given = {label: given[label] or built[label] for label in given}
    go_peers = {label: pathlib.Path(given[label]) for label in sorted(wanted)}
    pages = [int(p) for p in args.pages.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"teleport-audit {ours} (HEAD {commit}), go-peers {', '.join(map(str, go_peers.values()))}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="go-peer-compare-") as tmp:
        work = pathlib.Path(tmp)
        if args.real_teleport:
            for version in args.real_teleport.split(","):
                proc, info = start_real_teleport(version, args.roles, args.users)
                try:
                    results += real_benches(ours, go_peers, info["proxy"], info["identity_file"], info["proxy_ca"],
                                            info["backfill_start"], pages, args.alpn_auth, args.runs, work,
                                            f"real Teleport {version}, {info['events']} events", int(info["events"]))
                finally:
                    stop(proc)
        elif args.real:
            if not args.backfill_start:
                sys.exit("--real needs --backfill-start")
            proxy, identity = args.real
            results += real_benches(ours, go_peers, proxy, identity, args.proxy_ca, args.backfill_start, pages,
                                    args.alpn_auth, args.runs, work, f"real {proxy}")
        else:
            for n in [int(e) for e in args.events.split(",")]:
                sim, proxy, identity, proxy_ca = start_sim(ours, n, work)
                try:
                    start = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    for page in pages:
                        cmds = clients_for(ours, go_peers, proxy, identity, proxy_ca, start, page, True)
                        results.append(bench(f"sim {n} events, page {page}", n, cmds, args.runs, work))
                finally:
                    sim.terminate()
                    sim.wait()
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"commit": commit, "results": results}, indent=1))


if __name__ == "__main__":
    main()
