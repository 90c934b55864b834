//! `faultline run` and `faultline demo`: config to running threads, the admin endpoint, signals and shutdown.

pub(crate) mod admin;
pub(crate) mod api;
pub(crate) mod checkpoint;
pub(crate) mod delivery;
mod demo;
mod ingest_errors;
mod metrics;
pub(crate) mod output;
mod processor;
mod runtime;
mod sink;
mod sql;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;

pub(crate) use demo::demo;

use faultline_core::SeriesRegistry;
use faultline_ingest::kafka::Payload;
use faultline_ingest::otlp::{SpanMapping, WalConfig};
use faultline_ingest::{
    FileSource, KafkaConfig, KafkaSource, LineDecoder, OtlpConfig, OtlpSource, ReaderSource, Source, StreamConfig,
    StreamSource,
};

use self::admin::AdminState;
use self::runtime::StartOptions;
use self::sink::SinkOut;
use crate::config::{self, KafkaPayloadSpec, PipelineSpec, SourceKind};

/// Arguments of `faultline run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The pipeline config.
    #[arg(long)]
    config: PathBuf,
}

/// Arguments of `faultline demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Print only incident events as JSON lines on stdout (URLs and logs go to stderr).
    #[arg(long)]
    json: bool,
    /// Keep running after the scenario ends, until SIGINT or SIGTERM.
    #[arg(long)]
    follow: bool,
    /// No progress bar while the normal history is fast-forwarded.
    #[arg(long)]
    quiet: bool,
    /// Wall-clock seconds the played part of the scenario takes.
    #[arg(long, default_value_t = 45)]
    seconds: u64,
}

/// How long delivery sinks may take at shutdown to deliver what is pending.
const DELIVERY_GRACE: Duration = Duration::from_secs(5);

