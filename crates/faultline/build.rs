//! Compiles the project's own gRPC API (`proto/faultline/v1/incidents.proto`) with a vendored
//! protoc, so no protoc is needed on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts run single-threaded; the variable is read by the code generator below.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let proto = "../../proto/faultline/v1/incidents.proto";
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure().compile_protos(&[proto], &["../../proto"])?;
    Ok(())
}
