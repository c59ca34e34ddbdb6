//! The JSON of each event kind, with Teleport's field names.

use super::Kind;
use super::pools::*;
use crate::det::Draw;
use crate::json::{JsonObject, NANOS_PER_SEC, rfc3339_nano};
use crate::uid::Uid;

/// Go's zero time, as Teleport writes never-expiring resources.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

pub(super) struct Ctx<'a> {
    pub(super) input: &'a super::GenInput<'a>,
    pub(super) kind: Kind,
    pub(super) ok: bool,
    pub(super) ei: i64,
    pub(super) uid: Uid,
    pub(super) sid: Uid,
    /// Draws shared by the whole group (user, server, resource).
    pub(super) group: Draw,
    /// Draws for this event only.
    pub(super) own: Draw,
}

/// Every code a kind may carry, success first.
pub(super) fn codes(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::UserLoginLocal => &["T1000I", "T1000W"],
        Kind::UserLoginSso => &["T1001I", "T1001W"],
        Kind::AuthFailure => &["T3007W"],
        Kind::SessionStart => &["T2000I"],
        Kind::SessionJoin => &["T2001I"],
        Kind::Exec => &["T3002I", "T3002E"],
        Kind::SessionLeave => &["T2003I"],
        Kind::SessionEnd => &["T2004I"],
        Kind::SessionUpload => &["T2005I"],
        Kind::KubeRequest => &["T3009I"],
        Kind::AppSessionStart => &["T2007I"],
        Kind::AppSessionChunk => &["T2008I"],
        Kind::AppSessionRequest => &["T2009I"],
        Kind::AppSessionEnd => &["T2011I"],
        Kind::DbSessionStart => &["TDB00I", "TDB00W"],
        Kind::DbSessionQuery => &["TDB02I", "TDB02W"],
        Kind::DbSessionEnd => &["TDB01I"],
        Kind::DesktopSessionStart => &["TDP00I", "TDP00W"],
        Kind::DesktopSessionEnd => &["TDP01I"],
        Kind::AccessRequestCreate => &["T5000I"],
        Kind::AccessRequestReview => &["T5002I"],
        Kind::AccessRequestUpdate => &["T5001I"],
        Kind::RoleCreated => &["T9000I"],
        Kind::RoleUpdated => &["T9002I"],
        Kind::RoleDeleted => &["T9001I"],
        Kind::UserCreate => &["T1002I"],
        Kind::UserUpdate => &["T1003I"],
        Kind::UserDelete => &["T1004I"],
        Kind::LockCreated => &["TLK00I"],
        Kind::LockDeleted => &["TLK01I"],
        Kind::JoinTokenCreate => &["TJT00I"],
        Kind::BotCreate => &["TB001I"],
        Kind::BotUpdate => &["TB002I"],
        Kind::BotDelete => &["TB003I"],
        Kind::CertCreate => &["TC000I"],
        Kind::BotJoin => &["TJ001I", "TJ001E"],
        Kind::InstanceJoin => &["TJ002I", "TJ002E"],
        Kind::Unknown => &["TCC00E"],
    }
}

fn remote_addr(d: &mut Draw) -> String {
    let nets = ["203.0.113", "198.51.100", "192.0.2"];
    format!(
        "{}.{}:{}",
        d.pick(&nets),
        d.range(2, 254),
        d.range(32_768, 60_999)
    )
}

fn uuid(d: &mut Draw) -> String {
    Uid::v4(d.bytes16()).to_string()
}

/// The fields every event starts with.
struct Head<'a> {
    cluster: &'a str,
    event_type: &'static str,
    ei: i64,
    time: i64,
    uid: Uid,
}

/// Writes the common fields and returns the object to complete.
fn common(head: &Head<'_>, code: &str) -> JsonObject {
    let mut o = JsonObject::new();
    o.str("cluster_name", head.cluster)
        .str("code", code)
        .int("ei", head.ei)
        .str("event", head.event_type)
        .str("time", &rfc3339_nano(head.time))
        .str("uid", &head.uid.to_string());
    o
}

/// The group's subject: a user, a server and a client address, shared by the whole group.
struct Subject {
    user: &'static str,
    host: (&'static str, &'static str),
    server_id: String,
    login: &'static str,
    remote: String,
}

impl Subject {
    fn draw(d: &mut Draw) -> Subject {
        Subject {
            user: d.pick(USERS),
            host: d.pick(HOSTS),
            server_id: uuid(d),
            login: d.pick(LOGINS),
            remote: remote_addr(d),
        }
    }

    fn server(&self, o: &mut JsonObject) {
        o.str("server_id", &self.server_id)
            .str("server_hostname", self.host.0)
            .str("server_addr", &format!("{}:3022", self.host.1))
            .str("namespace", "default");
    }
}

