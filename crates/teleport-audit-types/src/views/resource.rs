//! Changes to cluster resources: roles, users, locks, tokens, connectors, bots, access lists, ...

use time::OffsetDateTime;

use super::View;
use crate::AuditEvent;

/// A resource being created, changed or deleted.
#[derive(Debug, Clone, Copy)]
pub struct ResourceChange<'a> {
    event: &'a AuditEvent,
    kind: &'static str,
    action: ChangeAction,
}

/// What was done to the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChangeAction {
    /// Created (for locks and connectors: created or changed; Teleport does not tell apart).
    Create,
    /// Changed.
    Update,
    /// Created or replaced.
    Upsert,
    /// Deleted.
    Delete,
    /// Every resource of the kind (or every member) deleted at once.
    DeleteAll,
}

use ChangeAction::{Create, Delete, DeleteAll, Update, Upsert};

/// Event type, resource kind, action.
const CHANGES: &[(&str, &str, ChangeAction)] = &[
    ("role.created", "role", Create),
    ("role.updated", "role", Update),
    ("role.deleted", "role", Delete),
    ("user.create", "user", Create),
    ("user.update", "user", Update),
    ("user.delete", "user", Delete),
    ("lock.created", "lock", Create),
    ("lock.deleted", "lock", Delete),
    ("join_token.create", "join_token", Create),
    ("scoped_token.create", "scoped_token", Create),
    ("scoped_token.update", "scoped_token", Update),
    ("scoped_token.upsert", "scoped_token", Upsert),
    ("scoped_token.delete", "scoped_token", Delete),
    (
        "reset_password_token.create",
        "reset_password_token",
        Create,
    ),
    ("recovery_token.create", "recovery_token", Create),
    ("privilege_token.create", "privilege_token", Create),
    (
        "trusted_cluster_token.create",
        "trusted_cluster_token",
        Create,
    ),
    ("trusted_cluster.create", "trusted_cluster", Create),
    ("trusted_cluster.delete", "trusted_cluster", Delete),
    ("github.created", "github_connector", Create),
    ("github.updated", "github_connector", Update),
    ("github.deleted", "github_connector", Delete),
    ("oidc.created", "oidc_connector", Create),
    ("oidc.updated", "oidc_connector", Update),
    ("oidc.deleted", "oidc_connector", Delete),
    ("saml.created", "saml_connector", Create),
    ("saml.updated", "saml_connector", Update),
    ("saml.deleted", "saml_connector", Delete),
    ("bot.create", "bot", Create),
    ("bot.update", "bot", Update),
    ("bot.delete", "bot", Delete),
    ("access_list.create", "access_list", Create),
    ("access_list.update", "access_list", Update),
    ("access_list.delete", "access_list", Delete),
    ("access_list.member.create", "access_list_member", Create),
    ("access_list.member.update", "access_list_member", Update),
    ("access_list.member.delete", "access_list_member", Delete),
    (
        "access_list.member.delete_all_members",
        "access_list_member",
        DeleteAll,
    ),
    ("login_rule.create", "login_rule", Create),
    ("login_rule.delete", "login_rule", Delete),
    ("mfa.add", "mfa_device", Create),
    ("mfa.delete", "mfa_device", Delete),
    ("device.create", "device", Create),
    ("device.update", "device", Update),
    ("device.delete", "device", Delete),
    ("app.create", "app", Create),
    ("app.update", "app", Update),
    ("app.delete", "app", Delete),
    ("db.create", "db", Create),
    ("db.update", "db", Update),
    ("db.delete", "db", Delete),
    ("kube.create", "kube_cluster", Create),
    ("kube.update", "kube_cluster", Update),
    ("kube.delete", "kube_cluster", Delete),
    (
        "saml.idp.service.provider.create",
        "saml_idp_service_provider",
        Create,
    ),
    (
        "saml.idp.service.provider.update",
        "saml_idp_service_provider",
        Update,
    ),
    (
        "saml.idp.service.provider.delete",
        "saml_idp_service_provider",
        Delete,
    ),
    (
        "saml.idp.service.provider.delete_all",
        "saml_idp_service_provider",
        DeleteAll,
    ),
    ("integration.create", "integration", Create),
    ("integration.update", "integration", Update),
    ("integration.delete", "integration", Delete),
    ("plugin.create", "plugin", Create),
    ("plugin.update", "plugin", Update),
    ("plugin.delete", "plugin", Delete),
    ("static_host_user.create", "static_host_user", Create),
    ("static_host_user.update", "static_host_user", Update),
    ("static_host_user.delete", "static_host_user", Delete),
    ("workload_identity.create", "workload_identity", Create),
    ("workload_identity.update", "workload_identity", Update),
    ("workload_identity.delete", "workload_identity", Delete),
    ("cert_auth_override.create", "cert_auth_override", Create),
    ("cert_auth_override.update", "cert_auth_override", Update),
    ("cert_auth_override.upsert", "cert_auth_override", Upsert),
    ("cert_auth_override.delete", "cert_auth_override", Delete),
    ("auth_preference.update", "auth_preference", Update),
    (
        "cluster_networking_config.update",
        "cluster_networking_config",
        Update,
    ),
    (
        "session_recording_config.update",
        "session_recording_config",
        Update,
    ),
];

