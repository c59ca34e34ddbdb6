//! Roles and the permissions the audit RPCs check.

use std::collections::BTreeMap;

/// What a role allows on the audit API (Teleport role rules on `event` and `session`).
/// Build it as a literal (`Permissions { event_list: true, event_read: true, session_read:
/// false }`) or from [`Permissions::none`] / [`Permissions::all`] and the setters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    /// `event` `list`: needed by search and export.
    pub event_list: bool,
    /// `event` `read`: needed by search and export.
    pub event_read: bool,
    /// `session` `read`: needed by the session stream.
    pub session_read: bool,
}

impl Permissions {
    /// Nothing allowed.
    pub fn none() -> Permissions {
        Permissions::default()
    }

    /// Everything the audit API checks.
    pub fn all() -> Permissions {
        Permissions {
            event_list: true,
            event_read: true,
            session_read: true,
        }
    }

    /// Sets `event` `list`.
    #[must_use]
    pub fn event_list(mut self, allowed: bool) -> Permissions {
        self.event_list = allowed;
        self
    }

    /// Sets `event` `read`.
    #[must_use]
    pub fn event_read(mut self, allowed: bool) -> Permissions {
        self.event_read = allowed;
        self
    }

    /// Sets `session` `read`.
    #[must_use]
    pub fn session_read(mut self, allowed: bool) -> Permissions {
        self.session_read = allowed;
        self
    }

    fn union(self, other: Permissions) -> Permissions {
        Permissions {
            event_list: self.event_list || other.event_list,
            event_read: self.event_read || other.event_read,
            session_read: self.session_read || other.session_read,
        }
    }
}

/// The cluster's roles. Built in: `editor`, `auditor` and `audit-reader` (the role
/// [`IdentitySpec`](crate::ca::IdentitySpec) puts in certificates by default) may list and read
/// events and read sessions; `access` may not.
#[derive(Clone, Debug)]
pub(crate) struct Roles {
    roles: BTreeMap<String, Permissions>,
}

impl Default for Roles {
    fn default() -> Roles {
        let mut roles = BTreeMap::new();
        for name in ["editor", "auditor", "audit-reader"] {
            roles.insert(name.to_string(), Permissions::all());
        }
        roles.insert("access".to_string(), Permissions::none());
        Roles { roles }
    }
}

impl Roles {
    pub(crate) fn set(&mut self, name: String, permissions: Permissions) {
        self.roles.insert(name, permissions);
    }

    /// The combined permissions of `names`, or the first unknown role.
    pub(crate) fn resolve<'a>(&self, names: &'a [String]) -> Result<Permissions, &'a str> {
        names.iter().try_fold(Permissions::none(), |acc, name| {
            self.roles
                .get(name)
                .map(|p| acc.union(*p))
                .ok_or(name.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins_and_unions() {
        let roles = Roles::default();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(roles.resolve(&names(&["access"])), Ok(Permissions::none()));
        assert_eq!(
            roles.resolve(&names(&["access", "auditor"])),
            Ok(Permissions::all())
        );
        assert_eq!(roles.resolve(&names(&["access", "ghost"])), Err("ghost"));
        let mut custom = roles.clone();
        custom.set("lister".into(), Permissions::none().event_list(true));
        assert_eq!(
            custom.resolve(&names(&["lister"])),
            Ok(Permissions::none().event_list(true))
        );
    }
}
