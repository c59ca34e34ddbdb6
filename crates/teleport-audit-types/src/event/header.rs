//! The common fields of an event, found in one pass: over its JSON text ([`Header::parse`]), or
//! while the Struct decoder writes that text ([`Collector`] as a `TopLevelSink`). Both feed the
//! same [`Collector`], so both read the fields by the same rules.
//!
//! String fields are kept as byte ranges into the event's own text (or, when the JSON string
//! has escapes, into a small side buffer of unescaped text), so reading them costs nothing and
//! parsing allocates only for escaped strings. When parsing text, every other value is checked
//! (so the full parse done later by `fields()` cannot fail) but not stored; the decoder's output
//! needs no such check.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use time::OffsetDateTime;

use std::ops::Range;

use super::time_text::parse_rfc3339;
use crate::error::{EventError, cut, excerpt, json_type_of_first_byte};
use crate::wire::{TopLevelSink, WrittenValue};

/// The common string fields, in storage order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextField {
    Event,
    Code,
    Uid,
    ClusterName,
    User,
    Login,
    Impersonator,
    SessionId,
    ServerId,
    ServerHostname,
    ServerAddr,
    Namespace,
    AddrLocal,
    AddrRemote,
    Protocol,
    Error,
    Message,
}

const TEXT_FIELDS: usize = 17;

/// Where a string field's text is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Span {
    #[default]
    Absent,
    /// Byte range of the JSON string's contents in the event text (no escapes in it).
    InText(u32, u32),
    /// Byte range in [`Header::unescaped`].
    Unescaped(u32, u32),
}

/// The common fields of one event.
#[derive(Clone, PartialEq)]
pub(crate) struct Header {
    spans: [Span; TEXT_FIELDS],
    unescaped: Box<str>,
    pub(crate) time: OffsetDateTime,
    pub(crate) index: Option<i64>,
    pub(crate) user_kind: Option<i64>,
    pub(crate) success: Option<bool>,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("time", &self.time)
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Header {
    /// The string field `field`, given the event text the header was parsed from.
    pub(crate) fn text<'a>(&'a self, json: &'a str, field: TextField) -> Option<&'a str> {
        let (source, start, end) = match self.spans[field as usize] {
            Span::Absent => return None,
            Span::InText(start, end) => (json, start, end),
            Span::Unescaped(start, end) => (&*self.unescaped, start, end),
        };
        source.get(start as usize..end as usize)
    }

    /// Parses the common fields of `json`, checking that it is one JSON object with a string
    /// `event`, an RFC 3339 `time`, no repeated top-level key, and nothing after it.
    pub(crate) fn parse(json: &str) -> Result<Self, EventError> {
        if u32::try_from(json.len()).is_err() {
            return Err(EventError::TooLarge { len: json.len() });
        }
        let first = json.bytes().find(|byte| !byte.is_ascii_whitespace());
        if first != Some(b'{') {
            return Err(EventError::NotAnObject {
                found: json_type_of_first_byte(first),
            });
        }

        let mut state = State {
            json,
            common: Collector::default(),
            keys_unsorted: false,
            failure: None,
        };
        let mut deserializer = serde_json::Deserializer::from_str(json);
        let parsed = deserializer
            .deserialize_map(HeaderVisitor { state: &mut state })
            .and_then(|()| deserializer.end());
        if let Err(error) = parsed {
            return Err(state
                .failure
                .take()
                .unwrap_or_else(|| EventError::from_json_error(error)));
        }
        if state.keys_unsorted
            && let Some(key) = repeated_key(json)
        {
            return Err(EventError::DuplicateField { field: cut(&key) });
        }
        state.common.finish()
    }
}

/// Which common field a top-level key is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Common {
    Text(TextField),
    Time,
    Index,
    UserKind,
    Success,
}

