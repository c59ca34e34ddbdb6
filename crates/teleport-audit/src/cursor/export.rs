//! The export cursor: per UTC date, the chunks read to the end and the chunks in progress.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::seen::id_hash;
use super::{CURSOR_VERSION, decode_hashes, encode_hashes, format_time, parse_time};

const DATE_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// An export stream's position.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ExportPosition {
    /// Events with a time before this are not delivered.
    pub(crate) from: OffsetDateTime,
    /// Every chunk listed before this time has been read.
    pub(crate) caught_up: OffsetDateTime,
    /// Every date up to this has been listed; those of them not in `dates` were read completely.
    pub(crate) listed_through: Option<Date>,
    /// The dates still followed.
    pub(crate) dates: BTreeMap<Date, DatePosition>,
}

/// One followed date: chunks read to the end, and where the chunks in progress are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DatePosition {
    pub(crate) done: ChunkSet,
    /// Chunk name -> Teleport's position after the last delivered event of it (opaque).
    pub(crate) reading: BTreeMap<String, String>,
}

/// Hashed chunk names, sorted; shared until changed so that taking a cursor is cheap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkSet(Arc<Vec<u64>>);

/// The hash a chunk name is remembered by (the same as an event id's in the seen set).
pub(crate) fn chunk_hash(name: &str) -> u64 {
    id_hash(name)
}

impl ChunkSet {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn hashes(&self) -> &[u64] {
        &self.0
    }

    pub(crate) fn contains(&self, hash: u64) -> bool {
        self.0.binary_search(&hash).is_ok()
    }

    /// Adds a hash; false if it was there.
    pub(crate) fn insert(&mut self, hash: u64) -> bool {
        match self.0.binary_search(&hash) {
            Ok(_) => false,
            Err(at) => {
                Arc::make_mut(&mut self.0).insert(at, hash);
                true
            }
        }
    }
}

impl fmt::Debug for ExportPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dates: BTreeMap<String, (usize, usize)> = self
            .dates
            .iter()
            .map(|(date, d)| (date_text(*date), (d.done.len(), d.reading.len())))
            .collect();
        f.debug_struct("ExportPosition")
            .field("from", &self.from)
            .field("caught_up", &self.caught_up)
            .field("listed_through", &self.listed_through)
            .field("dates (done, reading)", &dates)
            .finish()
    }
}

impl ExportPosition {
    /// A position that starts an export at `from`, nothing listed yet.
    pub(crate) fn starting_at(from: OffsetDateTime) -> Self {
        Self {
            from,
            caught_up: from,
            listed_through: None,
            dates: BTreeMap::new(),
        }
    }

    /// A date was listed for the first time. `taken_as_done` are chunks that need no reading;
    /// `from` settles the start of a stream that starts from now.
    pub(crate) fn listed(
        &mut self,
        date: Date,
        taken_as_done: &[u64],
        from: Option<OffsetDateTime>,
    ) {
        if let Some(from) = from {
            self.from = from;
            self.caught_up = self.caught_up.max(from);
        }
        self.listed_through = Some(self.listed_through.map_or(date, |d| d.max(date)));
        let entry = self.dates.entry(date).or_default();
        for hash in taken_as_done {
            entry.done.insert(*hash);
        }
    }

    /// An event of `chunk` was handed over (or filtered out); `position` resumes after it. An
    /// empty position (a server that sent none, though Teleport always does) leaves the chunk
    /// where it was, so the cursor stays one this library reads back.
    pub(crate) fn delivered(&mut self, date: Date, chunk: &str, position: String) {
        if position.is_empty() {
            return;
        }
        let reading = &mut self.dates.entry(date).or_default().reading;
        match reading.get_mut(chunk) {
            Some(slot) => *slot = position,
            None => {
                reading.insert(chunk.to_owned(), position);
            }
        }
    }

