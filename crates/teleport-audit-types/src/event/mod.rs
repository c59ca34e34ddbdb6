//! [`AuditEvent`]: one Teleport audit event, kept losslessly.

mod header;
mod time_text;

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use self::header::{Collector, Header, TextField};
use crate::codes::{self, CodeInfo, Severity};
use crate::error::EventError;
use crate::wire;

/// One Teleport audit event.
///
/// The event keeps the JSON text it was made from, exactly ([`as_json`](Self::as_json)), its
/// common fields parsed once when it is built (type, code, time, uid, index, user, session,
/// server and connection metadata, status), and parses the complete ordered field map only when
/// something asks for it ([`fields`](Self::fields), [`get`](Self::get), a typed view).
///
/// Only two fields are required: `event` (a string) and `time` (an RFC 3339 string). Any other
/// field may be absent or of an unexpected type; its typed accessor then returns `None` while
/// the value itself stays in the event. Unknown event types and codes are kept whole and
/// reported by [`is_known`](Self::is_known).
///
/// Serialising the event with serde writes the same JSON object that came in, field for field
/// and value for value, in the original field order.
#[derive(Clone)]
pub struct AuditEvent {
    json: Box<str>,
    // Boxed, as is the parsed map: an event is moved several times on its way from a page to
    // the caller, and a few words move in registers where 368 bytes took a `memcpy` call.
    header: Box<Header>,
    fields: OnceLock<Box<Map<String, Value>>>,
}

/// The kind of Teleport identity behind an event (`user_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UserKind {
    /// `0`: not specified.
    Unspecified,
    /// `1`: a human user.
    Human,
    /// `2`: a Machine ID bot.
    Bot,
    /// Any other value.
    Other(i64),
}

impl UserKind {
    fn from_number(number: i64) -> Self {
        match number {
            0 => Self::Unspecified,
            1 => Self::Human,
            2 => Self::Bot,
            other => Self::Other(other),
        }
    }
}

