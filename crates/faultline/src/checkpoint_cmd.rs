//! `faultline checkpoint show`: a state directory's binary checkpoint as JSON, for people and tools.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::service::checkpoint;

/// `faultline checkpoint …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CheckpointCommand {
    /// Print the checkpoint as one JSON object (the same shape older versions wrote).
    Show {
        /// A state directory, or a checkpoint file.
        path: PathBuf,
        /// Indent the JSON.
        #[arg(long)]
        pretty: bool,
    },
}

/// Runs the command.
pub(crate) fn run(cmd: CheckpointCommand) -> anyhow::Result<ExitCode> {
    let CheckpointCommand::Show { path, pretty } = cmd;
    let cp = if path.is_dir() {
        checkpoint::read(&path)?
            .with_context(|| format!("{}: no checkpoint in this state directory", path.display()))?
    } else {
        checkpoint::read_file(&path)?
    };
    let mut out = std::io::stdout().lock();
    if pretty {
        serde_json::to_writer_pretty(&mut out, &cp).context("writing the checkpoint")?;
    } else {
        out.write_all(&cp.to_json())?;
    }
    out.write_all(b"\n")?;
    Ok(ExitCode::SUCCESS)
}
