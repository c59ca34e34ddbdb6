#!/usr/bin/env python3
"""Checks teleport-audit's session recording output against Teleport's Go client (the ground truth:
`probe session-events`, which on 13/14 falls back to the legacy RPC + events.ToUnstructured).

Usage:
  session_compare.py events SID MARK PROBE OURS
      OURS is `teleport-audit session SID` output. Every event of PROBE must be in OURS exactly
      once (by `ei`) and equal field for field as parsed JSON (numbers compared as floats); OURS
      may add `sid` (equal to SID) to events that have none (`print`), and nothing else. Every
      line of OURS carries `sid` SID. A `print` event's base64 `data` must hold MARK.
  session_compare.py tail SID PROBE OUTPUT REST
      OUTPUT is `teleport-audit tail --session-recordings` output. It must hold one session.upload
      for SID, and after it every event of PROBE exactly once (the same equality as above), and
      before it none of the recording's own events (those without a uid). The other lines
      (OUTPUT without the recording events matched) are written to REST, for compare.py.

Exits 1 and names the first differences otherwise; prints one summary line.
"""
import base64
import json
import sys


def parse(line):
    return json.loads(line, parse_int=float, parse_float=float)


def event_of(obj):
    """The event in one output line: the line itself, or the one nested object with an `event`."""
    if isinstance(obj, dict) and "event" in obj:
        return obj
    nested = [v for v in obj.values() if isinstance(v, dict) and "event" in v] if isinstance(obj, dict) else []
    return nested[0] if len(nested) == 1 else None


def load_lines(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                out.append((n, line))
    return out


def load_probe(path):
    events = [parse(line) for _, line in load_lines(path)]
    if not events:
        sys.exit(f"session_compare: {path} holds no events (the probe read nothing)")
    return events


def canon(ev):
    return json.dumps(ev, sort_keys=True)


class Matcher:
    """Matches our events against the probe's: `sid` added by us to a sid-less event is allowed."""

    def __init__(self, sid, probe):
        self.sid = sid
        self.probe = probe
        self.by_canon = {}
        for i, ev in enumerate(probe):
            self.by_canon.setdefault(canon(ev), []).append(i)
        self.by_ei = {}
        for i, ev in enumerate(probe):
            self.by_ei.setdefault(ev.get("ei"), i)

    def find(self, ev):
        """The probe index `ev` equals (or None), and `ev` with an added sid removed."""
        hit = self.by_canon.get(canon(ev))
        if hit:
            return hit[0]
        if ev.get("sid") == self.sid:
            bare = {k: v for k, v in ev.items() if k != "sid"}
            hit = self.by_canon.get(canon(bare))
            if hit:
                return hit[0]
        return None

    def diff(self, ev):
        """Says how `ev` differs from the probe event with its `ei`."""
        i = self.by_ei.get(ev.get("ei"))
        if i is None:
            return f"no probe event has ei {ev.get('ei')}"
        want = self.probe[i]
        keys = sorted(k for k in set(ev) | set(want) if ev.get(k) != want.get(k) and not (k == "sid" and k not in want))
        return "; ".join(f"{k}: got {json.dumps(ev.get(k))[:120]} want {json.dumps(want.get(k))[:120]}" for k in keys[:4])


def events_mode(sid, mark, probe_path, ours_path):
    probe = load_probe(probe_path)
    m = Matcher(sid, probe)
    problems, count = [], [0] * len(probe)
    ours = load_lines(ours_path)
    mark_seen = False
    for n, line in ours:
        try:
            ev = event_of(parse(line))
        except ValueError as e:
            problems.append(f"line {n}: not JSON ({e})")
            continue
        if ev is None:
            problems.append(f"line {n}: no event in it")
            continue
        if ev.get("sid") != sid:
            problems.append(f"line {n}: sid {json.dumps(ev.get('sid'))}, not {sid}")
        if ev.get("event") == "print" and mark:
            try:
                if mark.encode() in base64.b64decode(ev.get("data", ""), validate=True):
                    mark_seen = True
            except (ValueError, TypeError) as e:
                problems.append(f"line {n}: print data is not standard base64 ({e})")
        i = m.find(ev)
        if i is None:
            problems.append(f"line {n}: {ev.get('event')} ei {ev.get('ei')} differs: {m.diff(ev)}")
            continue
        count[i] += 1
        if count[i] > 1:
            problems.append(f"line {n}: {ev.get('event')} ei {ev.get('ei')} delivered twice")
    missing = [probe[i] for i, c in enumerate(count) if c == 0]
    for ev in missing[:5]:
        problems.append(f"missing: {ev.get('event')} ei {ev.get('ei')}")
    if mark and not mark_seen:
        problems.append(f"no print event's data holds {mark}")
    types = {}
    for ev in probe:
        types[ev.get("event")] = types.get(ev.get("event"), 0) + 1
    print(f"session_compare: probe {len(probe)} events {types}, ours {len(ours)} lines, "
          f"{len(missing)} missing, mark {'found' if mark_seen else 'not found'}, {len(problems)} problems")
    for p in problems[:10]:
        print("  " + p)
    return 1 if problems else 0


def tail_mode(sid, probe_path, out_path, rest_path):
    probe = load_probe(probe_path)
    m = Matcher(sid, probe)
    problems, count = [], [0] * len(probe)
    lines = load_lines(out_path)
    uploads = []
    parsed = []
    for n, line in lines:
        try:
            ev = event_of(parse(line))
        except ValueError as e:
            problems.append(f"output line {n}: not JSON ({e})")
            ev = None
        parsed.append((n, line, ev))
        if ev is not None and ev.get("event") == "session.upload" and ev.get("sid") == sid:
            uploads.append(n)
    if len(uploads) != 1:
        problems.append(f"{len(uploads)} session.upload events for {sid} in the output (want 1)")
    upload_line = uploads[0] if uploads else None
    rest, first_after, last_after = [], None, None
    for n, line, ev in parsed:
        if ev is None:
            rest.append(line)
            continue
        i = m.find(ev)
        if upload_line is None or n < upload_line:
            if i is not None and "uid" not in ev:
                problems.append(f"output line {n}: recording event {ev.get('event')} ei {ev.get('ei')} before the session.upload")
            rest.append(line)
            continue
        if i is None:
            if "uid" not in ev and ev.get("sid") == sid:
                problems.append(f"output line {n}: {ev.get('event')} ei {ev.get('ei')} is not in the recording: {m.diff(ev)}")
            rest.append(line)
            continue
        count[i] += 1
        if count[i] > 1:
            problems.append(f"output line {n}: {ev.get('event')} ei {ev.get('ei')} delivered twice")
        first_after = first_after or n
        last_after = n
    missing = [probe[i] for i, c in enumerate(count) if c == 0]
    for ev in missing[:5]:
        problems.append(f"missing: {ev.get('event')} ei {ev.get('ei')}")
    with open(rest_path, "w", encoding="utf-8") as f:
        f.writelines(rest)
    print(f"session_compare: session.upload on line {upload_line}, {len(probe) - len(missing)} of {len(probe)} "
          f"recording events after it (lines {first_after}-{last_after}), {len(rest)} other lines, {len(problems)} problems")
    for p in problems[:10]:
        print("  " + p)
    return 1 if problems else 0


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "events":
        sys.exit(events_mode(a[1], a[2], a[3], a[4]))
    if len(a) == 5 and a[0] == "tail":
        sys.exit(tail_mode(a[1], a[2], a[3], a[4]))
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
