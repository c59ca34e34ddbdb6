//! The recording of a generated SSH session, one event at a time from `(seed, sid, ei)`.
//!
//! Layout of a recording of `len` events (`len >= 5`), as a Teleport node records an
//! interactive session (lib/srv/sess.go): `ei` 0 `session.start` (the audit log's copy, same
//! `uid`), 1 `resize`, 2 `session.join` (the audit copy), then `print` events (with every
//! eighth index a `session.command` when the session has enhanced recording), `len - 2`
//! `session.leave` and `len - 1` `session.end` (the audit copies, `ei` renumbered). Field
//! names are those `apievents.ToUnstructured` writes (research §2): `print` has no `uid`,
//! `code` or `sid` (`SessionPrint` embeds only `Metadata`), and its `data` is the terminal
//! bytes in standard base64. `ci`, `offset` and `ms` are computed, not accumulated, so event
//! `ei` costs the same whatever `ei` is.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

use super::{SESSIONS_SALT, weighted};
use crate::det::{Draw, hash_words};
use crate::json::{Nanos, rfc3339_nano};
use crate::recordings::RecordingKind;
use crate::uid::Uid;

const PURPOSE_RECORDING: u64 = 30;
const PURPOSE_RECORDING_UID: u64 = 31;
const PURPOSE_RECORDING_ORDER: u64 = 32;
const MILLI: i64 = 1_000_000;

/// The fewest events a non-empty recording has (its fixed positions).
pub(crate) const MIN_LEN: u64 = 5;

/// The kind of the recording of (recorded) group `group` of series `salt`. In the series of
/// recorded sessions, group 0 is large and groups 1 to 4 are missing, late, corrupt and
/// empty in an order the seed picks; the rest are small. Live sessions draw a kind (never
/// large).
pub(crate) fn kind(seed: u64, salt: u64, group: u64) -> RecordingKind {
    use RecordingKind as R;
    const SPECIALS: [RecordingKind; 4] = [R::Missing, R::Late, R::Corrupt, R::Empty];
    if salt == SESSIONS_SALT {
        return match group {
            0 => R::Large,
            1..=4 => {
                let rotation = hash_words(&[seed, PURPOSE_RECORDING_ORDER]) % 4;
                SPECIALS[((group - 1 + rotation) % 4) as usize]
            }
            _ => R::Small,
        };
    }
    const LIVE: [(RecordingKind, u64); 5] = [
        (R::Small, 85),
        (R::Missing, 4),
        (R::Late, 6),
        (R::Corrupt, 3),
        (R::Empty, 2),
    ];
    weighted(
        &mut Draw::new(&[seed, salt, group, PURPOSE_RECORDING_ORDER]),
        &LIVE,
    )
}

/// The shape of one recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) kind: RecordingKind,
    /// Events the recording holds.
    pub(crate) len: u64,
    /// Events served before the stream fails or ends (`len` unless corrupt).
    pub(crate) served: u64,
    /// Whether every eighth index is a `session.command` (enhanced recording).
    enhanced: bool,
    /// Which terminal script the `print`s replay.
    script: usize,
}

/// The plan of the recording of group `group` of series `salt`.
pub(crate) fn plan(seed: u64, salt: u64, group: u64, large_events: u64) -> Plan {
    let kind = kind(seed, salt, group);
    let mut d = Draw::new(&[seed, salt, group, PURPOSE_RECORDING]);
    let small = d.range(20, 80);
    let enhanced = d.chance(0.3);
    let script = d.below(SCRIPTS.len() as u64) as usize;
    let len = match kind {
        RecordingKind::Large => large_events.max(MIN_LEN),
        RecordingKind::Missing | RecordingKind::Empty => 0,
        _ => small,
    };
    let served = if kind == RecordingKind::Corrupt {
        len / 2
    } else {
        len
    };
    Plan {
        kind,
        len,
        served,
        enhanced,
        script,
    }
}

/// An audit event of the session that the recording holds too: its time and JSON.
#[derive(Clone, Debug)]
pub(crate) struct AuditCopy {
    pub(crate) time: Nanos,
    pub(crate) json: Map<String, Value>,
}

/// Everything needed to build any event of one recording.
#[derive(Clone, Debug)]
pub(crate) struct Recording {
    seed: u64,
    sid: Uid,
    cluster: String,
    plan: Plan,
    /// The audit copies of `session.start`, `session.join`, `session.leave`, `session.end`.
    audit: [AuditCopy; 4],
}

