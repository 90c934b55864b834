//! `faultline run` and `faultline demo` (not yet implemented: the service issue is open).

use std::process::ExitCode;

/// Arguments of `faultline run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The pipeline config.
    #[arg(long)]
    config: Option<std::path::PathBuf>,
}

/// Arguments of `faultline demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Print incident events as JSON lines.
    #[arg(long)]
    json: bool,
}

/// Runs the service.
pub(crate) fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`faultline run` is not yet implemented")
}

/// Runs the demo.
pub(crate) fn demo(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`faultline demo` is not yet implemented")
}