/// How long shutdown may take after the first signal before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Runs the service.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let spec = config::load(&args.config)?;
    anyhow::ensure!(!spec.sources.is_empty(), "{}: no [sources.NAME] section: nothing to read", args.config.display());
    for s in &spec.sinks {
        if let config::SinkKind::Off(why) = &s.kind {
            eprintln!("faultline: sink {} is off: {why}", s.name);
        }
    }
    let sinks = spec
        .sinks
        .iter()
        .filter(|s| {
            matches!(s.kind, config::SinkKind::Stdout | config::SinkKind::File(_))
                && !s.through_outbox(spec.state.directory.is_some())
        })
        .map(SinkOut::open)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let batch_events = spec.runtime.batch_events;
    let decoders = spec.runtime.decoders;
    // OTLP, TCP and UDP ports are bound before any thread starts, so a port in use fails the start.
    let sources = move |registry: &Arc<SeriesRegistry>, spec: &PipelineSpec| -> anyhow::Result<Vec<Box<dyn Source>>> {
        spec.sources
            .iter()
            .map(|s| {
                Ok(match s.kind.clone() {
                    SourceKind::File { path, follow, max_lines_per_second, format } => {
                        let decoder = LineDecoder::with_parser(registry.clone(), spec.decoder.clone(), format.parser());
                        let source = FileSource::new(&s.name, path, follow, decoder, runtime::wall_now)
                            .batch_events(batch_events)
                            .decoders(decoders)
                            .max_lines_per_second(max_lines_per_second);
                        Box::new(source) as Box<dyn Source>
                    }
                    SourceKind::Stdin { format } => {
                        let decoder = LineDecoder::with_parser(registry.clone(), spec.decoder.clone(), format.parser())
                            .with_origin("stdin");
                        let stdin = Box::new(std::io::BufReader::with_capacity(1 << 16, std::io::stdin()));
                        Box::new(ReaderSource::new(&s.name, stdin, decoder, batch_events).decoders(decoders))
                            as Box<dyn Source>
                    }
                    SourceKind::Stream { tcp, udp, framing, max_message_bytes, max_connections, format } => {
                        let decoder = LineDecoder::with_parser(registry.clone(), spec.decoder.clone(), format.parser());
                        let config =
                            StreamConfig { tcp, udp, framing, max_message_bytes, max_connections, batch_events };
                        let source = StreamSource::bind(&s.name, config, decoder, runtime::wall_now)?;
                        if let Some(a) = source.tcp_addr() {
                            eprintln!("faultline: TCP lines on {a} (source {})", s.name);
                        }
                        if let Some(a) = source.udp_addr() {
                            eprintln!("faultline: UDP datagrams on {a} (source {})", s.name);
                        }
                        Box::new(source) as Box<dyn Source>
                    }
                    SourceKind::Kafka(k) => {
                        let payload = match &k.payload {
                            KafkaPayloadSpec::Lines(format) => Payload::Lines(Box::new(LineDecoder::with_parser(
                                registry.clone(),
                                spec.decoder.clone(),
                                format.parser(),
                            ))),
                            KafkaPayloadSpec::Otlp { signal, json, dimensions, log_attributes } => Payload::Otlp {
                                signal: *signal,
                                json: *json,
                                mapping: SpanMapping::new(&spec.decoder.dims, dimensions)
                                    .with_log_attributes(log_attributes.clone()),
                                registry: registry.clone(),
                                decoder: spec.decoder.clone(),
                            },
                        };
                        let topics: Vec<&str> = k.topics.iter().map(String::as_str).collect();
                        let mut config = KafkaConfig::new(&k.client.brokers, &k.group, &topics);
                        config.settings = k.client.all();
                        config.settings.push(("auto.offset.reset".into(), k.start.clone()));
                        config.max_message_bytes = k.max_message_bytes;
                        config.dead_letter_topic = k.dead_letter_topic.clone();
                        config.handover_topic = k.handover_topic.clone();
                        config.partition_store = k.partition_state.clone().map(faultline_ingest::PartitionStore::new);
                        config.batch_events = batch_events;
                        // Without a state directory there is no checkpoint to wait for.
                        config.handover = if spec.state.directory.is_some() { k.handover } else { Duration::ZERO };
                        let source = KafkaSource::connect(&s.name, config, payload, runtime::wall_now)?;
                        eprintln!(
                            "faultline: Kafka topics {} on {} in group {} (source {}: {} partitions)",
                            k.topics.join(", "),
                            k.client.brokers,
                            k.group,
                            s.name,
                            source.partitions().len()
                        );
                        Box::new(source) as Box<dyn Source>
                    }
                    SourceKind::Otlp(o) => {
                        let config = OtlpConfig {
                            grpc: o.grpc,
                            http: o.http,
                            grpc_max_bytes: o.grpc_max_bytes,
                            http_max_bytes: o.http_max_bytes,
                            retry_after: Duration::from_millis(o.retry_after.0.max(0) as u64),
                            mapping: SpanMapping::new(&spec.decoder.dims, &o.dimensions)
                                .with_log_attributes(o.log_attributes.clone()),
                            wal: o.wal_max_bytes.zip(spec.state.directory.as_ref()).map(|(max_bytes, dir)| WalConfig {
                                dir: dir.join("wal").join(&s.name),
                                max_bytes,
                                segment_bytes: (max_bytes / 16).clamp(1 << 20, 64 << 20),
                            }),
                        };
                        let source = OtlpSource::bind(
                            &s.name,
                            config,
                            registry.clone(),
                            spec.decoder.clone(),
                            runtime::wall_now,
                        )?;
                        if let Some(a) = source.grpc_addr() {
                            eprintln!("faultline: OTLP/gRPC on {a} (source {})", s.name);
                        }
                        if let Some(a) = source.http_addr() {
                            eprintln!(
                                "faultline: OTLP/HTTP on http://{a}/v1/traces and /v1/metrics (source {})",
                                s.name
                            );
                        }
                        Box::new(source) as Box<dyn Source>
                    }
                })
            })
            .collect()
    };
    eprintln!("faultline: {}", runtime::describe_state(spec.state.directory.as_ref()));
    let options = StartOptions { history_until: None };
    serve(&spec, options, sources, sinks, |addr| eprintln!("faultline: admin on http://{addr}/"))
}