    /// Every event of `chunk` has been handed over.
    pub(crate) fn chunk_done(&mut self, date: Date, chunk: &str) {
        let entry = self.dates.entry(date).or_default();
        entry.reading.remove(chunk);
        entry.done.insert(chunk_hash(chunk));
    }

    /// A date left the lookback window after being read completely.
    pub(crate) fn drop_date(&mut self, date: Date) {
        self.dates.remove(&date);
    }

    pub(crate) fn caught_up_to(&mut self, time: OffsetDateTime) {
        self.caught_up = self.caught_up.max(time);
    }

    pub(super) fn to_wire(&self, cluster: Option<String>, types: &[String]) -> ExportWire {
        ExportWire {
            v: CURSOR_VERSION,
            cluster,
            mode: "export".to_owned(),
            from: format_time(self.from),
            caught_up: format_time(self.caught_up),
            listed_through: self.listed_through.map(date_text),
            dates: self
                .dates
                .iter()
                .map(|(date, d)| {
                    (
                        date_text(*date),
                        DateWire {
                            done: encode_hashes(d.done.hashes()),
                            reading: d.reading.clone(),
                        },
                    )
                })
                .collect(),
            types: types.to_vec(),
        }
    }

    /// Parses and checks the export format (the `mode` field already taken out); returns the
    /// position and the event types. Errors name the field.
    pub(super) fn from_value(mut value: serde_json::Value) -> Result<(Self, Vec<String>), String> {
        // `mode` was removed by the caller; put it back for the strict field check.
        if let Some(object) = value.as_object_mut() {
            object.insert("mode".to_owned(), "export".into());
        }
        let wire = ExportWire::deserialize(value).map_err(|e| e.to_string())?;
        let from = parse_time("from", &wire.from)?;
        let caught_up = parse_time("caught_up", &wire.caught_up)?;
        if caught_up < from {
            return Err(format!(
                "caught_up: {} is before from ({})",
                wire.caught_up, wire.from
            ));
        }
        let listed_through = wire
            .listed_through
            .as_deref()
            .map(|text| parse_date("listed_through", text))
            .transpose()?;
        let mut dates = BTreeMap::new();
        for (key, entry) in wire.dates {
            let date = parse_date(&format!("dates[{key:?}]"), &key)?;
            let field = format!("dates[{key}]");
            match listed_through {
                None => {
                    return Err(format!(
                        "{field}: a followed date, but listed_through is missing"
                    ));
                }
                Some(through) if date > through => {
                    return Err(format!(
                        "{field}: after listed_through ({}), so never listed",
                        date_text(through)
                    ));
                }
                Some(_) => {}
            }
            let done = ChunkSet(Arc::new(decode_hashes(
                &format!("{field}.done"),
                &entry.done,
                "chunk ids",
            )?));
            for (chunk, position) in &entry.reading {
                if chunk.is_empty() {
                    return Err(format!("{field}.reading: a chunk name is empty"));
                }
                if position.is_empty() {
                    return Err(format!("{field}.reading[{chunk:?}]: the position is empty"));
                }
                if done.contains(chunk_hash(chunk)) {
                    return Err(format!(
                        "{field}.reading[{chunk:?}]: the chunk is also in {field}.done"
                    ));
                }
            }
            let position = DatePosition {
                done,
                reading: entry.reading,
            };
            // Two spellings of one date ("2025-12-02", "+2025-12-02"): one would be dropped.
            if dates.insert(date, position).is_some() {
                return Err(format!("{field}: the date is in dates twice"));
            }
        }
        Ok((
            Self {
                from,
                caught_up,
                listed_through,
                dates,
            },
            wire.types,
        ))
    }
}

pub(crate) fn date_text(date: Date) -> String {
    date.format(DATE_FORMAT).unwrap_or_default()
}