/// Fields of `session.start` that the other session events repeat.
const SUBJECT: [&str; 7] = [
    "user",
    "login",
    "sid",
    "namespace",
    "server_id",
    "server_hostname",
    "server_addr",
];

impl Recording {
    pub(crate) fn new(
        seed: u64,
        sid: Uid,
        cluster: &str,
        plan: Plan,
        audit: [AuditCopy; 4],
    ) -> Recording {
        Recording {
            seed,
            sid,
            cluster: cluster.to_string(),
            plan,
            audit,
        }
    }

    /// The time of event `ei` (whole milliseconds, never decreasing).
    pub(crate) fn time(&self, ei: u64) -> Nanos {
        let last = self.plan.len.saturating_sub(1);
        let [start, join, leave, end] = &self.audit;
        match ei {
            0 | 1 => start.time,
            2 => join.time,
            _ if ei + 1 == last => leave.time,
            _ if ei >= last => end.time,
            _ => {
                // Prints and commands: evenly between the join and the leave.
                let span = i128::from(leave.time.saturating_sub(join.time).max(0));
                let steps = i128::from(last.saturating_sub(3).max(1));
                let t = join.time + (span * i128::from(ei - 2) / steps) as i64;
                t - t.rem_euclid(MILLI)
            }
        }
    }

    /// Event `ei` as `ToUnstructured` shows it (`ei < len`; later indices repeat the end).
    pub(crate) fn event(&self, ei: u64) -> Map<String, Value> {
        let last = self.plan.len.saturating_sub(1);
        let [start, join, leave, end] = &self.audit;
        let copy = |audit: &AuditCopy| {
            let mut o = audit.json.clone();
            o.insert("ei".into(), ei.into());
            o
        };
        match ei {
            0 => copy(start),
            1 => self.resize(ei),
            2 => copy(join),
            _ if ei + 1 == last => copy(leave),
            _ if ei >= last => copy(end),
            _ if self.plan.enhanced && ei.is_multiple_of(8) => self.command(ei),
            _ => self.print(ei),
        }
    }

    fn uid(&self, ei: u64) -> String {
        Uid::v4(Draw::new(&[self.seed, self.sid.digest(), ei, PURPOSE_RECORDING_UID]).bytes16())
            .to_string()
    }

    fn head(&self, ei: u64, event: &str, code: Option<&str>) -> Map<String, Value> {
        let mut o = Map::new();
        o.insert("cluster_name".into(), self.cluster.clone().into());
        o.insert("ei".into(), ei.into());
        o.insert("event".into(), event.into());
        o.insert("time".into(), rfc3339_nano(self.time(ei)).into());
        if let Some(code) = code {
            o.insert("code".into(), code.into());
            o.insert("uid".into(), self.uid(ei).into());
            for key in SUBJECT {
                if let Some(v) = self.audit[0].json.get(key) {
                    o.insert(key.into(), v.clone());
                }
            }
        }
        o
    }

    fn resize(&self, ei: u64) -> Map<String, Value> {
        let mut o = self.head(ei, "resize", Some("T2002I"));
        o.insert("size".into(), "120:40".into());
        o
    }

    fn command(&self, ei: u64) -> Map<String, Value> {
        let mut o = self.head(ei, "session.command", Some("T4000I"));
        let (path, argv) = COMMANDS[(ei / 8) as usize % COMMANDS.len()];
        let program = path.rsplit('/').next().unwrap_or(path);
        let pid = 20_000 + ei % 10_000;
        o.insert("cgroup_id".into(), 4_123.into());
        o.insert("program".into(), program.into());
        o.insert("pid".into(), pid.into());
        o.insert("ppid".into(), 19_999.into());
        o.insert("path".into(), path.into());
        o.insert(
            "argv".into(),
            Value::Array(argv.iter().map(|a| Value::from(*a)).collect()),
        );
        o.insert("return_code".into(), 0.into());
        o
    }

    /// The index among `print`s of event `ei` (a print).
    fn chunk_index(&self, ei: u64) -> u64 {
        // Prints start at 3; with enhanced recording, the multiples of 8 are commands.
        let commands = if self.plan.enhanced { (ei - 1) / 8 } else { 0 };
        ei - 3 - commands
    }