impl<'a> View<'a> for ResourceChange<'a> {
    const EVENT_TYPES: &'static [&'static str] = &[
        "role.created",
        "role.updated",
        "role.deleted",
        "user.create",
        "user.update",
        "user.delete",
        "lock.created",
        "lock.deleted",
        "join_token.create",
        "scoped_token.create",
        "scoped_token.update",
        "scoped_token.upsert",
        "scoped_token.delete",
        "reset_password_token.create",
        "recovery_token.create",
        "privilege_token.create",
        "trusted_cluster_token.create",
        "trusted_cluster.create",
        "trusted_cluster.delete",
        "github.created",
        "github.updated",
        "github.deleted",
        "oidc.created",
        "oidc.updated",
        "oidc.deleted",
        "saml.created",
        "saml.updated",
        "saml.deleted",
        "bot.create",
        "bot.update",
        "bot.delete",
        "access_list.create",
        "access_list.update",
        "access_list.delete",
        "access_list.member.create",
        "access_list.member.update",
        "access_list.member.delete",
        "access_list.member.delete_all_members",
        "login_rule.create",
        "login_rule.delete",
        "mfa.add",
        "mfa.delete",
        "device.create",
        "device.update",
        "device.delete",
        "app.create",
        "app.update",
        "app.delete",
        "db.create",
        "db.update",
        "db.delete",
        "kube.create",
        "kube.update",
        "kube.delete",
        "saml.idp.service.provider.create",
        "saml.idp.service.provider.update",
        "saml.idp.service.provider.delete",
        "saml.idp.service.provider.delete_all",
        "integration.create",
        "integration.update",
        "integration.delete",
        "plugin.create",
        "plugin.update",
        "plugin.delete",
        "static_host_user.create",
        "static_host_user.update",
        "static_host_user.delete",
        "workload_identity.create",
        "workload_identity.update",
        "workload_identity.delete",
        "cert_auth_override.create",
        "cert_auth_override.update",
        "cert_auth_override.upsert",
        "cert_auth_override.delete",
        "auth_preference.update",
        "cluster_networking_config.update",
        "session_recording_config.update",
    ];
    const CODES: &'static [&'static str] = &[
        "T1002I",
        "T1003I",
        "T1004I",
        "T1006I",
        "T1007I",
        "TAP03I",
        "TAP04I",
        "TAP05I",
        "TDB03I",
        "TDB04I",
        "TDB05I",
        "T3010I",
        "T3011I",
        "T3012I",
        "T6000I",
        "T6001I",
        "T6002I",
        "T7000I",
        "T7001I",
        "T7002I",
        "TJT00I",
        "T8000I",
        "T8001I",
        "T80002I",
        "T8100I",
        "T8101I",
        "T8102I",
        "T8200I",
        "T8201I",
        "T8202I",
        "T9000I",
        "T9001I",
        "T9002I",
        "TB001I",
        "TB002I",
        "TB003I",
        "TLK00I",
        "TLK01I",
        "TV001I",
        "TV002I",
        "TV007I",
        "TLR00I",
        "TLR01I",
        "TSI001I",
        "TSI001W",
        "TSI002I",
        "TSI002W",
        "TSI003I",
        "TSI003W",
        "TSI004I",
        "TSI004W",
        "TAL001I",
        "TAL001E",
        "TAL002I",
        "TAL002E",
        "TAL003I",
        "TAL003E",
        "TAL005I",
        "TAL005E",
        "TAL006I",
        "TAL006E",
        "TAL007I",
        "TAL007E",
        "TAL008I",
        "TAL008E",
        "TCAUTH001I",
        "TCNET002I",
        "TCREC003I",
        "IG001I",
        "IG002I",
        "IG003I",
        "PG001I",
        "PG002I",
        "PG003I",
        "SHU001I",
        "SHU002I",
        "SHU003I",
        "WID001I",
        "WID002I",
        "WID003I",
        "TCO01I",
        "TCO02I",
        "TCO03I",
        "TCO04I",
        "TST000I",
        "TST000E",
        "TST001I",
        "TST001E",
        "TST002I",
        "TST002E",
        "TST003I",
        "TST003E",
    ];

    fn from_event(event: &'a AuditEvent) -> Option<Self> {
        let event_type = event.event_type();
        CHANGES
            .iter()
            .find(|(change_type, _, _)| *change_type == event_type)
            .map(|&(_, kind, action)| Self {
                event,
                kind,
                action,
            })
    }

    fn event(&self) -> &'a AuditEvent {
        self.event
    }
}

