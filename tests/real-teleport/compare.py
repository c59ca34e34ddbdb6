#!/usr/bin/env python3
"""Checks teleport-audit's NDJSON output against Teleport's file audit log (the ground truth).

Usage: compare.py [--types TYPE,TYPE...] TRUTH_BEFORE TRUTH_AFTER OUTPUT
  --types       only events of these types (the `event` field) count: the file log's others are
                not expected, and a delivered event of another type is a problem
  TRUTH_BEFORE  the file audit log's lines when the run started: every one must be delivered
  TRUTH_AFTER   the lines when it ended: every delivered event must be one of them
  OUTPUT        what teleport-audit wrote, one event per line

Each delivered event must equal its file-log line field for field (as parsed JSON), and no
event (by uid) may be delivered twice. Exits 1 and names the first differences otherwise.
"""
import json
import sys


def load(path, types=None):
    events = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
                uid = ev["uid"]
            except (ValueError, KeyError) as e:
                sys.exit(f"{path} line {n}: not an event with a uid ({e})")
            if types is None or ev.get("event") in types:
                events[uid] = ev
    return events


def event_of(obj):
    """The event in one output line: the line itself, or the one nested object carrying a uid."""
    if "uid" in obj:
        return obj
    nested = [v for v in obj.values() if isinstance(v, dict) and "uid" in v]
    return nested[0] if len(nested) == 1 else None


def main():
    args = sys.argv[1:]
    types = None
    if len(args) == 5 and args[0] == "--types":
        types = set(t.strip() for t in args[1].split(",") if t.strip())
        args = args[2:]
    if len(args) != 3:
        sys.exit(__doc__)
    before, after = load(args[0], types), load(args[1], types)
    seen, problems = {}, []
    with open(args[2], encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                ev = event_of(json.loads(line))
            except ValueError as e:
                problems.append(f"output line {n}: not JSON ({e})")
                continue
            if ev is None:
                problems.append(f"output line {n}: no event with a uid in it")
                continue
            uid = ev["uid"]
            if uid in seen:
                problems.append(f"output line {n}: uid {uid} delivered twice (first on line {seen[uid]})")
                continue
            seen[uid] = n
            truth = after.get(uid)
            if truth is None and types is not None and ev.get("event") not in types:
                problems.append(f"output line {n}: uid {uid} is a {ev.get('event')}, not of the types asked for")
            elif truth is None:
                problems.append(f"output line {n}: uid {uid} is not in the file audit log")
            elif ev != truth:
                keys = sorted(k for k in set(ev) | set(truth) if ev.get(k) != truth.get(k))
                detail = "; ".join(f"{k}: got {json.dumps(ev.get(k))} want {json.dumps(truth.get(k))}" for k in keys[:4])
                problems.append(f"output line {n}: uid {uid} ({truth.get('event')}) differs: {detail}")
    missing = [uid for uid in before if uid not in seen]
    for uid in missing[:10]:
        problems.append(f"missing: uid {uid} ({before[uid].get('event')} at {before[uid].get('time')})")
    print(f"compare: {len(before)} events in the file log at start, {len(after)} at end, "
          f"{len(seen)} delivered, {len(missing)} missing, {len(problems)} problems")
    for p in problems[:20]:
        print("  " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
