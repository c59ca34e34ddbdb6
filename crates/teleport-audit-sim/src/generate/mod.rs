//! Realistic generated audit events, each a pure function of `(seed, series salt, index)`.
//!
//! Events come in groups of [`GROUP_LEN`] consecutive indices. A group is an SSH session, a
//! Kubernetes burst, an application or database session, a desktop session, an access request
//! flow, or unrelated one-off events; the members of a session share its `sid`, user and
//! server, and carry increasing `ei`. Event types and codes are Teleport's (`lib/events/api.go`,
//! `lib/events/codes.go`); field names follow Teleport's JSON.

mod families;
mod pools;
pub(crate) mod recording;

use crate::det::{Draw, hash_words};
use crate::json::Nanos;
use crate::uid::Uid;

/// Consecutive indices forming one group (one session, one flow...).
pub(crate) const GROUP_LEN: u64 = 8;

const PURPOSE_UID: u64 = 1;
const PURPOSE_GROUP: u64 = 2;
const PURPOSE_MISC: u64 = 3;
const PURPOSE_EVENT: u64 = 4;
const PURPOSE_SID_MASK: u64 = 5;
const PURPOSE_SID_CHECK: u64 = 6;
const PURPOSE_OUTCOME: u64 = 7;
/// Share of events that record a failure (where the kind has a failure code).
const FAILURE_RATE: f64 = 0.12;

/// Salt of the series of recorded sessions (`SimClusterBuilder::sessions`): every group of it
/// is a recorded SSH session.
pub(crate) const SESSIONS_SALT: u64 = 0xfffd;
/// Set in the salt of a live series generated while recordings are on: its SSH sessions are
/// recorded (they end with a `session.upload`). Live salts below it count up from 1.
pub(crate) const RECORDED_LIVE: u64 = 0x8000;
/// Position of the `session.upload` event in a recorded group.
pub(crate) const UPLOAD_POS: u64 = 6;
/// Positions of the audit copies of the recording's `session.start`, `session.join`,
/// `session.leave` and `session.end` in a recorded group.
pub(crate) const RECORDED_POS: [u64; 4] = [0, 1, 3, 5];
/// `ei` of `session.upload` events (Teleport's `SessionUploadIndex`, `math.MaxInt32`).
pub(crate) const UPLOAD_EI: i64 = i32::MAX as i64;

/// What one generated event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    UserLoginLocal,
    UserLoginSso,
    AuthFailure,
    SessionStart,
    SessionJoin,
    Exec,
    SessionLeave,
    SessionEnd,
    SessionUpload,
    KubeRequest,
    AppSessionStart,
    AppSessionChunk,
    AppSessionRequest,
    AppSessionEnd,
    DbSessionStart,
    DbSessionQuery,
    DbSessionEnd,
    DesktopSessionStart,
    DesktopSessionEnd,
    AccessRequestCreate,
    AccessRequestReview,
    AccessRequestUpdate,
    RoleCreated,
    RoleUpdated,
    RoleDeleted,
    UserCreate,
    UserUpdate,
    UserDelete,
    LockCreated,
    LockDeleted,
    JoinTokenCreate,
    BotCreate,
    BotUpdate,
    BotDelete,
    CertCreate,
    BotJoin,
    InstanceJoin,
    Unknown,
}

