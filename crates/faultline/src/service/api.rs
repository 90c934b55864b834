//! The project's own gRPC API (`proto/faultline/v1/incidents.proto`) on 7072: list, get and watch incidents.
//!
//! The sink thread pushes every incident event into the [`Feed`] as it
//! writes it out: the feed keeps the latest state of each incident and the
//! last [`KEPT_EVENTS`] events with their sequence numbers, and broadcasts
//! each new one to the watchers. Sequence numbers start at the process's
//! start time in milliseconds times 1,000, so a number from before a
//! restart is older than anything kept and is answered `OUT_OF_RANGE` (the
//! client watches again from 0 and gets the open incidents first).

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::Mutex;

use faultline_core::incident::IncidentEvent;
use faultline_core::incident::wire::IncidentJson;
use tokio::sync::broadcast;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// The generated types and service.
#[allow(clippy::all, clippy::pedantic, unreachable_pub, missing_docs, missing_debug_implementations)]
pub(crate) mod pb {
    tonic::include_proto!("faultline.v1");
}

/// Events kept for resuming watchers.
pub(crate) const KEPT_EVENTS: usize = 10_000;
/// Incidents kept (the oldest resolved ones go first).
const KEPT_INCIDENTS: usize = 10_000;

/// Incident state and recent events, for the API.
#[derive(Debug)]
pub(crate) struct Feed {
    state: Mutex<FeedState>,
    tx: broadcast::Sender<pb::IncidentEvent>,
}

#[derive(Debug)]
struct FeedState {
    next_seq: u64,
    events: VecDeque<pb::IncidentEvent>,
    /// Latest state by incident id, with the sequence number of its latest event.
    incidents: BTreeMap<String, (u64, pb::Incident)>,
}

impl Default for Feed {
    fn default() -> Self {
        let start_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_millis());
        let next_seq = u64::try_from(start_ms).unwrap_or(1).saturating_mul(1000);
        Feed {
            state: Mutex::new(FeedState { next_seq, events: VecDeque::new(), incidents: BTreeMap::new() }),
            tx: broadcast::channel(1024).0,
        }
    }
}

/// The API form of an incident.
pub(crate) fn incident(j: &IncidentJson) -> pb::Incident {
    pb::Incident {
        id: j.id.clone(),
        dedup_key: j.dedup_key.clone(),
        service: j.service.clone(),
        services: j.services.clone(),
        severity: j.severity.clone(),
        title: j.title.clone(),
        status: j.status.clone(),
        onset_at: j.onset_at.clone(),
        detected_at: j.detected_at.clone(),
        resolved_at: j.resolved_at.clone().unwrap_or_default(),
        signals: j
            .signals
            .iter()
            .map(|s| pb::Signal {
                name: s.name.clone(),
                value: s.value,
                baseline: s.baseline,
                threshold: s.threshold,
                detector: s.detector.clone(),
            })
            .collect(),
        share_of_requests: j.scope.share_of_requests,
        dimensions: j
            .scope
            .dimensions
            .iter()
            .map(|d| pb::Dimension { key: d.key.clone(), value: d.value.clone(), share: d.share })
            .collect(),
        probable_causes: j
            .probable_causes
            .iter()
            .map(|c| pb::Cause { cause: c.cause.clone(), confidence: c.confidence, evidence: c.evidence.clone() })
            .collect(),
        runbook: j.runbook.clone(),
        timeline: j
            .timeline
            .iter()
            .map(|t| pb::TimelineEntry { at: t.at.clone(), kind: t.kind.clone(), detail: t.detail.clone() })
            .collect(),
        json: serde_json::to_string(j).unwrap_or_default(),
    }
}

fn action(a: &str) -> pb::Action {
    match a {
        "opened" => pb::Action::Opened,
        "updated" => pb::Action::Updated,
        "resolved" => pb::Action::Resolved,
        _ => pb::Action::Unspecified,
    }
}