impl AuditEvent {
    /// Reads an event from JSON text, keeping the text exactly as given.
    ///
    /// # Errors
    ///
    /// [`EventError`] when the text is not one JSON object, has no string `event`, has no `time`
    /// or a `time` that is not an RFC 3339 string, or repeats a top-level key. The error names
    /// the field and quotes (a bounded excerpt of) the offending value.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        Self::from_string(text.to_owned())
    }

    /// Like [`from_json`](Self::from_json), taking ownership of the text (no copy).
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json).
    pub fn from_string(text: String) -> Result<Self, EventError> {
        let header = Header::parse(&text)?;
        Ok(Self {
            json: text.into_boxed_str(),
            header: Box::new(header),
            fields: OnceLock::new(),
        })
    }

    /// Reads an event from bytes that should be UTF-8 JSON text.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidUtf8`] with the offset of the first bad byte, or any error of
    /// [`from_json`](Self::from_json).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EventError> {
        let text = std::str::from_utf8(bytes).map_err(|source| EventError::InvalidUtf8 {
            offset: source.valid_up_to(),
            source,
        })?;
        Self::from_json(text)
    }

    /// Reads an event from the protobuf encoding of a `google.protobuf.Struct` (the
    /// `unstructured` field of Teleport's `EventUnstructured`), converting it to JSON text with
    /// [`wire::struct_to_json`] (sorted keys, Go's number format).
    ///
    /// # Errors
    ///
    /// [`EventError::Wire`] when the bytes are not a valid Struct, or any error of
    /// [`from_json`](Self::from_json) for the JSON it holds.
    pub fn from_struct_bytes(encoded_struct: &[u8]) -> Result<Self, EventError> {
        // The decoder hands the top-level fields to the collector as it writes them, so the
        // JSON it produces is not parsed a second time.
        let mut common = Collector::default();
        let text = wire::struct_to_json_exact(encoded_struct, &mut common)?;
        if u32::try_from(text.len()).is_err() {
            return Err(EventError::TooLarge { len: text.len() });
        }
        Ok(Self {
            header: Box::new(common.finish()?),
            json: text,
            fields: OnceLock::new(),
        })
    }

    /// Builds an event from a JSON object (rendered as compact JSON text in the map's order).
    ///
    /// # Errors
    ///
    /// As [`from_json`](Self::from_json) (a missing or malformed `event` or `time`).
    pub fn from_fields(fields: Map<String, Value>) -> Result<Self, EventError> {
        Self::from_string(Value::Object(fields).to_string())
    }

    /// The event's JSON text, exactly as received or converted: writing it out needs no
    /// re-serialisation.
    pub fn as_json(&self) -> &str {
        &self.json
    }

    /// The event's JSON text, consuming the event.
    pub fn into_json(self) -> String {
        self.json.into_string()
    }

    /// The event encoded as a `google.protobuf.Struct` (as a Teleport server would send it).
    pub fn to_struct_bytes(&self) -> Vec<u8> {
        wire::encode_struct(self.fields())
    }

    /// Every field, in the order of the JSON text (parsed on first use, then cached).
    pub fn fields(&self) -> &Map<String, Value> {
        // The text was fully checked when the event was built (every number in range, every
        // escape valid, no repeated key), so this parse succeeds.
        self.fields
            .get_or_init(|| Box::new(serde_json::from_str(&self.json).unwrap_or_default()))
    }

    /// The value of one field, if present.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields().get(field)
    }

    fn text(&self, field: TextField) -> Option<&str> {
        self.header.text(&self.json, field)
    }

    /// The event type (`event`), e.g. `"user.login"`.
    pub fn event_type(&self) -> &str {
        self.text(TextField::Event).unwrap_or_default()
    }

    /// The event code (`code`), e.g. `"T1000I"`.
    pub fn code(&self) -> Option<&str> {
        self.text(TextField::Code)
    }

    /// When the event happened (`time`, RFC 3339 with up to nanosecond precision).
    pub fn time(&self) -> OffsetDateTime {
        self.header.time
    }

    /// The event's unique id (`uid`).
    pub fn uid(&self) -> Option<&str> {
        self.text(TextField::Uid)
    }

    /// The event index (`ei`): its position within a session, `0` for most cluster events.
    pub fn index(&self) -> Option<i64> {
        self.header.index
    }

    /// The cluster the event happened in (`cluster_name`).
    pub fn cluster_name(&self) -> Option<&str> {
        self.text(TextField::ClusterName)
    }

    /// The Teleport user who acted (`user`).
    pub fn user(&self) -> Option<&str> {
        self.text(TextField::User)
    }

    /// The OS or database login used (`login`).
    pub fn login(&self) -> Option<&str> {
        self.text(TextField::Login)
    }

    /// The user who impersonated `user`, if any (`impersonator`).
    pub fn impersonator(&self) -> Option<&str> {
        self.text(TextField::Impersonator)
    }

    /// The kind of identity behind the event (`user_kind`).
    pub fn user_kind(&self) -> Option<UserKind> {
        self.header.user_kind.map(UserKind::from_number)
    }

    /// The acting user's roles (`user_roles`); empty when absent.
    pub fn roles(&self) -> Vec<&str> {
        self.strings("user_roles")
    }

    /// The session the event belongs to (`sid`).
    pub fn session_id(&self) -> Option<&str> {
        self.text(TextField::SessionId)
    }

    /// The id of the Teleport server that emitted or handled the event (`server_id`).
    pub fn server_id(&self) -> Option<&str> {
        self.text(TextField::ServerId)
    }

    /// The hostname of that server (`server_hostname`).
    pub fn server_hostname(&self) -> Option<&str> {
        self.text(TextField::ServerHostname)
    }

    /// The address of that server (`server_addr`).
    pub fn server_addr(&self) -> Option<&str> {
        self.text(TextField::ServerAddr)
    }

    /// The namespace (`namespace`, almost always `"default"`).
    pub fn namespace(&self) -> Option<&str> {
        self.text(TextField::Namespace)
    }

    /// The local (server-side) address of the connection (`addr.local`).
    pub fn addr_local(&self) -> Option<&str> {
        self.text(TextField::AddrLocal)
    }

    /// The remote (client) address of the connection (`addr.remote`).
    pub fn addr_remote(&self) -> Option<&str> {
        self.text(TextField::AddrRemote)
    }

    /// The protocol (`proto`): `"ssh"`, `"kube"`, `"tdp"`, ...
    pub fn protocol(&self) -> Option<&str> {
        self.text(TextField::Protocol)
    }

    /// Whether the action succeeded (`success`), when the event says.
    pub fn success(&self) -> Option<bool> {
        self.header.success
    }

    /// The error reported (`error`).
    pub fn error(&self) -> Option<&str> {
        self.text(TextField::Error)
    }

    /// The detailed message reported with an error (`message`).
    pub fn message(&self) -> Option<&str> {
        self.text(TextField::Message)
    }

    /// The catalogue entry of the event's code, when Teleport defines the code.
    pub fn code_info(&self) -> Option<&'static CodeInfo> {
        self.code().and_then(codes::lookup)
    }

    /// Whether both the event type and the code are in the catalogue, and belong together.
    /// `false` for Teleport's `unknown` placeholder (code `TCC00E`), for codes Teleport does not
    /// define, for events without a code, and for a code of another event type.
    pub fn is_known(&self) -> bool {
        self.code()
            .is_some_and(|code| codes::is_known(self.event_type(), code))
    }

    /// Severity from the code's last letter (also for codes missing from the catalogue).
    pub fn severity(&self) -> Option<Severity> {
        self.code().and_then(Severity::from_code)
    }

    /// Whether the action failed: `success` is `false`, or, without `success`, the code's
    /// severity is a warning or an error.
    pub fn is_failure(&self) -> bool {
        match self.success() {
            Some(success) => !success,
            None => matches!(self.severity(), Some(Severity::Warning | Severity::Error)),
        }
    }

    /// A string field, when present and a string.
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    /// An integral number field, when present and integral (Go writes integers without `.0`).
    pub fn get_i64(&self, field: &str) -> Option<i64> {
        let value = self.get(field)?;
        value.as_i64().or_else(|| {
            let float = value.as_f64()?;
            let in_range = (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&float);
            #[allow(clippy::cast_possible_truncation)]
            (float.fract() == 0.0 && in_range).then_some(float as i64)
        })
    }

    /// A boolean field, when present and a boolean.
    pub fn get_bool(&self, field: &str) -> Option<bool> {
        self.get(field).and_then(Value::as_bool)
    }

    /// An object field, when present and an object.
    pub fn get_object(&self, field: &str) -> Option<&Map<String, Value>> {
        self.get(field).and_then(Value::as_object)
    }

    /// A timestamp field (RFC 3339 string), when present and valid.
    pub fn get_time(&self, field: &str) -> Option<OffsetDateTime> {
        self.get_str(field)
            .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
    }

    /// The strings of an array field (other elements skipped); empty when absent.
    pub fn strings(&self, field: &str) -> Vec<&str> {
        string_list(self.get(field))
    }
}