impl Kind {
    /// Every kind (for tests and documentation).
    #[cfg(test)]
    pub(crate) const ALL: [Kind; 38] = [
        Kind::UserLoginLocal,
        Kind::UserLoginSso,
        Kind::AuthFailure,
        Kind::SessionStart,
        Kind::SessionJoin,
        Kind::Exec,
        Kind::SessionLeave,
        Kind::SessionEnd,
        Kind::SessionUpload,
        Kind::KubeRequest,
        Kind::AppSessionStart,
        Kind::AppSessionChunk,
        Kind::AppSessionRequest,
        Kind::AppSessionEnd,
        Kind::DbSessionStart,
        Kind::DbSessionQuery,
        Kind::DbSessionEnd,
        Kind::DesktopSessionStart,
        Kind::DesktopSessionEnd,
        Kind::AccessRequestCreate,
        Kind::AccessRequestReview,
        Kind::AccessRequestUpdate,
        Kind::RoleCreated,
        Kind::RoleUpdated,
        Kind::RoleDeleted,
        Kind::UserCreate,
        Kind::UserUpdate,
        Kind::UserDelete,
        Kind::LockCreated,
        Kind::LockDeleted,
        Kind::JoinTokenCreate,
        Kind::BotCreate,
        Kind::BotUpdate,
        Kind::BotDelete,
        Kind::CertCreate,
        Kind::BotJoin,
        Kind::InstanceJoin,
        Kind::Unknown,
    ];

    /// The `event` field.
    pub(crate) fn event_type(self) -> &'static str {
        match self {
            Kind::UserLoginLocal | Kind::UserLoginSso => "user.login",
            Kind::AuthFailure => "auth",
            Kind::SessionStart => "session.start",
            Kind::SessionJoin => "session.join",
            Kind::Exec => "exec",
            Kind::SessionLeave => "session.leave",
            Kind::SessionEnd => "session.end",
            Kind::SessionUpload => "session.upload",
            Kind::KubeRequest => "kube.request",
            Kind::AppSessionStart => "app.session.start",
            Kind::AppSessionChunk => "app.session.chunk",
            Kind::AppSessionRequest => "app.session.request",
            Kind::AppSessionEnd => "app.session.end",
            Kind::DbSessionStart => "db.session.start",
            Kind::DbSessionQuery => "db.session.query",
            Kind::DbSessionEnd => "db.session.end",
            Kind::DesktopSessionStart => "windows.desktop.session.start",
            Kind::DesktopSessionEnd => "windows.desktop.session.end",
            Kind::AccessRequestCreate => "access_request.create",
            Kind::AccessRequestReview => "access_request.review",
            Kind::AccessRequestUpdate => "access_request.update",
            Kind::RoleCreated => "role.created",
            Kind::RoleUpdated => "role.updated",
            Kind::RoleDeleted => "role.deleted",
            Kind::UserCreate => "user.create",
            Kind::UserUpdate => "user.update",
            Kind::UserDelete => "user.delete",
            Kind::LockCreated => "lock.created",
            Kind::LockDeleted => "lock.deleted",
            Kind::JoinTokenCreate => "join_token.create",
            Kind::BotCreate => "bot.create",
            Kind::BotUpdate => "bot.update",
            Kind::BotDelete => "bot.delete",
            Kind::CertCreate => "cert.create",
            Kind::BotJoin => "bot.join",
            Kind::InstanceJoin => "instance.join",
            Kind::Unknown => "unknown",
        }
    }

    /// The `event` field of an event of this kind that succeeded (`ok`) or failed: a failed
    /// database query is its own type in Teleport.
    pub(crate) fn event_type_for(self, ok: bool) -> &'static str {
        match self {
            Kind::DbSessionQuery if !ok => "db.session.query.failed",
            kind => kind.event_type(),
        }
    }

    /// Every code this kind may carry (success first).
    #[cfg(test)]
    pub(crate) fn codes(self) -> &'static [&'static str] {
        families::codes(self)
    }
}

/// The shape of a group: what each of its [`GROUP_LEN`] positions holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupKind {
    Ssh,
    /// An SSH session with a recording: its audit events end with a `session.upload`.
    Recorded,
    Kube,
    App,
    Db,
    Desktop,
    AccessRequest,
    Misc,
}

/// One position of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// A member of the group's session (shares its `sid`; `ei` counts these).
    Session(Kind),
    /// Shares the group's user and subject, but no session.
    Shared(Kind),
    /// An unrelated event.
    Misc,
}

use Kind as K;
use Slot::{Misc, Session as S, Shared};

