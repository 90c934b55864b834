//! `faultline nab` (not yet implemented: its issue is open).

use std::process::ExitCode;

/// Arguments of `faultline nab`.
#[derive(Debug, clap::Args)]
pub(crate) struct NabArgs {
    /// Arguments, accepted until the command exists.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    rest: Vec<String>,
}

/// Runs the command.
pub(crate) fn run(_args: NabArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`faultline nab` is not yet implemented")
}