fn parse_date(field: &str, text: &str) -> Result<Date, String> {
    Date::parse(text, DATE_FORMAT)
        .map_err(|e| format!("{field}: {text:?} is not a date as YYYY-MM-DD ({e})"))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportWire {
    v: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cluster: Option<String>,
    mode: String,
    from: String,
    caught_up: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    listed_through: Option<String>,
    #[serde(default)]
    dates: BTreeMap<String, DateWire>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    types: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DateWire {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    done: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    reading: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::super::{Cursor, Position};
    use super::*;
    use crate::error::{CursorError, Error};
    use crate::mode::Mode;
    use proptest::prelude::*;
    use time::macros::{date, datetime};

    fn sample() -> Cursor {
        let mut position = ExportPosition::starting_at(datetime!(2025-12-01 08:00 UTC));
        position.listed(date!(2025 - 12 - 01), &[], None);
        position.listed(date!(2025 - 12 - 02), &[], None);
        for chunk in ["c-1", "c-2", "c-3"] {
            position.delivered(date!(2025 - 12 - 01), chunk, "a1:4".to_owned());
            position.chunk_done(date!(2025 - 12 - 01), chunk);
        }
        position.delivered(date!(2025 - 12 - 02), "c-9", "a1:1".to_owned());
        position.delivered(date!(2025 - 12 - 02), "c-9", "a1:2".to_owned());
        position.delivered(date!(2025 - 12 - 02), "c-10", "opaque:\"x\"".to_owned());
        position.chunk_done(date!(2025 - 12 - 02), "c-11");
        position.caught_up_to(datetime!(2025-12-02 10:00 UTC));
        Cursor {
            cluster: Some("example.teleport.sh".to_owned()),
            event_types: vec!["user.login".to_owned()],
            position: Position::Export(position),
        }
    }

    fn export(cursor: &Cursor) -> &ExportPosition {
        match &cursor.position {
            Position::Export(export) => export,
            Position::Search(_) => panic!("a search cursor"),
        }
    }

    #[test]
    fn round_trip_keeps_everything() {
        let cursor = sample();
        let back = Cursor::from_json(&cursor.to_json()).unwrap();
        assert_eq!(back, cursor);
        assert_eq!(back.mode(), Mode::Export);
        assert_eq!(back.watermark(), datetime!(2025-12-02 10:00 UTC));
        assert_eq!(back.chunks_done_len(), 4);
        assert_eq!(back.seen_len(), 0);
        let position = export(&back);
        let second = &position.dates[&date!(2025 - 12 - 02)];
        assert_eq!(second.reading["c-9"], "a1:2");
        assert_eq!(second.reading["c-10"], "opaque:\"x\"");
        assert!(second.done.contains(chunk_hash("c-11")));
        assert!(!second.done.contains(chunk_hash("c-9")));
    }

    #[test]
    fn an_event_without_a_server_position_keeps_the_cursor_readable() {
        let mut cursor = sample();
        let Position::Export(position) = &mut cursor.position else {
            panic!("a search cursor");
        };
        position.delivered(date!(2025 - 12 - 02), "c-9", String::new());
        position.delivered(date!(2025 - 12 - 02), "c-12", String::new());
        let back = Cursor::from_json(&cursor.to_json()).unwrap();
        let second = &export(&back).dates[&date!(2025 - 12 - 02)];
        assert_eq!(second.reading["c-9"], "a1:2");
        assert!(!second.reading.contains_key("c-12"));
    }

    #[test]
    fn format_is_the_documented_one() {
        let value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(value["v"], 1);
        assert_eq!(value["mode"], "export");
        assert_eq!(value["from"], "2025-12-01T08:00:00Z");
        assert_eq!(value["caught_up"], "2025-12-02T10:00:00Z");
        assert_eq!(value["listed_through"], "2025-12-02");
        assert_eq!(value["types"], serde_json::json!(["user.login"]));
        let first = &value["dates"]["2025-12-01"];
        // Three chunks: 24 bytes, 32 base64url characters, sorted little-endian hashes.
        let done = first["done"].as_str().unwrap();
        assert_eq!(done.len(), 32);
        let mut expected: Vec<u64> = ["c-1", "c-2", "c-3"].map(chunk_hash).to_vec();
        expected.sort_unstable();
        assert_eq!(decode_hashes("x", done, "ids").unwrap(), expected);
        assert!(first.get("reading").is_none(), "empty parts are omitted");
        assert_eq!(
            value["dates"]["2025-12-02"]["reading"],
            serde_json::json!({"c-9": "a1:2", "c-10": "opaque:\"x\""})
        );
        assert_eq!(
            Cursor {
                cluster: None,
                event_types: Vec::new(),
                position: Position::Export(ExportPosition::starting_at(datetime!(
                    2025-01-01 0:00 UTC
                ))),
            }
            .to_json(),
            r#"{"v":1,"mode":"export","from":"2025-01-01T00:00:00Z","caught_up":"2025-01-01T00:00:00Z","dates":{}}"#
        );
    }

    #[test]
    fn taking_a_cursor_shares_the_done_sets() {
        let cursor = sample();
        let copy = cursor.clone();
        let (a, b) = (export(&cursor), export(&copy));
        let date = date!(2025 - 12 - 01);
        assert!(Arc::ptr_eq(&a.dates[&date].done.0, &b.dates[&date].done.0));
    }

    #[test]
    fn dates_are_listed_dropped_and_settle_the_start() {
        let mut position = ExportPosition::starting_at(datetime!(2025-12-01 08:00 UTC));
        position.listed(
            date!(2025 - 12 - 01),
            &[chunk_hash("old")],
            Some(datetime!(2025-12-01 08:00:01 UTC)),
        );
        assert_eq!(position.from, datetime!(2025-12-01 08:00:01 UTC));
        assert_eq!(position.caught_up, position.from);
        assert!(
            position.dates[&date!(2025 - 12 - 01)]
                .done
                .contains(chunk_hash("old"))
        );
        position.listed(date!(2025 - 11 - 30), &[], None);
        assert_eq!(position.listed_through, Some(date!(2025 - 12 - 01)));
        position.drop_date(date!(2025 - 12 - 01));
        assert!(!position.dates.contains_key(&date!(2025 - 12 - 01)));
        position.caught_up_to(datetime!(2025-11-01 0:00 UTC));
        assert_eq!(position.caught_up, datetime!(2025-12-01 08:00:01 UTC));
    }

    fn reason(text: &str) -> String {
        match Cursor::from_json(text) {
            Err(Error::Cursor(CursorError::Invalid { reason, source })) => {
                crate::error::tests::why(reason, source)
            }
            other => panic!("expected InvalidCursor, got {other:?}"),
        }
    }

    /// A valid export cursor as JSON, with `change` applied.
    fn with(change: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        change(&mut value);
        value.to_string()
    }

    #[test]
    fn every_bad_field_is_named() {
        let cases: Vec<(String, &str)> = vec![
            (with(|v| v["mode"] = "tail".into()), "mode: \"tail\""),
            (with(|v| v["mode"] = 3.into()), "mode: 3"),
            (with(|v| v["from"] = "today".into()), "from: \"today\""),
            (with(|v| v["caught_up"] = "x".into()), "caught_up: \"x\""),
            (
                with(|v| v["caught_up"] = "2025-11-01T00:00:00Z".into()),
                "caught_up: 2025-11-01T00:00:00Z is before from",
            ),
            (
                with(|v| v["listed_through"] = "2025-12-32".into()),
                "listed_through: \"2025-12-32\"",
            ),
            (
                with(|v| {
                    v.as_object_mut().unwrap().remove("listed_through");
                }),
                "dates[2025-12-01]: a followed date, but listed_through is missing",
            ),
            (
                with(|v| v["listed_through"] = "2025-12-01".into()),
                "dates[2025-12-02]: after listed_through (2025-12-01)",
            ),
            (
                with(|v| v["dates"]["12/03/2025"] = serde_json::json!({})),
                "dates[\"12/03/2025\"]: \"12/03/2025\" is not a date",
            ),
            (
                with(|v| v["dates"]["2025-12-01"]["done"] = "!!".into()),
                "dates[2025-12-01].done: not base64url",
            ),
            (
                with(|v| v["dates"]["2025-12-01"]["done"] = "AAA".into()),
                "dates[2025-12-01].done: 2 bytes is not a whole number of 8-byte chunk ids",
            ),
            (
                with(|v| v["dates"]["2025-12-02"]["reading"][""] = "a1:1".into()),
                "dates[2025-12-02].reading: a chunk name is empty",
            ),
            (
                with(|v| v["dates"]["2025-12-02"]["reading"]["c-9"] = "".into()),
                "dates[2025-12-02].reading[\"c-9\"]: the position is empty",
            ),
            (
                with(|v| v["dates"]["2025-12-02"]["reading"]["c-11"] = "a1:1".into()),
                "dates[2025-12-02].reading[\"c-11\"]: the chunk is also in dates[2025-12-02].done",
            ),
            (
                with(|v| v["dates"]["2025-12-02"]["extra"] = 1.into()),
                "unknown field `extra`",
            ),
            (
                with(|v| v["watermark"] = 1.into()),
                "unknown field `watermark`",
            ),
            (
                with(|v| {
                    v.as_object_mut().unwrap().remove("from");
                }),
                "missing field `from`",
            ),
        ];
        for (text, expected) in cases {
            let got = reason(&text);
            assert!(
                got.contains(expected),
                "{got:?} lacks {expected:?} ({text})"
            );
        }
    }

    #[test]
    fn a_date_spelled_twice_is_refused() {
        // Seen while writing the cursor fuzz target: "+2025-12-01" reads as 2025-12-01, and one of
        // the two entries (with its done chunks) was silently dropped.
        let text = with(|v| v["dates"]["+2025-12-01"] = serde_json::json!({"done": "AQIDBAUGBwg"}));
        assert!(
            reason(&text).contains("dates[2025-12-01]: the date is in dates twice"),
            "{}",
            reason(&text)
        );
    }

    #[test]
    fn a_search_cursor_may_say_its_mode() {
        let search = Cursor::from_json(
            r#"{"v":1,"mode":"search","watermark":"2025-01-01T00:00:00Z","seen":{}}"#,
        )
        .unwrap();
        assert_eq!(search.mode(), Mode::Search);
        // Search fields in an export cursor are refused by name.
        assert!(
            reason(r#"{"v":1,"mode":"export","watermark":"2025-01-01T00:00:00Z"}"#)
                .contains("unknown field `watermark`")
        );
    }

    proptest! {
        #[test]
        fn any_export_cursor_round_trips(
            from in 0i64..4_000_000_000,
            caught in 0i64..1_000_000,
            dates in proptest::collection::btree_map(
                0i32..40,
                (
                    proptest::collection::vec("[a-z0-9-]{1,40}", 0..30),
                    proptest::collection::btree_map("[a-z0-9-]{1,40}", ".{1,40}", 0..4),
                ),
                0..4,
            ),
            types in proptest::collection::vec("[a-z.]{1,20}", 0..3),
        ) {
            let from = OffsetDateTime::from_unix_timestamp(from).unwrap();
            let mut position = ExportPosition::starting_at(from);
            let first = from.date();
            for (offset, (done, reading)) in &dates {
                let date = first + time::Duration::days(i64::from(*offset));
                position.listed(date, &[], None);
                for chunk in done {
                    position.chunk_done(date, chunk);
                }
                for (chunk, at) in reading {
                    if !position.dates[&date].done.contains(chunk_hash(chunk)) {
                        position.delivered(date, chunk, at.clone());
                    }
                }
            }
            position.caught_up_to(from + time::Duration::seconds(caught));
            let cursor = Cursor {
                cluster: None,
                event_types: super::super::normalise_types(types),
                position: Position::Export(position),
            };
            let back = Cursor::from_json(&cursor.to_json()).unwrap();
            prop_assert_eq!(back, cursor);
        }
    }
}