    fn print(&self, ei: u64) -> Map<String, Value> {
        let script = SCRIPTS[self.plan.script % SCRIPTS.len()];
        let ci = self.chunk_index(ei);
        let period = script.len() as u64;
        let line = script[(ci % period) as usize];
        let per_period: u64 = script.iter().map(|l| l.len() as u64).sum();
        let before: u64 = script[..(ci % period) as usize]
            .iter()
            .map(|l| l.len() as u64)
            .sum();
        let offset = ci / period * per_period + before;
        let ms = (self.time(ei) - self.audit[0].time).max(0) / MILLI;
        let mut o = self.head(ei, "print", None);
        o.insert("ci".into(), ci.into());
        o.insert("bytes".into(), line.len().into());
        o.insert("ms".into(), ms.into());
        o.insert("offset".into(), offset.into());
        o.insert("data".into(), STANDARD.encode(line).into());
        o
    }
}

/// Programs a session with enhanced recording runs (`path`, `argv`).
const COMMANDS: [(&str, &[&str]); 4] = [
    ("/usr/bin/ls", &["ls", "-la", "/var/log"]),
    ("/usr/bin/cat", &["cat", "/etc/hostname"]),
    ("/usr/bin/systemctl", &["systemctl", "status", "nginx"]),
    ("/usr/bin/df", &["df", "-h", "/"]),
];

