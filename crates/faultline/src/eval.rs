//! `faultline eval` (not yet implemented: its issue is open).

use std::process::ExitCode;

/// Arguments of `faultline eval`.
#[derive(Debug, clap::Args)]
pub(crate) struct EvalArgs {
    /// Arguments, accepted until the command exists.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Runs the command.
pub(crate) fn run(_args: EvalArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`faultline eval` is not yet implemented")
}