/// Binds the admin endpoint, starts the threads, and waits for the end of
/// input or a signal. `on_listening` gets the bound address.
pub(crate) fn serve(
    spec: &PipelineSpec,
    options: StartOptions,
    sources: impl FnOnce(&Arc<SeriesRegistry>, &PipelineSpec) -> anyhow::Result<Vec<Box<dyn Source>>>,
    sinks: Vec<SinkOut>,
    on_listening: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .thread_name("faultline-io")
        .build()
        .context("starting the async runtime")?;
    let admin = Arc::new(AdminState::default());
    // Before the admin port answers, so a query never finds SQL missing while it starts.
    sql::start(spec, &admin)?;
    rt.block_on(async move {
        let addr = spec.admin.addr();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the admin endpoint on {addr} (set [admin] port or FAULTLINE_ADMIN_PORT)"))?;
        let bound = listener.local_addr()?;
        tracing::info!(addr = %bound, "admin endpoint listening");
        on_listening(bound);
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let http = tokio::spawn(admin::serve(listener, admin.clone(), async {
            let _ = http_stopped.await;
        }));
        let grpc_addr = spec.admin.grpc_addr();
        let grpc_listener = tokio::net::TcpListener::bind(grpc_addr).await.with_context(|| {
            format!("binding the gRPC API on {grpc_addr} (set [admin] grpc_port or FAULTLINE_GRPC_PORT)")
        })?;
        eprintln!("faultline: gRPC API on {} (faultline incidents --watch)", grpc_listener.local_addr()?);
        let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
        let grpc = tokio::spawn(api::serve(grpc_listener, admin.clone(), async {
            let _ = grpc_stopped.await;
        }));
        let (stop_flight, flight_stopped) = tokio::sync::oneshot::channel::<()>();
        let flight = sql::serve_flight(spec, &admin, async {
            let _ = flight_stopped.await;
        })
        .await?;
        let registry = Arc::new(SeriesRegistry::new(spec.max_series_per_service));
        let sources = sources(&registry, spec)?;
        let console = spec.admin.external_url.clone().unwrap_or_else(|| format!("http://{bound}"));
        let deliveries = delivery::start(spec, &console, admin.clone())?;
        let outbox = deliveries.as_ref().map(|d| d.outbox.clone());
        let running = runtime::start(spec, options, sources, registry, sinks, outbox, admin.clone())?;
        let stop = running.stop.clone();
        let mut done = tokio::task::spawn_blocking(move || running.wait());
        let result = tokio::select! {
            r = &mut done => r.context("joining the pipeline")?,
            () = shutdown_signal() => {
                eprintln!("faultline: stopping: draining, final checkpoint, flushing sinks (a second signal exits at once)");
                stop.store(true, Ordering::Release);
                admin.set_ready(false);
                tokio::spawn(async {
                    shutdown_signal().await;
                    eprintln!("faultline: second signal: exiting now");
                    std::process::exit(130);
                });
                match tokio::time::timeout(SHUTDOWN_GRACE, &mut done).await {
                    Ok(r) => r.context("joining the pipeline")?,
                    Err(_) => Err(anyhow::anyhow!("shutdown took longer than {SHUTDOWN_GRACE:?}")),
                }
            }
        };
        if let Some(d) = deliveries {
            // What the sinks have not delivered yet stays in the outbox for the next start.
            for (name, _, _, pending) in d.drain_and_stop(DELIVERY_GRACE).await {
                if pending > 0 {
                    eprintln!("faultline: sink {name}: {pending} incident events left in the outbox for the next start");
                }
            }
        }
        let _ = stop_http.send(());
        let _ = stop_grpc.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), grpc).await;
        let _ = stop_flight.send(());
        if let Some(flight) = flight {
            let _ = tokio::time::timeout(Duration::from_secs(2), flight).await;
        }
        result.map(|()| ExitCode::SUCCESS)
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