impl Common {
    /// The common field named `key`, if any. Dispatched on the length first: this runs for
    /// every top-level key of every event.
    #[inline]
    fn from_key(key: &[u8]) -> Option<Self> {
        use TextField as T;
        Some(match (key.len(), key) {
            (2, b"ei") => Self::Index,
            (3, b"uid") => Self::Text(T::Uid),
            (3, b"sid") => Self::Text(T::SessionId),
            (4, b"time") => Self::Time,
            (4, b"code") => Self::Text(T::Code),
            (4, b"user") => Self::Text(T::User),
            (5, b"event") => Self::Text(T::Event),
            (5, b"login") => Self::Text(T::Login),
            (5, b"proto") => Self::Text(T::Protocol),
            (5, b"error") => Self::Text(T::Error),
            (7, b"success") => Self::Success,
            (7, b"message") => Self::Text(T::Message),
            (9, b"user_kind") => Self::UserKind,
            (9, b"server_id") => Self::Text(T::ServerId),
            (9, b"namespace") => Self::Text(T::Namespace),
            (10, b"addr.local") => Self::Text(T::AddrLocal),
            (11, b"server_addr") => Self::Text(T::ServerAddr),
            (11, b"addr.remote") => Self::Text(T::AddrRemote),
            (12, b"cluster_name") => Self::Text(T::ClusterName),
            (12, b"impersonator") => Self::Text(T::Impersonator),
            (15, b"server_hostname") => Self::Text(T::ServerHostname),
            _ => return None,
        })
    }
}

/// Collects the common fields of one event, from whichever reader sees its top-level fields:
/// the JSON parser ([`Header::parse`]) or the Struct decoder (see [`Collector`]'s
/// [`TopLevelSink`] implementation), so both read them by the same rules.
#[derive(Debug, Default)]
pub(crate) struct Collector {
    spans: [Span; TEXT_FIELDS],
    unescaped: String,
    time: Option<OffsetDateTime>,
    index: Option<i64>,
    user_kind: Option<i64>,
    success: Option<bool>,
    /// The first problem found with `event` or `time`.
    failure: Option<EventError>,
}

impl Collector {
    /// Takes the value of a common field. `span_in_json` is where a string value's text lies,
    /// unchanged, in the event's JSON text (when it has no escapes there).
    fn accept(
        &mut self,
        field: Common,
        value: Scalar<'_>,
        span_in_json: Option<(u32, u32)>,
    ) -> Result<(), EventError> {
        match field {
            Common::Time => match value {
                Scalar::Str(text) => match parse_rfc3339(&text) {
                    Ok(time) => self.time = Some(time),
                    Err(source) => {
                        let value = excerpt(&text);
                        return Err(EventError::InvalidTime { value, source });
                    }
                },
                other => {
                    return Err(EventError::WrongType {
                        field: "time",
                        expected: "an RFC 3339 timestamp string",
                        found: other.describe(),
                    });
                }
            },
            Common::Index => self.index = value.as_i64(),
            Common::UserKind => self.user_kind = value.as_i64(),
            Common::Success => {
                self.success = match value {
                    Scalar::Bool(flag) => Some(flag),
                    _ => None,
                };
            }
            Common::Text(field) => match value {
                Scalar::Str(text) => {
                    let span = match span_in_json {
                        Some((start, end)) => Some(Span::InText(start, end)),
                        None => {
                            let start = self.unescaped.len();
                            self.unescaped.push_str(&text);
                            span_of(start, text.len(), self.unescaped.len())
                                .map(|(s, e)| Span::Unescaped(s, e))
                        }
                    };
                    self.spans[field as usize] = span.unwrap_or(Span::Absent);
                }
                other if field == TextField::Event => {
                    return Err(EventError::WrongType {
                        field: "event",
                        expected: "a string",
                        found: other.describe(),
                    });
                }
                // Other common fields of an unexpected type stay in the event; their typed
                // accessor just reports them absent.
                _ => {}
            },
        }
        Ok(())
    }