/// The strings of an optional JSON array (other elements skipped).
pub(crate) fn string_list(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

impl fmt::Debug for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditEvent")
            .field("event", &self.event_type())
            .field("code", &self.code())
            .field("time", &self.header.time)
            .field("uid", &self.uid())
            .field("index", &self.header.index)
            .field("json_bytes", &self.json.len())
            .finish()
    }
}

/// Writes the event's JSON text.
impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

impl FromStr for AuditEvent {
    type Err = EventError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_json(text)
    }
}

/// Two events are equal when they are the same JSON object (field order and number spelling
/// aside: `1e2` equals `100.0`, but not `100`, as in `serde_json::Value`).
impl PartialEq for AuditEvent {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json || self.fields() == other.fields()
    }
}

/// Writes every field, in the original order.
impl Serialize for AuditEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields().serialize(serializer)
    }
}

/// Reads any map of fields (from any serde format) and renders it as compact JSON text.
impl<'de> Deserialize<'de> for AuditEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_fields(fields).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"cluster_name":"test.teleport-test.sh","code":"T543I","ei":0,"event":"account.settings.updated","expires":"0001-01-01T00:00:00Z","name":"admin","time":"2025-12-02T07:14:36Z","uid":"f1d66612-8f98-df5c-a9a0-724daf43a08e","user":"system"}"#;

    fn event(text: &str) -> AuditEvent {
        match AuditEvent::from_json(text) {
            Ok(event) => event,
            Err(error) => panic!("{text}: {error}"),
        }
    }

    #[test]
    fn an_event_is_small_to_move() {
        // A stream moves each event several times on its way to the caller; its parts stay
        // behind pointers (was 368 bytes, a `memcpy` call per move).
        assert!(std::mem::size_of::<AuditEvent>() <= 48);
    }

    #[test]
    fn from_struct_bytes_text_is_exact_and_reused_buffers_do_not_leak_between_events() {
        let long = r#"{"event":"a","time":"2025-12-02T07:14:36Z","x":"0123456789012345678901234567890123456789"}"#;
        let short = r#"{"event":"b","time":"2025-12-02T07:14:37Z"}"#;
        for text in [long, short, long] {
            let encoded = wire::json_to_struct(text).unwrap_or_default();
            let decoded = AuditEvent::from_struct_bytes(&encoded).map(AuditEvent::into_json);
            assert_eq!(decoded.ok().as_deref(), Some(text));
        }
    }

    #[test]
    fn common_fields_of_the_seed_sample() {
        let event = event(SAMPLE);
        assert_eq!(event.as_json(), SAMPLE);
        assert_eq!(event.event_type(), "account.settings.updated");
        assert_eq!(event.code(), Some("T543I"));
        assert_eq!(event.index(), Some(0));
        assert_eq!(event.cluster_name(), Some("test.teleport-test.sh"));
        assert_eq!(event.user(), Some("system"));
        assert_eq!(event.uid(), Some("f1d66612-8f98-df5c-a9a0-724daf43a08e"));
        assert_eq!(event.time().unix_timestamp(), 1_764_659_676);
        assert_eq!(event.login(), None);
        assert_eq!(event.get_str("name"), Some("admin"));
        // T543I is not a code Teleport's codes.go defines.
        assert!(!event.is_known());
        assert_eq!(event.severity(), Some(Severity::Info));
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let event = event(
            r#"{"event":"user.login","time":"2019-04-22T00:49:03Z","user":"a\u0062\"c","error":"line1\nline2"}"#,
        );
        assert_eq!(event.user(), Some("ab\"c"));
        assert_eq!(event.error(), Some("line1\nline2"));
    }

    #[test]
    fn nanoseconds_and_offsets_are_kept() {
        let event = event(r#"{"event":"x","time":"2021-05-21T22:23:55.313562027+02:00"}"#);
        assert_eq!(event.time().nanosecond(), 313_562_027);
        assert_eq!(event.time().offset().whole_hours(), 2);
    }

    #[test]
    fn common_fields_of_unexpected_type_are_absent_but_kept() {
        let event = event(
            r#"{"event":"x","time":"2020-01-01T00:00:00Z","user":7,"ei":"12","success":"yes","code":null}"#,
        );
        assert_eq!(event.user(), None);
        assert_eq!(event.index(), None);
        assert_eq!(event.success(), None);
        assert_eq!(event.code(), None);
        assert_eq!(event.get("user"), Some(&Value::from(7)));
        assert!(!event.is_known());
    }

    #[test]
    fn integral_floats_are_indexes() {
        let event = event(r#"{"event":"x","time":"2020-01-01T00:00:00Z","ei":3.0,"user_kind":2}"#);
        assert_eq!(event.index(), Some(3));
        assert_eq!(event.user_kind(), Some(UserKind::Bot));
        let fractional = self::event(r#"{"event":"x","time":"2020-01-01T00:00:00Z","ei":3.5}"#);
        assert_eq!(fractional.index(), None);
    }

    #[test]
    fn events_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<AuditEvent>();
        let event = event(SAMPLE);
        let fields = std::thread::scope(|scope| {
            let handle = scope.spawn(|| event.fields().len());
            handle.join().unwrap_or_default()
        });
        assert_eq!(fields, 9);
    }

    #[test]
    fn from_struct_bytes_reads_escaped_common_fields() {
        let text = r#"{"error":"bad \"quote\"\nline","event":"user.login","time":"2019-04-22T00:49:03.5Z","user":"zoë"}"#;
        let encoded = match wire::json_to_struct(text) {
            Ok(encoded) => encoded,
            Err(error) => panic!("{error}"),
        };
        let event = match AuditEvent::from_struct_bytes(&encoded) {
            Ok(event) => event,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(event.as_json(), text);
        assert_eq!(event.error(), Some("bad \"quote\"\nline"));
        assert_eq!(event.user(), Some("zoë"));
        assert_eq!(event.time().millisecond(), 500);
    }

    #[test]
    fn debug_is_short() {
        let text = format!("{:?}", event(SAMPLE));
        assert!(
            text.starts_with("AuditEvent { event: \"account.settings.updated\""),
            "{text}"
        );
        assert!(!text.contains("test.teleport-test.sh"), "{text}");
    }
}
