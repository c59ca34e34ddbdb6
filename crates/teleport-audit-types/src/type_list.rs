//! A user's list of event types (`"user.login, role.created,T1000I"`) checked against the
//! [catalogue](crate::codes): names and codes in, event type names out.
//!
//! - Items are separated by commas, with or without spaces; empty items are ignored.
//! - A known event type name (`user.login`, any case) is itself; a known code (`T1000I`, any
//!   case) stands for its event type (`user.login`).
//! - Anything else is unknown: refused with the three closest known names (or codes, for what
//!   looks like a code), or, with [`UnknownTypes::Allow`] (for types newer than the catalogue),
//!   kept as given and listed in [`TypeList::unknown`].
//!
//! ```
//! use teleport_audit_types::type_list::{UnknownTypes, resolve_type_list};
//!
//! let list = resolve_type_list(["user.login, role.created,t1000w"], UnknownTypes::Refuse)?;
//! assert_eq!(list.types(), ["user.login", "role.created"]);
//!
//! let error = resolve_type_list(["user.lgoin"], UnknownTypes::Refuse).unwrap_err();
//! assert_eq!(error.unknown()[0].closest()[0], "user.login");
//!
//! let list = resolve_type_list(["user.login,shiny.new"], UnknownTypes::Allow)?;
//! assert_eq!(list.types(), ["user.login", "shiny.new"]);
//! assert_eq!(list.unknown(), ["shiny.new"]);
//! # Ok::<(), teleport_audit_types::type_list::UnknownEventTypes>(())
//! ```

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use crate::codes;

/// How many close known types an unknown one is shown with.
const CLOSEST: usize = 3;

/// What to do with a name that is neither a known event type nor a known code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum UnknownTypes {
    /// Refuse the list ([`UnknownEventTypes`]), naming the closest known types (the default: a
    /// typo would otherwise select nothing, silently).
    #[default]
    Refuse,
    /// Keep it as given: for event types newer than the catalogue.
    Allow,
}

/// A resolved list of event types.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TypeList {
    types: Vec<String>,
    unknown: Vec<String>,
}

impl TypeList {
    /// The event type names, in the order first given, each once.
    pub fn types(&self) -> &[String] {
        &self.types
    }

    /// The names not in the catalogue, kept as given ([`UnknownTypes::Allow`]); also in
    /// [`TypeList::types`].
    pub fn unknown(&self) -> &[String] {
        &self.unknown
    }

    /// The event type names.
    pub fn into_types(self) -> Vec<String> {
        self.types
    }
}

/// Names in a list that are neither a known event type nor a known code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownEventTypes {
    unknown: Vec<UnknownType>,
}

impl UnknownEventTypes {
    /// Each unknown name, in the order given.
    pub fn unknown(&self) -> &[UnknownType] {
        &self.unknown
    }
}

/// `not in the event catalogue: user.lgoin (closest: user.login, ...); ...`
impl fmt::Display for UnknownEventTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not in the event catalogue: ")?;
        for (index, unknown) in self.unknown.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{unknown}")?;
        }
        Ok(())
    }
}

/// One unknown name and the closest known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownType {
    given: String,
    closest: Vec<&'static str>,
}

impl UnknownType {
    /// The name as given (without surrounding spaces).
    pub fn given(&self) -> &str {
        &self.given
    }

    /// The closest known event types (or codes, for a name that looks like a code), closest
    /// first, at most three.
    pub fn closest(&self) -> &[&'static str] {
        &self.closest
    }
}

/// `user.lgoin (closest: user.login, user.logout, user.create)`
impl fmt::Display for UnknownType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.given)?;
        if !self.closest.is_empty() {
            write!(f, " (closest: {})", self.closest.join(", "))?;
        }
        Ok(())
    }
}

/// Resolves a list of event types and codes, each item possibly itself a comma-separated list
/// (`["user.login, role.created", "T1000I"]`), into event type names: see the
/// [module](self).
///
/// # Errors
///
/// With [`UnknownTypes::Refuse`], [`UnknownEventTypes`] naming every item that is neither a
/// known type nor a known code, each with its closest known ones.
pub fn resolve_type_list<I, S>(
    items: I,
    unknown_types: UnknownTypes,
) -> Result<TypeList, UnknownEventTypes>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut list = TypeList::default();
    let mut refused = Vec::new();
    for item in items {
        for name in item.as_ref().split(',').map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let resolved = match resolve_type(name) {
                Some(known) => known.to_owned(),
                None if unknown_types == UnknownTypes::Allow => {
                    if !list.unknown.iter().any(|u| u == name) {
                        list.unknown.push(name.to_owned());
                    }
                    name.to_owned()
                }
                None => {
                    if !refused.iter().any(|u: &UnknownType| u.given == name) {
                        refused.push(UnknownType {
                            given: name.to_owned(),
                            closest: closest(name),
                        });
                    }
                    continue;
                }
            };
            if !list.types.contains(&resolved) {
                list.types.push(resolved);
            }
        }
    }
    if refused.is_empty() {
        Ok(list)
    } else {
        Err(UnknownEventTypes { unknown: refused })
    }
}

/// The event type `name` stands for: a known event type (any case), or the type of a known code
/// (any case).
pub fn resolve_type(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if let Ok(index) = known_types().binary_search(&lower.as_str()) {
        return Some(known_types()[index]);
    }
    codes::lookup(&name.to_ascii_uppercase()).map(|info| info.event_type)
}

/// Every event type name the catalogue knows (with the aliases that share another type's
/// codes, such as `port.local`), sorted.
pub fn known_types() -> &'static [&'static str] {
    static TYPES: OnceLock<Vec<&'static str>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let names: BTreeSet<&'static str> = codes::all()
            .iter()
            .map(|info| info.event_type)
            .chain(codes::TYPE_ALIASES.iter().map(|(alias, _)| *alias))
            .collect();
        names.into_iter().collect()
    })
}

