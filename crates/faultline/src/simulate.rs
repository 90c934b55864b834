//! `faultline simulate` (not yet implemented: its issue is open).

use std::process::ExitCode;

/// Arguments of `faultline simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Arguments, accepted until the command exists.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Runs the command.
pub(crate) fn run(_args: SimulateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`faultline simulate` is not yet implemented")
}
