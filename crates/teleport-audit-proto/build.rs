//! Compiles `proto/` (at the workspace root) with protox, so no system `protoc` is needed.
//!
//! Two outputs:
//! - the gRPC bindings (tonic + prost) for `teleport.auditlog.v1` and the legacy `proto` package;
//! - `oneof_table.rs`: a table of every message Teleport's `events.OneOf` reaches, read from the
//!   vendored `events.proto` with its gogoproto options, saying how Go's `encoding/json` writes
//!   each field of the gogo-generated struct (see `src/legacy_events/table.rs`). No prost code is
//!   generated for `events.proto`: it has hundreds of messages and we only need this table.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use protox::prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor,
    Value,
};

type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    for file in [
        "teleport/auditlog/v1/auditlog.proto",
        "teleport/legacy/client/proto/authservice.proto",
        "teleport/legacy/types/events/events.proto",
        "teleport/legacy/types/types.proto",
        "teleport/legacy/types/wrappers/wrappers.proto",
        "gogoproto/gogo.proto",
    ] {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    grpc(&proto_root)?;
    let table = oneof_table(&proto_root)?;
    std::fs::write(out_dir.join("oneof_table.rs"), table)?;
    Ok(())
}

/// The tonic/prost bindings of the two services.
fn grpc(proto_root: &Path) -> Result<(), BoxError> {
    let files = [
        proto_root.join("teleport/auditlog/v1/auditlog.proto"),
        proto_root.join("teleport/legacy/client/proto/authservice.proto"),
    ];
    let mut descriptors = protox::compile(&files, [proto_root])?;
    // authservice.proto imports events.proto (for `StreamSessionEvents`' response type); generate
    // code only for our two packages. `events.OneOf` is mapped to raw bytes below.
    descriptors.file.retain(|file| {
        matches!(
            file.package(),
            "teleport.auditlog.v1" | "proto" | "google.protobuf"
        )
    });
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        // Keep the event payload as its encoded bytes: the types crate turns them into JSON
        // directly, without building a `prost_types::Struct` tree first.
        .extern_path(".google.protobuf.Struct", "crate::RawStruct")
        .extern_path(".google.protobuf.Timestamp", "::prost_types::Timestamp")
        // A session recording event: bytes, turned into JSON by `legacy_events`.
        .extern_path(".events.OneOf", "crate::RawOneOf")
        .compile_fds(descriptors)?;
    Ok(())
}

/// The gogoproto field options that change how Go's `encoding/json` writes a field.
struct Gogo {
    jsontag: ExtensionDescriptor,
    embed: ExtensionDescriptor,
    nullable: ExtensionDescriptor,
    stdtime: ExtensionDescriptor,
    casttype: ExtensionDescriptor,
    customtype: ExtensionDescriptor,
    wktpointer: ExtensionDescriptor,
    customname: ExtensionDescriptor,
    moretags: ExtensionDescriptor,
}

impl Gogo {
    fn new(pool: &DescriptorPool) -> Result<Gogo, BoxError> {
        let ext = |name: &str| {
            pool.get_extension_by_name(&format!("gogoproto.{name}"))
                .ok_or_else(|| format!("gogoproto.{name} is not in gogo.proto"))
        };
        Ok(Gogo {
            jsontag: ext("jsontag")?,
            embed: ext("embed")?,
            nullable: ext("nullable")?,
            stdtime: ext("stdtime")?,
            casttype: ext("casttype")?,
            customtype: ext("customtype")?,
            wktpointer: ext("wktpointer")?,
            customname: ext("customname")?,
            moretags: ext("moretags")?,
        })
    }
}

fn ext_string(opts: &DynamicMessage, ext: &ExtensionDescriptor) -> Option<String> {
    if !opts.has_extension(ext) {
        return None;
    }
    match &*opts.get_extension(ext) {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn ext_bool(opts: &DynamicMessage, ext: &ExtensionDescriptor, default: bool) -> bool {
    if !opts.has_extension(ext) {
        return default;
    }
    match &*opts.get_extension(ext) {
        Value::Bool(b) => *b,
        _ => default,
    }
}

/// gogo's `generator.CamelCase`: the Go name of a field.
fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let bytes = name.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'_') {
        out.push('X');
        i = 1;
    }
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'_' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_lowercase() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            out.push(c as char);
            i += 1;
            continue;
        }
        let mut c = c;
        if c.is_ascii_lowercase() && (i == 0 || bytes[i - 1] == b'_') {
            c = c.to_ascii_uppercase();
        }
        out.push(c as char);
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_lowercase() {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// encoding/json's `isValidTag`.
fn valid_json_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&()*+-./:;<=>?@[]^_{|}~ ".contains(c))
}

