//! Sets of event type names as the settings keep them: sorted, each once.

/// Whether `event_type` is in `skip` (sorted): events of that type are consumed without being
/// yielded ([`crate::StreamConfig::skip_event_types`], [`crate::SessionRecordings::skip_types`],
/// [`crate::SessionEventsConfig::skip_types`]).
pub(crate) fn skips(skip: &[String], event_type: &str) -> bool {
    skip.binary_search_by(|t| t.as_str().cmp(event_type))
        .is_ok()
}

/// A set of event type names as the settings keep it: sorted, each once.
pub(crate) fn type_set<I, S>(types: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut types: Vec<String> = types.into_iter().map(Into::into).collect();
    types.sort();
    types.dedup();
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_types_match_whole_names() {
        let skip = type_set(["print", "resize", "print"]);
        assert_eq!(skip, ["print", "resize"]);
        assert!(skips(&skip, "print"));
        assert!(!skips(&skip, "session.print"));
        assert!(skips(&skip, "resize"));
        assert!(!skips(&skip, "session.start"));
        assert!(!skips(&[], "print"));
    }
}