/// The [`CLOSEST`] known names nearest to `given`: codes if it looks like one (letters then
/// digits, no dot), else event types. Names that contain `given` come first, then by edit
/// distance (a swap of two letters counts once), then by name.
fn closest(given: &str) -> Vec<&'static str> {
    let looks_like_code = !given.contains('.')
        && given.chars().any(|c| c.is_ascii_digit())
        && given.chars().all(|c| c.is_ascii_alphanumeric());
    let (given, candidates): (String, Vec<&'static str>) = if looks_like_code {
        (
            given.to_ascii_uppercase(),
            codes::all().iter().map(|info| info.code).collect(),
        )
    } else {
        (given.to_ascii_lowercase(), known_types().to_vec())
    };
    let mut ranked: Vec<(Reverse<bool>, usize, &'static str)> = candidates
        .into_iter()
        .map(|name| {
            (
                Reverse(name.contains(given.as_str())),
                strsim::damerau_levenshtein(&given, name),
                name,
            )
        })
        .collect();
    ranked.sort_unstable();
    ranked
        .into_iter()
        .take(CLOSEST)
        .map(|(_, _, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(items: &[&str]) -> Result<Vec<String>, UnknownEventTypes> {
        resolve_type_list(items, UnknownTypes::Refuse).map(TypeList::into_types)
    }

    #[test]
    fn names_with_or_without_spaces_after_commas() {
        assert_eq!(
            resolve(&["user.login, role.created"]).unwrap(),
            ["user.login", "role.created"]
        );
        assert_eq!(
            resolve(&["user.login,role.created"]).unwrap(),
            ["user.login", "role.created"]
        );
        assert_eq!(
            resolve(&[" user.login ,  role.created ,"]).unwrap(),
            ["user.login", "role.created"]
        );
        assert_eq!(
            resolve(&["user.login", " role.created"]).unwrap(),
            ["user.login", "role.created"]
        );
        assert_eq!(resolve(&["USER.Login"]).unwrap(), ["user.login"]);
    }

    #[test]
    fn codes_stand_for_their_type_in_any_case() {
        assert_eq!(
            resolve(&["T1000I, t9000i"]).unwrap(),
            ["user.login", "role.created"]
        );
        assert_eq!(
            resolve(&["T1000W,user.login,T1000I"]).unwrap(),
            ["user.login"]
        );
        assert_eq!(resolve_type("tj001l"), Some("bot.join"));
        assert_eq!(resolve_type("port.local"), Some("port.local"));
        assert_eq!(resolve_type("T1099I"), None);
    }

    #[test]
    fn an_empty_list_selects_nothing_in_particular() {
        assert!(resolve(&[]).unwrap().is_empty());
        assert!(resolve(&["", " , ,"]).unwrap().is_empty());
    }

    #[test]
    fn a_typo_is_refused_with_the_closest_known_types() {
        let error = resolve(&["user.lgoin"]).unwrap_err();
        let unknown = &error.unknown()[0];
        assert_eq!(unknown.given(), "user.lgoin");
        assert_eq!(unknown.closest().len(), 3);
        assert_eq!(unknown.closest()[0], "user.login");
        assert!(
            error
                .to_string()
                .starts_with("not in the event catalogue: user.lgoin (closest: user.login, "),
            "{error}"
        );

        let error = resolve(&["role.craeted"]).unwrap_err();
        assert_eq!(error.unknown()[0].closest()[0], "role.created");
        // A word of a type's name: the types that contain it.
        let error = resolve(&["login"]).unwrap_err();
        assert!(
            error.unknown()[0]
                .closest()
                .iter()
                .all(|t| t.contains("login")),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_code_is_shown_the_closest_codes() {
        let error = resolve(&["T1000X"]).unwrap_err();
        let closest = error.unknown()[0].closest();
        assert!(closest.iter().all(|c| c.starts_with("T100")), "{closest:?}");
        assert!(closest.contains(&"T1000I"), "{closest:?}");
    }

    #[test]
    fn every_unknown_item_is_named_once_and_known_ones_are_not() {
        let error = resolve(&["user.login, foo.bar, role.created,foo.bar", "baz"]).unwrap_err();
        let given: Vec<&str> = error.unknown().iter().map(UnknownType::given).collect();
        assert_eq!(given, ["foo.bar", "baz"]);
        let message = error.to_string();
        assert!(message.contains("foo.bar (closest: "), "{message}");
        assert!(message.contains("; baz (closest: "), "{message}");
    }

    #[test]
    fn unknown_types_may_be_allowed_for_types_newer_than_the_catalogue() {
        let list = resolve_type_list(
            ["user.login, shiny.new,T1000I", "shiny.new"],
            UnknownTypes::Allow,
        )
        .unwrap();
        assert_eq!(list.types(), ["user.login", "shiny.new"]);
        assert_eq!(list.unknown(), ["shiny.new"]);
        assert_eq!(UnknownTypes::default(), UnknownTypes::Refuse);
    }

    #[test]
    fn known_types_hold_every_catalogue_type_and_alias_once() {
        let types = known_types();
        assert!(types.windows(2).all(|pair| pair[0] < pair[1]));
        for info in codes::all() {
            assert!(
                types.binary_search(&info.event_type).is_ok(),
                "{}",
                info.event_type
            );
            assert_eq!(resolve_type(info.code), Some(info.event_type));
            assert_eq!(resolve_type(info.event_type), Some(info.event_type));
        }
        assert!(types.contains(&"port.remote_conn"));
    }
}