impl GroupKind {
    fn draw(seed: u64, salt: u64, group: u64) -> GroupKind {
        if salt == SESSIONS_SALT {
            return GroupKind::Recorded;
        }
        match GroupKind::draw_plain(seed, salt, group) {
            GroupKind::Ssh if salt & RECORDED_LIVE != 0 && salt < SESSIONS_SALT => {
                GroupKind::Recorded
            }
            kind => kind,
        }
    }

    fn draw_plain(seed: u64, salt: u64, group: u64) -> GroupKind {
        const TABLE: [(GroupKind, u64); 7] = [
            (GroupKind::Ssh, 22),
            (GroupKind::Kube, 10),
            (GroupKind::App, 10),
            (GroupKind::Db, 12),
            (GroupKind::Desktop, 6),
            (GroupKind::AccessRequest, 8),
            (GroupKind::Misc, 32),
        ];
        weighted(&mut Draw::new(&[seed, salt, group, PURPOSE_GROUP]), &TABLE)
    }

    fn slots(self) -> [Slot; GROUP_LEN as usize] {
        match self {
            GroupKind::Ssh => [
                S(K::SessionStart),
                S(K::Exec),
                S(K::SessionJoin),
                S(K::Exec),
                S(K::Exec),
                S(K::SessionLeave),
                S(K::SessionEnd),
                Misc,
            ],
            GroupKind::Recorded => [
                S(K::SessionStart),
                S(K::SessionJoin),
                Misc,
                S(K::SessionLeave),
                Misc,
                S(K::SessionEnd),
                S(K::SessionUpload),
                Misc,
            ],
            GroupKind::Kube => [
                Shared(K::KubeRequest),
                Shared(K::KubeRequest),
                Misc,
                Shared(K::KubeRequest),
                Shared(K::KubeRequest),
                Misc,
                Shared(K::KubeRequest),
                Shared(K::KubeRequest),
            ],
            GroupKind::App => [
                S(K::AppSessionStart),
                S(K::AppSessionChunk),
                S(K::AppSessionRequest),
                S(K::AppSessionRequest),
                S(K::AppSessionRequest),
                S(K::AppSessionChunk),
                S(K::AppSessionEnd),
                Misc,
            ],
            GroupKind::Db => [
                S(K::DbSessionStart),
                S(K::DbSessionQuery),
                S(K::DbSessionQuery),
                S(K::DbSessionQuery),
                S(K::DbSessionQuery),
                S(K::DbSessionQuery),
                S(K::DbSessionEnd),
                Misc,
            ],
            GroupKind::Desktop => [
                S(K::DesktopSessionStart),
                Misc,
                Misc,
                Misc,
                Misc,
                Misc,
                S(K::DesktopSessionEnd),
                Misc,
            ],
            GroupKind::AccessRequest => [
                Shared(K::AccessRequestCreate),
                Misc,
                Misc,
                Shared(K::AccessRequestReview),
                Misc,
                Shared(K::AccessRequestUpdate),
                Misc,
                Misc,
            ],
            GroupKind::Misc => [Misc; GROUP_LEN as usize],
        }
    }
}

fn weighted<T: Copy>(draw: &mut Draw, table: &[(T, u64)]) -> T {
    let total: u64 = table.iter().map(|(_, w)| w).sum();
    let mut ticket = draw.below(total);
    for &(item, weight) in table {
        if ticket < weight {
            return item;
        }
        ticket -= weight;
    }
    table[table.len() - 1].0
}