    /// The header, once every top-level field has been seen.
    pub(crate) fn finish(self) -> Result<Header, EventError> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        if self.spans[TextField::Event as usize] == Span::Absent {
            return Err(EventError::MissingField { field: "event" });
        }
        let time = self
            .time
            .ok_or(EventError::MissingField { field: "time" })?;
        Ok(Header {
            spans: self.spans,
            unescaped: self.unescaped.into_boxed_str(),
            time,
            index: self.index,
            user_kind: self.user_kind,
            success: self.success,
        })
    }
}

/// The Struct decoder reports each top-level field as it writes it; the JSON it writes is
/// always valid, sorted and without repeated keys, so only the common fields need reading.
impl TopLevelSink for Collector {
    #[inline(always)]
    fn field(&mut self, key: &[u8], value: WrittenValue<'_>, out: &[u8], written: Range<usize>) {
        let Some(field) = Common::from_key(key) else {
            return;
        };
        // A string field written without escapes (the usual case) is only a span of the text:
        // what `accept` records for it, without reading the string again.
        if let (Common::Text(text_field), WrittenValue::Str(raw)) = (field, value)
            && written.len() == raw.len() + 2
            && let Some((start, end)) = span_of(written.start + 1, raw.len(), out.len())
        {
            self.spans[text_field as usize] = Span::InText(start, end);
            return;
        }
        self.other_field(field, value, out, written);
    }
}

impl Collector {
    /// [`TopLevelSink::field`] for any common field but a string written without escapes.
    #[inline(never)]
    fn other_field(
        &mut self,
        field: Common,
        value: WrittenValue<'_>,
        out: &[u8],
        written: Range<usize>,
    ) {
        fn text_of(bytes: &[u8]) -> Option<Cow<'_, str>> {
            std::str::from_utf8(bytes).ok().map(Cow::Borrowed)
        }
        let (scalar, span) = match value {
            WrittenValue::Null => (Scalar::Null, None),
            WrittenValue::Bool(flag) => (Scalar::Bool(flag), None),
            WrittenValue::Array => (Scalar::Array, None),
            WrittenValue::Object => (Scalar::Object, None),
            WrittenValue::Number => {
                let text = out.get(written).and_then(text_of).unwrap_or_default();
                (Scalar::from_number_text(&text), None)
            }
            WrittenValue::Str(raw) => {
                let Some(text) = text_of(raw) else {
                    return;
                };
                // Written without escapes: the quotes plus the text itself.
                let verbatim = written.len() == raw.len() + 2;
                let span = if verbatim {
                    span_of(written.start + 1, raw.len(), out.len())
                } else {
                    None
                };
                (Scalar::Str(text), span)
            }
        };
        if let Err(error) = self.accept(field, scalar, span)
            && self.failure.is_none()
        {
            self.failure = Some(error);
        }
    }
}

/// What the single pass over the JSON text collects.
struct State<'de> {
    json: &'de str,
    common: Collector,
    /// Whether a key came out of byte order (then repeated keys must be looked for separately;
    /// in sorted input a repeat is always next to its twin).
    keys_unsorted: bool,
    /// Our own error, when the pass stopped because of the event model rather than the JSON.
    failure: Option<EventError>,
}

impl State<'_> {
    /// Where `borrowed` lies in the event's JSON (serde_json hands out strings without escapes
    /// as slices of the input).
    fn span_in_json(&self, borrowed: &str) -> Option<(u32, u32)> {
        let start = (borrowed.as_ptr() as usize).wrapping_sub(self.json.as_ptr() as usize);
        span_of(start, borrowed.len(), self.json.len())
    }

    fn fail<E: de::Error>(&mut self, error: EventError) -> E {
        let message = error.to_string();
        self.failure = Some(error);
        E::custom(message)
    }
}

/// `start..start + len` as `u32`s, if it lies within `limit` (the text length, itself < 4 GiB).
fn span_of(start: usize, len: usize, limit: usize) -> Option<(u32, u32)> {
    let end = start.checked_add(len).filter(|end| *end <= limit)?;
    Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
}

