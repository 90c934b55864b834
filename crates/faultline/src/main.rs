//! The `faultline` command line: parses arguments, runs one command, decides the exit code.

mod checkpoint_cmd;
mod config;
mod eval;
mod incidents_cmd;
mod nab;
mod progress;
mod replay;
mod service;
mod simulate;
mod sql_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Streaming telemetry anomaly detection: one incident, seconds after an outage starts.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The embedded default: a simulated outage played through a full pipeline.
    Demo(service::DemoArgs),
    /// Run the service.
    Run(service::RunArgs),
    /// Validate a pipeline config: every error with its key path and line.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Print a scenario's events as JSON lines.
    Simulate(simulate::SimulateArgs),
    /// Run a pipeline over recorded events as fast as it can.
    Replay(replay::ReplayArgs),
    /// Detection quality on every built-in scenario.
    Eval(eval::EvalArgs),
    /// Write NAB result files for a directory of NAB data.
    Nab(nab::NabArgs),
    /// List a running instance's incidents, or watch their events (its gRPC API).
    Incidents(incidents_cmd::IncidentsArgs),
    /// Inspect a state directory's checkpoint.
    #[command(subcommand)]
    Checkpoint(checkpoint_cmd::CheckpointCommand),
    /// Run a SQL query against a running instance.
    Sql(sql_cmd::SqlArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: logs piped to a file or journald stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => service::demo(args),
        Command::Run(args) => service::run(args),
        Command::CheckConfig { file } => config::check_config(&file),
        Command::Simulate(args) => simulate::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Nab(args) => nab::run(args),
        Command::Checkpoint(cmd) => checkpoint_cmd::run(cmd),
        Command::Incidents(args) => incidents_cmd::run(args),
        Command::Sql(args) => sql_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