impl<'a> ResourceChange<'a> {
    /// The kind of resource, in snake case: `role`, `user`, `lock`, `join_token`,
    /// `github_connector`, `access_list_member`, `kube_cluster`, ...
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// What was done to it.
    pub fn action(&self) -> ChangeAction {
        self.action
    }

    /// The resource's name (`name`; `access_list_name` for access list members;
    /// `mfa_device_name` for MFA devices).
    pub fn name(&self) -> Option<&'a str> {
        ["name", "access_list_name", "mfa_device_name"]
            .into_iter()
            .find_map(|field| self.event.get_str(field))
    }

    /// Who made the change (`updated_by`, else `user`).
    pub fn actor(&self) -> Option<&'a str> {
        self.event
            .get_str("updated_by")
            .or_else(|| self.event.user())
    }

    /// Roles granted by the resource (`roles`: a user's roles, a token's system roles).
    pub fn roles(&self) -> Vec<&'a str> {
        self.event.strings("roles")
    }

    /// Names of the access list members affected (`members[].member_name`).
    pub fn members(&self) -> Vec<&'a str> {
        self.event
            .get("members")
            .and_then(serde_json::Value::as_array)
            .map(|members| {
                members
                    .iter()
                    .filter_map(|member| member.get("member_name")?.as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A token's join method (`join_method`).
    pub fn join_method(&self) -> Option<&'a str> {
        self.event.get_str("join_method")
    }

    /// When the resource expires (`expires`); `None` when absent or Go's zero time (never).
    pub fn expires(&self) -> Option<OffsetDateTime> {
        self.event
            .get_time("expires")
            .filter(|time| time.year() > 1)
    }

    /// Whether the change was made (false for the `E` and `W` failure codes).
    pub fn succeeded(&self) -> bool {
        !self.event.is_failure()
    }

    /// Why the change failed.
    pub fn error(&self) -> Option<&'a str> {
        self.event.error()
    }
}