impl Feed {
    /// Takes an incident event as it goes out.
    pub(crate) fn push(&self, ev: &IncidentEvent) {
        let json = ev.to_json();
        let inc = incident(&json.incident);
        let msg = {
            let mut s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let seq = s.next_seq;
            s.next_seq += 1;
            let msg = pb::IncidentEvent {
                seq,
                action: action(&json.action) as i32,
                incident: Some(inc.clone()),
                snapshot: false,
            };
            s.events.push_back(msg.clone());
            if s.events.len() > KEPT_EVENTS {
                s.events.pop_front();
            }
            s.incidents.insert(inc.id.clone(), (seq, inc));
            if s.incidents.len() > KEPT_INCIDENTS {
                let oldest = s
                    .incidents
                    .iter()
                    .filter(|(_, (_, i))| i.status != "open")
                    .min_by_key(|(_, (seq, _))| *seq)
                    .map(|(id, _)| id.clone());
                if let Some(id) = oldest {
                    s.incidents.remove(&id);
                }
            }
            msg
        };
        // No watcher is fine.
        let _ = self.tx.send(msg);
    }

    /// Every incident, open first, then by latest event, newest first.
    fn list(&self, open_only: bool, service: &str) -> Vec<pb::Incident> {
        let s = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<&(u64, pb::Incident)> = s
            .incidents
            .values()
            .filter(|(_, i)| (!open_only || i.status == "open") && (service.is_empty() || i.service == service))
            .collect();
        out.sort_by_key(|(seq, i)| (i.status != "open", std::cmp::Reverse(*seq)));
        out.into_iter().map(|(_, i)| i.clone()).collect()
    }
}

/// The gRPC service over the admin state's feed.
#[derive(Debug)]
pub(crate) struct Api {
    admin: std::sync::Arc<super::admin::AdminState>,
}

impl Api {
    /// Serves the feed of `admin`.
    pub(crate) fn new(admin: std::sync::Arc<super::admin::AdminState>) -> Api {
        Api { admin }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::IncidentEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::incidents_server::Incidents for Api {
    async fn list_incidents(
        &self,
        request: Request<pb::ListIncidentsRequest>,
    ) -> Result<Response<pb::ListIncidentsResponse>, Status> {
        let r = request.into_inner();
        Ok(Response::new(pb::ListIncidentsResponse { incidents: self.admin.feed.list(r.open_only, &r.service) }))
    }

    async fn get_incident(&self, request: Request<pb::GetIncidentRequest>) -> Result<Response<pb::Incident>, Status> {
        let id = request.into_inner().id;
        let s = self.admin.feed.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.incidents
            .values()
            .find(|(_, i)| i.id == id || i.dedup_key == id)
            .map(|(_, i)| Response::new(i.clone()))
            .ok_or_else(|| Status::not_found(format!("no incident `{id}`")))
    }

    type WatchIncidentsStream = EventStream;

    async fn watch_incidents(
        &self,
        request: Request<pb::WatchIncidentsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let after = request.into_inner().after_seq;
        let feed = &self.admin.feed;
        // Subscribed before the state is read: nothing falls between the two.
        let mut live = feed.tx.subscribe();
        let (first, mut last_sent): (Vec<pb::IncidentEvent>, u64) = {
            let s = feed.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let newest = s.next_seq - 1;
            if after == 0 {
                let mut open: Vec<&(u64, pb::Incident)> =
                    s.incidents.values().filter(|(_, i)| i.status == "open").collect();
                open.sort_by_key(|(seq, _)| *seq);
                let snap = open
                    .into_iter()
                    .map(|(seq, i)| pb::IncidentEvent {
                        seq: *seq,
                        action: pb::Action::Unspecified as i32,
                        incident: Some(i.clone()),
                        snapshot: true,
                    })
                    .collect();
                (snap, newest)
            } else {
                let oldest_kept = s.events.front().map_or(s.next_seq, |e| e.seq);
                if after + 1 < oldest_kept || after > newest {
                    return Err(Status::out_of_range(format!(
                        "events after {after} are not kept (kept: {oldest_kept}..={newest}): watch again from 0"
                    )));
                }
                (s.events.iter().filter(|e| e.seq > after).cloned().collect(), newest)
            }
        };
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        tokio::spawn(async move {
            for e in first {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            loop {
                match live.recv().await {
                    Ok(e) if e.seq <= last_sent => {}
                    Ok(e) => {
                        last_sent = e.seq;
                        if tx.send(Ok(e)).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(Status::out_of_range(format!(
                                "the watcher fell {n} events behind: watch again after {last_sent}"
                            ))))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}

/// Serves the API on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    admin: std::sync::Arc<super::admin::AdminState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(pb::incidents_server::IncidentsServer::new(Api::new(admin)))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await
}
