//! Compiles `bourse/v1/*.proto` with protox (pure Rust), so building Bourse
//! never needs a `protoc` on the machine.
use prost::Message;

const PROTOS: &[&str] =
    &["bourse/v1/values.proto", "bourse/v1/types.proto", "bourse/v1/trader.proto", "bourse/v1/dynamic.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("bourse_descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
