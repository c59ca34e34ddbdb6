//! Compiles `proto/` (at the workspace root) with protox, so no system `protoc` is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let files = [
        proto_root.join("teleport/auditlog/v1/auditlog.proto"),
        proto_root.join("teleport/legacy/client/proto/authservice.proto"),
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&proto_root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        // Keep the event payload as its encoded bytes: the types crate turns them into JSON
        // directly, without building a `prost_types::Struct` tree first.
        .extern_path(".google.protobuf.Struct", "crate::RawStruct")
        .extern_path(".google.protobuf.Timestamp", "::prost_types::Timestamp")
        .compile_fds(descriptors)?;
    Ok(())
}
