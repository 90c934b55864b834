//! `faultline incidents`: the gRPC API's client: list the incidents, or watch their events as they happen.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::service::api::pb;

/// Arguments of `faultline incidents`.
#[derive(Debug, clap::Args)]
pub(crate) struct IncidentsArgs {
    /// The gRPC API of a running instance.
    #[arg(long, default_value = "http://127.0.0.1:7072")]
    url: String,
    /// Keep watching: the open incidents, then every incident event as it happens.
    #[arg(long)]
    watch: bool,
    /// With --watch: resume after this sequence number (as printed) instead of the open incidents.
    #[arg(long, default_value_t = 0)]
    after: u64,
    /// Only open incidents (listing).
    #[arg(long)]
    open: bool,
    /// One JSON line per incident (or event) on stdout, DESIGN.md's incident JSON.
    #[arg(long)]
    json: bool,
}

fn action(a: i32) -> &'static str {
    match pb::Action::try_from(a) {
        Ok(pb::Action::Opened) => "opened",
        Ok(pb::Action::Updated) => "updated",
        Ok(pb::Action::Resolved) => "resolved",
        _ => "open",
    }
}

fn line(i: &pb::Incident) -> String {
    let when = if i.resolved_at.is_empty() { &i.detected_at } else { &i.resolved_at };
    format!("{} {:<8} {:<20} {when}  {}", i.severity, i.status, i.service, i.title)
}

/// Runs the command.
pub(crate) fn run(args: IncidentsArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let mut client = pb::incidents_client::IncidentsClient::connect(args.url.clone())
            .await
            .with_context(|| format!("connecting to the gRPC API at {} (is faultline running?)", args.url))?;
        if !args.watch {
            let r = client
                .list_incidents(pb::ListIncidentsRequest { open_only: args.open, service: String::new() })
                .await
                .map_err(|s| anyhow::anyhow!("listing incidents: {}", s.message()))?
                .into_inner();
            for i in &r.incidents {
                println!("{}", if args.json { i.json.clone() } else { line(i) });
            }
            if !args.json && r.incidents.is_empty() {
                eprintln!("no incidents");
            }
            return Ok(ExitCode::SUCCESS);
        }
        let mut stream = client
            .watch_incidents(pb::WatchIncidentsRequest { after_seq: args.after })
            .await
            .map_err(|s| anyhow::anyhow!("watching incidents: {}", s.message()))?
            .into_inner();
        while let Some(e) =
            stream.message().await.map_err(|s| anyhow::anyhow!("watching incidents: {}", s.message()))?
        {
            let Some(i) = &e.incident else { continue };
            if args.json {
                println!(
                    "{{\"seq\":{},\"action\":\"{}\",\"snapshot\":{},\"incident\":{}}}",
                    e.seq,
                    action(e.action),
                    e.snapshot,
                    i.json
                );
            } else {
                println!("{:>20} {:<8} {}", e.seq, action(e.action), line(i));
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