struct HeaderVisitor<'s, 'de> {
    state: &'s mut State<'de>,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.state;
        let mut previous: Option<Text<'de>> = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            if let Some(Text(previous)) = &previous {
                match key.as_ref().cmp(previous.as_ref()) {
                    Ordering::Greater => {}
                    Ordering::Less => state.keys_unsorted = true,
                    Ordering::Equal => {
                        let field = cut(&key);
                        return Err(state.fail(EventError::DuplicateField { field }));
                    }
                }
            }
            match Common::from_key(key.as_bytes()) {
                Some(field) => {
                    let value = map.next_value::<Scalar<'de>>()?;
                    let span = match &value {
                        Scalar::Str(Cow::Borrowed(text)) => state.span_in_json(text),
                        _ => None,
                    };
                    if let Err(error) = state.common.accept(field, value, span) {
                        return Err(state.fail(error));
                    }
                }
                None => {
                    map.next_value::<Checked>()?;
                }
            }
            previous = Some(Text(key));
        }
        Ok(())
    }
}

/// The first top-level key that appears more than once, if any (a second, rarer pass).
fn repeated_key(json: &str) -> Option<String> {
    struct Keys<'de>(Vec<Cow<'de, str>>);

    impl<'de> Deserialize<'de> for Keys<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct KeysVisitor;
            impl<'de> Visitor<'de> for KeysVisitor {
                type Value = Keys<'de>;
                fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                    formatter.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys<'de>, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                        map.next_value::<IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }
            deserializer.deserialize_map(KeysVisitor)
        }
    }

    let Keys(mut keys) = serde_json::from_str::<Keys<'_>>(json).ok()?;
    keys.sort_unstable();
    keys.windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0].clone().into_owned())
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A value of a common field: the scalar itself, or just the kind of a container.
#[derive(Debug)]
enum Scalar<'de> {
    Str(Cow<'de, str>),
    Bool(bool),
    Signed(i64),
    Unsigned(u64),
    Float(f64),
    Null,
    Array,
    Object,
}

impl Scalar<'_> {
    /// The number a JSON number's text denotes, typed as serde_json types it (non-negative
    /// integers as `u64`, negative ones as `i64`, anything else as `f64`).
    fn from_number_text(text: &str) -> Self {
        if let Ok(value) = text.parse::<u64>() {
            Self::Unsigned(value)
        } else if let Ok(value) = text.parse::<i64>() {
            Self::Signed(value)
        } else {
            text.parse::<f64>().map_or(Self::Null, Self::Float)
        }
    }

    /// An integer, from any JSON number with an integral value that fits an `i64`.
    fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Signed(value) => Some(value),
            Self::Unsigned(value) => i64::try_from(value).ok(),
            #[allow(clippy::cast_possible_truncation)]
            Self::Float(value)
                if value.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&value) =>
            {
                Some(value as i64)
            }
            _ => None,
        }
    }

    /// Names the value for an error message ("the number 5", "the string \"x\"", "an array").
    fn describe(&self) -> String {
        match self {
            Self::Str(text) => format!("the string {}", excerpt(text)),
            Self::Bool(flag) => format!("the boolean {flag}"),
            Self::Signed(value) => format!("the number {value}"),
            Self::Unsigned(value) => format!("the number {value}"),
            Self::Float(value) => format!("the number {value}"),
            Self::Null => "null".to_owned(),
            Self::Array => "an array".to_owned(),
            Self::Object => "an object".to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(text)))
            }
            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(flag))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Signed(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Unsigned(value))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Float(value))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Scalar::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<Checked, Checked>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// Reads a value of any type, with the same checks a full parse into `serde_json::Value`
/// makes (numbers in range, valid escapes), without keeping it.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CheckedVisitor;
        impl<'de> Visitor<'de> for CheckedVisitor {
            type Value = Checked;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
                Ok(Checked)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(Checked)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
                while map.next_entry::<Checked, Checked>()?.is_some() {}
                Ok(Checked)
            }
        }
        deserializer.deserialize_any(CheckedVisitor)
    }
}