pub(super) fn write(ctx: Ctx<'_>) -> String {
    let Ctx {
        input,
        kind,
        ok,
        ei,
        uid,
        sid,
        mut group,
        mut own,
    } = ctx;
    let head = Head {
        cluster: input.cluster,
        event_type: kind.event_type_for(ok),
        ei,
        time: input.time,
        uid,
    };
    let subject = Subject::draw(&mut group);
    let sid = sid.to_string();
    let d = &mut own;
    let session_start = rfc3339_nano(input.group_start);
    let time = input.time;

    let pick_code = |ok: bool| codes(kind)[usize::from(!ok && codes(kind).len() > 1)];

    match kind {
        Kind::UserLoginLocal | Kind::UserLoginSso => {
            let mut o = common(&head, pick_code(ok));
            o.str("user", subject.user);
            if kind == Kind::UserLoginLocal {
                o.str("method", "local");
            } else {
                let (method, connector) = d.pick(SSO_METHODS);
                o.str("method", method).object("attributes", |a| {
                    a.strs("groups", &["engineering", "sre"])
                        .str("connector", connector);
                });
            }
            o.bool("success", ok)
                .str("addr.remote", &subject.remote)
                .str("user_agent", d.pick(USER_AGENTS))
                .str("required_private_key_policy", "none")
                .int("user_kind", 1);
            if ok {
                let (name, kind) = d.pick(MFA_DEVICES);
                let device = uuid(d);
                o.object("mfa_device", |m| {
                    m.str("mfa_device_name", name)
                        .str("mfa_device_uuid", &device)
                        .str("mfa_device_type", kind);
                });
            } else {
                o.str("error", d.pick(LOGIN_ERRORS))
                    .str("message", "login failed");
            }
            o.finish()
        }
        Kind::AuthFailure => {
            let mut o = common(&head, pick_code(false));
            o.str("user", subject.user)
                .bool("success", false)
                .str("error", d.pick(AUTH_ERRORS))
                .str("addr.remote", &subject.remote);
            o.finish()
        }
        Kind::SessionStart => {
            let mut o = common(&head, pick_code(true));
            o.str("user", subject.user)
                .str("login", subject.login)
                .str("sid", &sid)
                .str("addr.local", &format!("{}:3022", subject.host.1))
                .str("addr.remote", &subject.remote)
                .str("proto", "ssh")
                .str("size", "80:25")
                .str("session_recording", "node")
                .str("private_key_policy", "none")
                .int("user_kind", 1);
            subject.server(&mut o);
            o.object("server_labels", |l| {
                l.str("env", "prod").str("team", "platform");
            });
            o.finish()
        }
        Kind::Exec => {
            let mut o = common(&head, pick_code(ok));
            o.str("user", subject.user)
                .str("login", subject.login)
                .str("sid", &sid)
                .str("command", d.pick(COMMANDS))
                .str("exitCode", if ok { "0" } else { "1" })
                .str("addr.local", &format!("{}:3022", subject.host.1))
                .str("addr.remote", &subject.remote)
                .str("proto", "ssh");
            if !ok {
                o.str("exitError", "Process exited with status 1");
            }
            subject.server(&mut o);
            o.finish()
        }
        Kind::SessionJoin | Kind::SessionLeave => {
            let mut o = common(&head, pick_code(true));
            let joiner = group.clone().pick(ADMINS);
            o.str("user", joiner)
                .str("login", subject.login)
                .str("sid", &sid)
                .str("addr.remote", &remote_addr(d));
            subject.server(&mut o);
            o.finish()
        }
        Kind::SessionEnd => {
            let mut o = common(&head, pick_code(true));
            let joiner = group.clone().pick(ADMINS);
            o.str("user", subject.user)
                .str("login", subject.login)
                .str("sid", &sid)
                .strs("participants", &[subject.user, joiner])
                .str("session_start", &session_start)
                .str("session_stop", &rfc3339_nano(time))
                .bool("interactive", true)
                .bool("enhanced_recording", false)
                .str("session_recording", "node")
                .str("proto", "ssh");
            subject.server(&mut o);
            o.finish()
        }
        Kind::SessionUpload => {
            // As `GRPCServer.CreateAuditStream` emits it when an upload completes: session
            // metadata and the recording's URL, no user or server.
            let mut o = common(&head, pick_code(true));
            o.str("sid", &sid).str(
                "url",
                &format!("file:///var/lib/teleport/log/records/{sid}.tar"),
            );
            o.finish()
        }
        Kind::KubeRequest => {
            let mut o = common(&head, pick_code(true));
            let (verb, path, resource, namespace, name) = d.pick(KUBE_REQUESTS);
            let status = if d.chance(0.1) { 403 } else { 200 };
            o.str("user", subject.user)
                .str("kubernetes_cluster", group.clone().pick(KUBE_CLUSTERS))
                .strs(
                    "kubernetes_users",
                    &["system:serviceaccount:default:teleport"],
                )
                .strs("kubernetes_groups", &["system:authenticated", "developers"])
                .str("verb", verb)
                .str("request_path", path)
                .str("resource_api_group", "core/v1")
                .str("resource_kind", resource)
                .str("resource_namespace", namespace)
                .str("resource_name", name)
                .int("response_code", status)
                .str("proto", "kube")
                .str("addr.remote", &subject.remote)
                .str("server_id", &subject.server_id);
            o.finish()
        }
        Kind::AppSessionStart
        | Kind::AppSessionChunk
        | Kind::AppSessionRequest
        | Kind::AppSessionEnd => {
            let mut o = common(&head, pick_code(true));
            let (app, uri, public) = group.clone().pick(APPS);
            o.str("user", subject.user)
                .str("sid", &sid)
                .str("app_name", app)
                .str("app_uri", uri)
                .str("app_public_addr", public)
                .str("server_id", &subject.server_id)
                .str("namespace", "default");
            match kind {
                Kind::AppSessionStart => {
                    o.str("addr.remote", &subject.remote)
                        .str("public_addr", public)
                        .object("app_labels", |l| {
                            l.str("env", "prod");
                        });
                }
                Kind::AppSessionChunk => {
                    o.str("session_chunk_id", &uuid(d));
                }
                Kind::AppSessionRequest => {
                    o.int("status_code", if d.chance(0.05) { 500 } else { 200 })
                        .str("path", d.pick(APP_PATHS))
                        .str("raw_query", "")
                        .str("method", d.pick(&["GET", "POST"]));
                }
                _ => {
                    o.str("addr.remote", &subject.remote);
                }
            }
            o.finish()
        }
        Kind::DbSessionStart | Kind::DbSessionQuery | Kind::DbSessionEnd => {
            let mut o = common(&head, pick_code(ok || kind == Kind::DbSessionEnd));
            let (service, protocol, uri, db_type, db_name) = group.clone().pick(DATABASES);
            o.str("user", subject.user)
                .str("sid", &sid)
                .str("db_service", service)
                .str("db_protocol", protocol)
                .str("db_uri", uri)
                .str("db_type", db_type)
                .str("db_name", db_name)
                .str("db_user", d.pick(&["app_ro", "app_rw", "postgres"]))
                .str("server_id", &subject.server_id);
            match kind {
                Kind::DbSessionStart => {
                    o.str("addr.remote", &subject.remote).bool("success", ok);
                    if !ok {
                        o.str("error", "access to db denied. User does not have permissions. Confirm database user and name.");
                    }
                }
                Kind::DbSessionQuery => {
                    o.str("db_query", d.pick(QUERIES)).bool("success", ok);
                    if !ok {
                        o.str(
                            "error",
                            "ERROR: permission denied for table users (SQLSTATE 42501)",
                        );
                    }
                }
                _ => {}
            }
            o.finish()
        }
        Kind::DesktopSessionStart | Kind::DesktopSessionEnd => {
            let start = kind == Kind::DesktopSessionStart;
            let mut o = common(&head, pick_code(ok || !start));
            let (name, addr, domain) = group.clone().pick(DESKTOPS);
            o.str("user", subject.user)
                .str("sid", &sid)
                .str("desktop_name", name)
                .str("desktop_addr", addr)
                .str("windows_domain", domain)
                .str("windows_user", group.clone().pick(WINDOWS_USERS))
                .object("desktop_labels", |l| {
                    l.str("teleport.dev/origin", "dynamic");
                });
            if start {
                o.str("addr.remote", &subject.remote).bool("success", ok);
                if !ok {
                    o.str("error", "RDP connection failed");
                }
            } else {
                o.strs("participants", &[subject.user])
                    .bool("recorded", true)
                    .str("session_start", &session_start)
                    .str("session_stop", &rfc3339_nano(time));
            }
            o.finish()
        }
        Kind::AccessRequestCreate | Kind::AccessRequestReview | Kind::AccessRequestUpdate => {
            let mut o = common(&head, pick_code(true));
            let id = uuid(&mut group.clone());
            let role = group.clone().pick(ROLES);
            o.str("user", subject.user)
                .str("id", &id)
                .strs("roles", &[role]);
            match kind {
                Kind::AccessRequestCreate => {
                    o.str("state", "PENDING")
                        .str("reason", group.clone().pick(REQUEST_REASONS))
                        .str("expires", &rfc3339_nano(time + 8 * 3600 * NANOS_PER_SEC));
                }
                Kind::AccessRequestReview => {
                    o.str("reviewer", d.pick(ADMINS))
                        .str("proposed_state", "APPROVED")
                        .str("reason", "approved for on-call");
                }
                _ => {
                    o.str("state", "APPROVED").str("updated_by", d.pick(ADMINS));
                }
            }
            o.finish()
        }
        Kind::RoleCreated | Kind::RoleUpdated | Kind::RoleDeleted => {
            let mut o = common(&head, pick_code(true));
            o.str("name", d.pick(ROLES)).str("expires", ZERO_TIME);
            if d.chance(0.4) {
                // `tctl` on the auth host acts as the host's identity, not a person.
                o.str("user", &format!("{}.{}", subject.server_id, input.cluster));
            } else {
                o.str("user", d.pick(ADMINS)).int("user_kind", 1);
            }
            o.finish()
        }
        Kind::UserCreate | Kind::UserUpdate | Kind::UserDelete => {
            let mut o = common(&head, pick_code(true));
            o.str("name", subject.user)
                .str("user", d.pick(ADMINS))
                .str("expires", ZERO_TIME);
            if kind != Kind::UserDelete {
                o.strs("roles", &[d.pick(ROLES), "access"])
                    .str("connector", "local");
            }
            o.finish()
        }
        Kind::LockCreated | Kind::LockDeleted => {
            let mut o = common(&head, pick_code(true));
            o.str("name", &uuid(d))
                .str("user", d.pick(ADMINS))
                .object("target", |t| {
                    t.str("user", subject.user);
                });
            if kind == Kind::LockCreated {
                o.str("message", "Suspicious activity, locked pending review")
                    .str("expires", &rfc3339_nano(time + 24 * 3600 * NANOS_PER_SEC));
            }
            o.finish()
        }
        Kind::JoinTokenCreate => {
            let mut o = common(&head, pick_code(true));
            o.str("name", "**********")
                .strs("roles", &["Node"])
                .str("join_method", d.pick(JOIN_METHODS))
                .str("user", d.pick(ADMINS))
                .str("expires", &rfc3339_nano(time + 3600 * NANOS_PER_SEC));
            o.finish()
        }
        Kind::BotCreate | Kind::BotUpdate | Kind::BotDelete => {
            let mut o = common(&head, pick_code(true));
            o.str("name", d.pick(BOTS))
                .str("user", d.pick(ADMINS))
                .str("expires", ZERO_TIME);
            o.finish()
        }
        Kind::CertCreate => {
            let mut o = common(&head, pick_code(true));
            let user = subject.user;
            let role = d.pick(ROLES);
            let login = subject.login;
            let expires = rfc3339_nano(time + 12 * 3600 * NANOS_PER_SEC);
            let cluster = input.cluster;
            o.str("cert_type", "user").object("identity", |i| {
                i.str("user", user)
                    .strs("roles", &[role, "access"])
                    .strs("logins", &[login, "-teleport-internal-join"])
                    .str("expires", &expires)
                    .str("route_to_cluster", cluster)
                    .str("teleport_cluster", cluster)
                    .str("private_key_policy", "none");
            });
            o.finish()
        }
        Kind::BotJoin => {
            let mut o = common(&head, pick_code(ok));
            o.str("bot_name", d.pick(BOTS))
                .str("method", d.pick(JOIN_METHODS))
                .str("token_name", "bot-join-token")
                .bool("success", ok)
                .str("addr.remote", &subject.remote);
            if !ok {
                o.str("error", "token expired or not found");
            }
            o.finish()
        }
        Kind::InstanceJoin => {
            let mut o = common(&head, pick_code(ok));
            o.str("host_id", &subject.server_id)
                .str("node_name", subject.host.0)
                .str("role", "Node")
                .str("method", d.pick(JOIN_METHODS))
                .str("token_name", "**********")
                .bool("success", ok)
                .str("addr.remote", &subject.remote);
            if !ok {
                o.str("error", "join token is invalid");
            }
            o.finish()
        }
        Kind::Unknown => {
            let mut o = common(&head, pick_code(true));
            let (unknown_type, unknown_code) = d.pick(UNKNOWN_TYPES);
            let data = format!(
                "{{\"event\":\"{unknown_type}\",\"code\":\"{unknown_code}\",\"uid\":\"{}\",\"user\":\"{}\"}}",
                uid, subject.user
            );
            o.str("unknown_type", unknown_type)
                .str("unknown_code", unknown_code)
                .str("data", &data);
            o.finish()
        }
    }
}