/// Terminal output the `print`s replay, line by line (echoed input, output, prompts, escape
/// sequences and a byte that is not UTF-8: a terminal sends any bytes).
const SCRIPTS: [&[&[u8]]; 3] = [
    &[
        b"\x1b[?2004hubuntu@web-1:~$ ",
        b"uptime\r\n",
        b" 10:42:01 up 12 days,  3:04,  1 user,  load average: 0.08, 0.03, 0.01\r\n",
        b"\x1b[?2004hubuntu@web-1:~$ ",
        b"df -h /\r\n",
        b"Filesystem      Size  Used Avail Use% Mounted on\r\n/dev/nvme0n1p1   80G   31G   50G  39% /\r\n",
        b"\x1b[?2004hubuntu@web-1:~$ ",
        b"sudo systemctl restart nginx\r\n",
    ],
    &[
        b"root@db-2:~# ",
        b"psql -c 'select count(*) from orders'\r\n",
        b" count \r\n-------\r\n 48213\r\n(1 row)\r\n\r\n",
        b"root@db-2:~# ",
        b"tail -n 2 /var/log/syslog\r\n",
        b"Nov 14 10:42:07 db-2 systemd[1]: Started Daily apt upgrade.\r\nNov 14 10:42:09 db-2 kernel: \xff\xfe raw bytes\r\n",
    ],
    &[
        b"deploy@ci-runner:~$ ",
        b"kubectl get pods -n payments\r\n",
        b"NAME                        READY   STATUS    RESTARTS   AGE\r\npayments-api-7d9c6b5f-x2l4q   1/1     Running   0          3d\r\n",
        b"deploy@ci-runner:~$ ",
        b"echo \xe2\x9c\x93 done\r\n",
        b"\xe2\x9c\x93 done\r\n",
    ],
];

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(time: Nanos, event: &str, ei: i64) -> AuditCopy {
        let json: Value = serde_json::json!({
            "cluster_name": "sim", "code": "T2000I", "ei": ei, "event": event,
            "time": rfc3339_nano(time), "uid": format!("uid-{event}"), "user": "alice",
            "login": "root", "sid": "s-1", "namespace": "default", "server_id": "srv",
        });
        AuditCopy {
            time,
            json: json.as_object().cloned().unwrap_or_default(),
        }
    }

    fn recording(len: u64, enhanced: bool) -> Recording {
        let plan = Plan {
            kind: RecordingKind::Small,
            len,
            served: len,
            enhanced,
            script: 1,
        };
        let t0 = 1_700_000_000_000_000_000;
        Recording::new(
            7,
            Uid::v4([3; 16]),
            "sim",
            plan,
            [
                audit(t0, "session.start", 0),
                audit(t0 + 2_000_000_000, "session.join", 1),
                audit(t0 + 60_000_000_000, "session.leave", 2),
                audit(t0 + 61_000_000_000, "session.end", 3),
            ],
        )
    }

    #[test]
    fn layout_indices_and_audit_copies() {
        for enhanced in [false, true] {
            let r = recording(40, enhanced);
            let types: Vec<String> = (0..40)
                .map(|ei| r.event(ei)["event"].as_str().unwrap_or("").to_string())
                .collect();
            assert_eq!(types[0], "session.start");
            assert_eq!(types[1], "resize");
            assert_eq!(types[2], "session.join");
            assert_eq!(types[38], "session.leave");
            assert_eq!(types[39], "session.end");
            let commands = types.iter().filter(|t| *t == "session.command").count();
            assert_eq!(commands, if enhanced { 4 } else { 0 }, "8, 16, 24, 32");
            for ei in 0..40 {
                let e = r.event(ei);
                assert_eq!(e["ei"], ei, "{e:?}");
                let print = e["event"] == "print";
                assert_eq!(e.contains_key("uid"), !print, "{e:?}");
                assert_eq!(e.contains_key("code"), !print, "{e:?}");
                assert_eq!(e.contains_key("sid"), !print, "{e:?}");
                assert_eq!(e["time"], rfc3339_nano(r.time(ei)));
            }
            assert_eq!(r.event(0)["uid"], "uid-session.start", "the audit copy");
            assert_eq!(r.event(39)["uid"], "uid-session.end");
        }
    }

    #[test]
    fn prints_count_chunks_offsets_and_delays_without_gaps() {
        for enhanced in [false, true] {
            let r = recording(200, enhanced);
            let (mut ci, mut offset, mut last_ms, mut last_time) = (0, 0, 0, 0);
            for ei in 0..200 {
                let t = r.time(ei);
                assert!(t >= last_time, "time goes back at {ei}");
                assert_eq!(t % MILLI, 0);
                last_time = t;
                let e = r.event(ei);
                if e["event"] != "print" {
                    continue;
                }
                assert_eq!(e["ci"], ci, "ei {ei}");
                assert_eq!(e["offset"], offset, "ei {ei}");
                let data = STANDARD
                    .decode(e["data"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                assert_eq!(e["bytes"], data.len() as u64);
                assert!(!data.is_empty());
                let ms = e["ms"].as_u64().unwrap_or(0);
                assert!(ms >= last_ms);
                last_ms = ms;
                ci += 1;
                offset += data.len() as u64;
            }
            assert!(ci > 150, "{ci}");
        }
    }

    #[test]
    fn sessions_series_has_one_of_each_special_kind_first_then_small() {
        for seed in 0..8 {
            let kinds: Vec<_> = (0..10).map(|g| kind(seed, SESSIONS_SALT, g)).collect();
            assert_eq!(kinds[0], RecordingKind::Large);
            let mut specials = kinds[1..5].to_vec();
            specials.sort_by_key(|k| format!("{k:?}"));
            assert_eq!(
                specials,
                [
                    RecordingKind::Corrupt,
                    RecordingKind::Empty,
                    RecordingKind::Late,
                    RecordingKind::Missing
                ]
            );
            assert!(kinds[5..].iter().all(|k| *k == RecordingKind::Small));
        }
    }

    #[test]
    fn plans_follow_the_kind() {
        let large = plan(1, SESSIONS_SALT, 0, 100_000);
        assert_eq!((large.len, large.served), (100_000, 100_000));
        assert_eq!(plan(1, SESSIONS_SALT, 0, 2).len, MIN_LEN);
        for g in 1..5 {
            let p = plan(1, SESSIONS_SALT, g, 100_000);
            match p.kind {
                RecordingKind::Missing | RecordingKind::Empty => assert_eq!(p.len, 0),
                RecordingKind::Corrupt => {
                    assert!(p.len >= 20);
                    assert_eq!(p.served, p.len / 2);
                }
                RecordingKind::Late => assert!(p.len >= 20 && p.served == p.len),
                k => panic!("{k:?}"),
            }
        }
        let small = plan(1, SESSIONS_SALT, 9, 100_000);
        assert!((20..=80).contains(&small.len));
        let live: Vec<_> = (0..400).map(|g| kind(1, 3, g)).collect();
        assert!(!live.contains(&RecordingKind::Large));
        assert!(live.iter().filter(|k| **k == RecordingKind::Small).count() > 300);
    }
}