/// One field of the generated table, as Rust source.
struct Row {
    number: u32,
    /// The JSON key; `""` for an embedded struct whose fields are flattened; `"-"` for a field
    /// encoding/json skips.
    json: String,
    /// The json tag names the field (else Go uses the field's Go name); decides conflicts.
    tagged: bool,
    omit_empty: bool,
    repeated: bool,
    kind: String,
}

struct Generator {
    gogo: Gogo,
    messages: Vec<MessageDescriptor>,
    index: HashMap<String, usize>,
    queue: VecDeque<usize>,
}

impl Generator {
    fn message(&mut self, message: &MessageDescriptor) -> usize {
        if let Some(&i) = self.index.get(message.full_name()) {
            return i;
        }
        let i = self.messages.len();
        self.messages.push(message.clone());
        self.index.insert(message.full_name().to_string(), i);
        self.queue.push_back(i);
        i
    }

    fn row(&mut self, field: &FieldDescriptor) -> Result<Row, BoxError> {
        let g = &self.gogo;
        let opts = field.options();
        let where_ = || field.full_name().to_string();
        for unsupported in [&g.customname, &g.moretags] {
            if opts.has_extension(unsupported) {
                return Err(format!(
                    "{}: gogoproto.{} is not supported",
                    where_(),
                    unsupported.name()
                )
                .into());
            }
        }
        let jsontag = ext_string(&opts, &g.jsontag);
        let embed = ext_bool(&opts, &g.embed, false);
        let nullable = ext_bool(&opts, &g.nullable, true);
        let stdtime = ext_bool(&opts, &g.stdtime, false);
        let casttype = ext_string(&opts, &g.casttype);
        let customtype = ext_string(&opts, &g.customtype);
        let wktpointer = ext_bool(&opts, &g.wktpointer, false);
        let repeated = field.is_list();
        let is_message = matches!(field.kind(), Kind::Message(_));
        // gogo's generator: `json:"<proto name>,omitempty"`, without omitempty for a
        // non-nullable field that is not a repeated scalar; a jsontag replaces the whole tag.
        let repeated_native = !is_message && customtype.is_none() && repeated;
        let tag = jsontag.clone().unwrap_or_else(|| {
            if !nullable && !repeated_native {
                field.name().to_string()
            } else {
                format!("{},omitempty", field.name())
            }
        });
        let mut parts = tag.split(',');
        let name = parts.next().unwrap_or("").to_string();
        let options: Vec<&str> = parts.collect();
        if options.contains(&"string") {
            return Err(format!("{}: the json `,string` option is not supported", where_()).into());
        }
        let omit_empty = options.contains(&"omitempty");
        let anonymous = is_message && embed;
        let tagged = valid_json_name(&name);
        let json = if tag == "-" {
            "-".to_string()
        } else if anonymous && name.is_empty() {
            String::new()
        } else if name.is_empty() || !valid_json_name(&name) {
            // encoding/json uses the Go field name.
            if anonymous {
                field_message(field)?.name().to_string()
            } else {
                camel_case(field.name())
            }
        } else {
            name
        };
        let kind = if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return Err(format!("{}: a map without an entry message", where_()).into());
            };
            let key = entry.map_entry_key_field().kind();
            let value = entry.map_entry_value_field().kind();
            if !matches!((key, value), (Kind::String, Kind::String)) {
                return Err(format!("{}: only map<string, string> is supported", where_()).into());
            }
            "Kind::StringMap".to_string()
        } else {
            match field.kind() {
                Kind::Message(m) => match m.full_name() {
                    "google.protobuf.Timestamp" if stdtime && !repeated => {
                        format!("Kind::Time {{ nullable: {nullable} }}")
                    }
                    "google.protobuf.Struct"
                        if casttype.as_deref() == Some("Struct") && !repeated =>
                    {
                        format!("Kind::Struct {{ nullable: {nullable} }}")
                    }
                    "google.protobuf.UInt32Value" if wktpointer && !repeated => {
                        "Kind::U32Ptr".to_string()
                    }
                    "google.protobuf.UInt64Value" if wktpointer && !repeated => {
                        "Kind::U64Ptr".to_string()
                    }
                    "wrappers.LabelValues"
                        if customtype.as_deref()
                            == Some(
                                "github.com/gravitational/teleport/api/types/wrappers.Traits",
                            )
                            && !nullable
                            && !repeated =>
                    {
                        "Kind::Traits".to_string()
                    }
                    name if name.starts_with("google.protobuf.") => {
                        return Err(format!(
                            "{}: {name} without a supported gogoproto option",
                            where_()
                        )
                        .into());
                    }
                    _ => {
                        if stdtime || casttype.is_some() || customtype.is_some() || wktpointer {
                            return Err(format!(
                                "{}: unsupported gogoproto option on a message",
                                where_()
                            )
                            .into());
                        }
                        if anonymous && (repeated || nullable) {
                            return Err(format!(
                                "{}: a repeated or nullable embedded field",
                                where_()
                            )
                            .into());
                        }
                        let i = self.message(&m);
                        if json.is_empty() {
                            format!("Kind::Embed {{ msg: {i} }}")
                        } else {
                            format!("Kind::Message {{ msg: {i}, nullable: {nullable} }}")
                        }
                    }
                },
                scalar => {
                    if stdtime || customtype.is_some() || wktpointer {
                        return Err(format!(
                            "{}: unsupported gogoproto option on a scalar",
                            where_()
                        )
                        .into());
                    }
                    // A casttype on a scalar (a named Go string type) does not change its JSON.
                    match scalar {
                        Kind::Bool => "Kind::Bool",
                        Kind::Int32 => "Kind::Int32",
                        Kind::Int64 => "Kind::Int64",
                        Kind::Uint32 => "Kind::Uint32",
                        Kind::Uint64 => "Kind::Uint64",
                        Kind::Sint32 => "Kind::Sint32",
                        Kind::Sint64 => "Kind::Sint64",
                        Kind::Fixed32 => "Kind::Fixed32",
                        Kind::Fixed64 => "Kind::Fixed64",
                        Kind::Sfixed32 => "Kind::Sfixed32",
                        Kind::Sfixed64 => "Kind::Sfixed64",
                        Kind::Float => "Kind::Float",
                        Kind::Double => "Kind::Double",
                        Kind::String => "Kind::String",
                        Kind::Bytes => "Kind::Bytes",
                        Kind::Enum(_) => "Kind::Enum",
                        Kind::Message(_) => unreachable!("handled above"),
                    }
                    .to_string()
                }
            }
        };
        if field.containing_oneof().is_some() {
            return Err(format!("{}: a oneof outside events.OneOf", where_()).into());
        }
        Ok(Row {
            number: field.number(),
            json,
            tagged,
            omit_empty,
            repeated,
            kind,
        })
    }
}