fn misc_kind(seed: u64, salt: u64, idx: u64) -> Kind {
    const TABLE: [(Kind, u64); 20] = [
        (K::UserLoginLocal, 14),
        (K::UserLoginSso, 12),
        (K::AuthFailure, 8),
        (K::KubeRequest, 10),
        (K::RoleCreated, 3),
        (K::RoleUpdated, 4),
        (K::RoleDeleted, 2),
        (K::UserCreate, 3),
        (K::UserUpdate, 3),
        (K::UserDelete, 2),
        (K::LockCreated, 2),
        (K::LockDeleted, 1),
        (K::JoinTokenCreate, 3),
        (K::BotCreate, 1),
        (K::BotUpdate, 1),
        (K::BotDelete, 1),
        (K::CertCreate, 14),
        (K::BotJoin, 5),
        (K::InstanceJoin, 6),
        (K::Unknown, 1),
    ];
    weighted(&mut Draw::new(&[seed, salt, idx, PURPOSE_MISC]), &TABLE)
}

/// Where an index sits: its kind, and its session (group and `ei`) when it belongs to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) kind: Kind,
    /// Whether the event records a success (kinds with a failure code fail now and then).
    pub(crate) ok: bool,
    /// `Some(ei)` for a member of the group's session.
    pub(crate) session_ei: Option<i64>,
    shared: bool,
}

impl Placement {
    /// The event's `event` field.
    pub(crate) fn event_type(&self) -> &'static str {
        self.kind.event_type_for(self.ok)
    }
}

/// Places index `idx` of series `salt`. Cheap: no text is built.
pub(crate) fn placement(seed: u64, salt: u64, idx: u64) -> Placement {
    let group = idx / GROUP_LEN;
    let pos = (idx % GROUP_LEN) as usize;
    let slots = GroupKind::draw(seed, salt, group).slots();
    let ok = !Draw::new(&[seed, salt, idx, PURPOSE_OUTCOME]).chance(FAILURE_RATE);
    match slots[pos] {
        Slot::Session(K::SessionUpload) => Placement {
            kind: K::SessionUpload,
            ok,
            session_ei: Some(UPLOAD_EI),
            shared: true,
        },
        Slot::Session(kind) => {
            let ei = slots[..pos]
                .iter()
                .filter(|s| matches!(s, Slot::Session(_)))
                .count() as i64;
            Placement {
                kind,
                ok,
                session_ei: Some(ei),
                shared: true,
            }
        }
        Slot::Shared(kind) => Placement {
            kind,
            ok,
            session_ei: None,
            shared: true,
        },
        Slot::Misc => Placement {
            kind: misc_kind(seed, salt, idx),
            ok,
            session_ei: None,
            shared: false,
        },
    }
}

/// The indices (within group `group`) that belong to its session, if it has one.
pub(crate) fn session_members(seed: u64, salt: u64, group: u64) -> Vec<u64> {
    GroupKind::draw(seed, salt, group)
        .slots()
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Slot::Session(_)))
        .map(|(pos, _)| group * GROUP_LEN + pos as u64)
        .collect()
}

/// Whether group `group` of series `salt` is a recorded SSH session (its audit events end
/// with a `session.upload`, and it has a recording).
pub(crate) fn is_recorded(seed: u64, salt: u64, group: u64) -> bool {
    GroupKind::draw(seed, salt, group) == GroupKind::Recorded
}

/// The event id of index `idx` of series `salt`.
pub(crate) fn uid(seed: u64, salt: u64, idx: u64) -> Uid {
    Uid::v4(Draw::new(&[seed, salt, idx, PURPOSE_UID]).bytes16())
}

/// The session id of group `group` of series `salt`: UUID-shaped, and reversible with
/// [`decode_sid`] so a session can be found without any index.
pub(crate) fn sid(seed: u64, salt: u64, group: u64) -> Uid {
    let payload = (salt << 48) | (group & 0xffff_ffff_ffff);
    let x = payload ^ hash_words(&[seed, PURPOSE_SID_MASK]);
    let check = hash_words(&[seed, payload, PURPOSE_SID_CHECK]).to_be_bytes();
    let xb = x.to_be_bytes();
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&xb[..4]);
    bytes[4..12].copy_from_slice(&check);
    bytes[12..].copy_from_slice(&xb[4..]);
    Uid::v4(bytes)
}

/// The `(salt, group)` a generated session id stands for, or `None` for any other id.
pub(crate) fn decode_sid(seed: u64, sid: &Uid) -> Option<(u64, u64)> {
    let b = sid.0;
    let mut xb = [0u8; 8];
    xb[..4].copy_from_slice(&b[..4]);
    xb[4..].copy_from_slice(&b[12..]);
    let payload = u64::from_be_bytes(xb) ^ hash_words(&[seed, PURPOSE_SID_MASK]);
    let (salt, group) = (payload >> 48, payload & 0xffff_ffff_ffff);
    (self::sid(seed, salt, group) == *sid).then_some((salt, group))
}

/// What the JSON writer needs to know about one generated event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GenInput<'a> {
    pub(crate) seed: u64,
    pub(crate) salt: u64,
    pub(crate) idx: u64,
    pub(crate) time: Nanos,
    /// Time of the first event of the group (a session's start).
    pub(crate) group_start: Nanos,
    pub(crate) cluster: &'a str,
}

/// One generated event: its JSON text and what the store indexes it by.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    pub(crate) json: String,
    pub(crate) ei: i64,
}

/// Writes the JSON of one generated event.
pub(crate) fn generate(input: &GenInput<'_>) -> Generated {
    let place = placement(input.seed, input.salt, input.idx);
    let group = input.idx / GROUP_LEN;
    let group_draw = if place.shared {
        Draw::new(&[input.seed, input.salt, group, PURPOSE_GROUP, 1])
    } else {
        Draw::new(&[input.seed, input.salt, input.idx, PURPOSE_GROUP, 2])
    };
    let sid = sid(input.seed, input.salt, group);
    let ctx = families::Ctx {
        input,
        kind: place.kind,
        ok: place.ok,
        ei: place.session_ei.unwrap_or(0),
        uid: uid(input.seed, input.salt, input.idx),
        sid,
        group: group_draw,
        own: Draw::new(&[input.seed, input.salt, input.idx, PURPOSE_EVENT]),
    };
    Generated {
        json: families::write(ctx),
        ei: place.session_ei.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn input(idx: u64) -> GenInput<'static> {
        GenInput {
            seed: 9,
            salt: 0,
            idx,
            time: 1_700_000_000_000_000_000 + idx as i64 * 1_000_000,
            group_start: 1_700_000_000_000_000_000
                + (idx / GROUP_LEN * GROUP_LEN) as i64 * 1_000_000,
            cluster: "sim.teleport.test",
        }
    }

    #[test]
    fn every_event_is_valid_json_with_teleport_common_fields() {
        let mut seen = BTreeSet::new();
        // The backlog's series, then a few recorded sessions (the only `session.upload`s).
        let cases = (0..20_000)
            .map(|idx| (0, idx))
            .chain((0..200).map(|idx| (SESSIONS_SALT, idx)));
        for (salt, idx) in cases {
            let mut at = input(idx);
            at.salt = salt;
            let g = generate(&at);
            let v: serde_json::Value = serde_json::from_str(&g.json)
                .unwrap_or_else(|e| panic!("index {idx}: {e}: {}", g.json));
            let place = placement(9, salt, idx);
            assert_eq!(v["event"], place.event_type(), "{}", g.json);
            let code = v["code"].as_str().unwrap();
            assert!(
                place.kind.codes().contains(&code),
                "{code} for {:?}",
                place.kind
            );
            assert_eq!(v["uid"], uid(9, salt, idx).to_string());
            assert_eq!(v["cluster_name"], "sim.teleport.test");
            assert_eq!(v["ei"], g.ei);
            assert_eq!(v["time"], crate::json::rfc3339_nano(at.time));
            seen.insert(place.event_type());
        }
        let all: BTreeSet<_> = Kind::ALL
            .iter()
            .flat_map(|k| [k.event_type_for(true), k.event_type_for(false)])
            .collect();
        assert_eq!(seen, all, "20k events cover every family");
    }

    #[test]
    fn recorded_sessions_end_with_an_upload_and_only_where_recordings_are_on() {
        let uploads = |salt: u64| {
            (0..4_000)
                .filter(|&idx| placement(9, salt, idx).kind == Kind::SessionUpload)
                .collect::<Vec<_>>()
        };
        assert!(uploads(0).is_empty(), "recordings off: no upload");
        assert!(uploads(3).is_empty());
        let live = uploads(3 | RECORDED_LIVE);
        assert!(live.len() > 50, "{}", live.len());
        let sessions = uploads(SESSIONS_SALT);
        assert_eq!(sessions.len(), 500, "one per group");
        let recorded = sessions
            .into_iter()
            .map(|idx| (SESSIONS_SALT, idx))
            .chain(live.into_iter().map(|idx| (3 | RECORDED_LIVE, idx)));
        for (salt, idx) in recorded {
            assert_eq!(idx % GROUP_LEN, UPLOAD_POS);
            let group = idx / GROUP_LEN;
            assert!(is_recorded(9, salt, group));
            let mut at = input(idx);
            at.salt = salt;
            let v: serde_json::Value = serde_json::from_str(&generate(&at).json).unwrap();
            assert_eq!(v["code"], "T2005I");
            assert_eq!(v["ei"], UPLOAD_EI);
            let sid = sid(9, salt, group).to_string();
            assert_eq!(v["sid"], sid.as_str());
            assert_eq!(
                v["url"],
                format!("file:///var/lib/teleport/log/records/{sid}.tar")
            );
            for pos in RECORDED_POS {
                let member = placement(9, salt, group * GROUP_LEN + pos);
                assert!(member.session_ei.is_some(), "{member:?}");
            }
        }
    }

    #[test]
    fn every_code_is_in_teleports_catalogue_for_its_type() {
        for kind in Kind::ALL {
            for (i, code) in kind.codes().iter().enumerate() {
                let info = teleport_audit_types::codes::lookup(code)
                    .unwrap_or_else(|| panic!("{code} ({kind:?}) is not in the catalogue"));
                if kind == Kind::Unknown {
                    continue;
                }
                // Codes are listed success first, then failure.
                let event_type = kind.event_type_for(i == 0 || kind.codes().len() == 1);
                assert_eq!(info.event_type, event_type, "{code}");
                assert!(
                    teleport_audit_types::codes::is_known(event_type, code),
                    "{code}"
                );
            }
        }
    }

    #[test]
    fn generation_is_deterministic() {
        for idx in [0, 1, 7, 8, 12_345] {
            assert_eq!(generate(&input(idx)).json, generate(&input(idx)).json);
        }
        let mut other = input(5);
        other.seed = 10;
        assert_ne!(generate(&input(5)).json, generate(&other).json);
    }

    #[test]
    fn session_members_share_sid_and_count_ei() {
        let mut sessions = 0;
        for group in 0..200 {
            let members = session_members(9, 0, group);
            if members.is_empty() {
                continue;
            }
            sessions += 1;
            let expected_sid = sid(9, 0, group).to_string();
            for (n, idx) in members.iter().enumerate() {
                let v: serde_json::Value =
                    serde_json::from_str(&generate(&input(*idx)).json).unwrap();
                assert_eq!(v["sid"], expected_sid.as_str());
                assert_eq!(v["ei"], n as i64);
            }
        }
        assert!(sessions > 50, "{sessions}");
    }

    #[test]
    fn sids_decode_back_to_their_group_and_nothing_else_does() {
        for salt in [0, 1, 77] {
            for group in [0, 1, 99, 1 << 40] {
                assert_eq!(decode_sid(9, &sid(9, salt, group)), Some((salt, group)));
                assert_eq!(decode_sid(8, &sid(9, salt, group)), None);
            }
        }
        assert_eq!(decode_sid(9, &uid(9, 0, 3)), None);
    }
}