fn field_message(field: &FieldDescriptor) -> Result<MessageDescriptor, BoxError> {
    match field.kind() {
        Kind::Message(m) => Ok(m),
        _ => Err(format!("{}: not a message", field.full_name()).into()),
    }
}

fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

/// Reads `events.proto` and writes the table (Rust source).
fn oneof_table(proto_root: &Path) -> Result<String, BoxError> {
    let mut compiler = protox::Compiler::new([proto_root])?;
    compiler.open_file("teleport/legacy/types/events/events.proto")?;
    let pool = compiler.descriptor_pool();
    let oneof = pool
        .get_message_by_name("events.OneOf")
        .ok_or("events.OneOf is not in events.proto")?;
    let mut generator = Generator {
        gogo: Gogo::new(&pool)?,
        messages: Vec::new(),
        index: HashMap::new(),
        queue: VecDeque::new(),
    };
    let mut variants = Vec::new();
    for field in oneof.fields() {
        if field.containing_oneof().is_none() {
            return Err(format!(
                "{}: events.OneOf field outside the oneof",
                field.full_name()
            )
            .into());
        }
        let message = field_message(&field)?;
        let i = generator.message(&message);
        variants.push((field.number(), field.name().to_string(), i));
    }
    variants.sort();
    let mut rows: BTreeMap<usize, Vec<Row>> = BTreeMap::new();
    while let Some(i) = generator.queue.pop_front() {
        let message = generator.messages[i].clone();
        let mut fields = Vec::new();
        for field in message.fields() {
            fields.push(generator.row(&field)?);
        }
        fields.sort_by_key(|row| row.number);
        rows.insert(i, fields);
    }

    let mut out = String::new();
    writeln!(
        out,
        "// Generated by build.rs from proto/teleport/legacy/types/events/events.proto."
    )?;
    writeln!(out, "/// Every message `events.OneOf` reaches, by index.")?;
    writeln!(out, "pub(crate) static MESSAGES: &[Msg] = &[")?;
    for (i, message) in generator.messages.iter().enumerate() {
        writeln!(out, "    // {i}: {}", message.full_name())?;
        writeln!(out, "    Msg {{ fields: &[")?;
        for row in rows.get(&i).map(Vec::as_slice).unwrap_or_default() {
            writeln!(
                out,
                "        Field {{ number: {}, json: {}, tagged: {}, omit_empty: {}, repeated: {}, kind: {} }},",
                row.number,
                rust_str(&row.json),
                row.tagged,
                row.omit_empty,
                row.repeated,
                row.kind
            )?;
        }
        writeln!(out, "    ] }},")?;
    }
    writeln!(out, "];")?;
    writeln!(out, "/// The variants of `events.OneOf`, by field number.")?;
    writeln!(out, "pub(crate) static VARIANTS: &[Variant] = &[")?;
    for (number, name, msg) in &variants {
        writeln!(
            out,
            "    Variant {{ number: {number}, name: {}, msg: {msg} }},",
            rust_str(name)
        )?;
    }
    writeln!(out, "];")?;
    Ok(out)
}
