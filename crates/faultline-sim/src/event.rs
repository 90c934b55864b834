//! One simulated event and its DESIGN.md JSON line.

use std::fmt::Write as _;

/// One simulated telemetry event, in the shape of DESIGN.md's event format.
#[derive(Debug, Clone, PartialEq)]
pub struct SimEvent {
    /// Event time, epoch milliseconds.
    pub ts_ms: i64,
    /// The emitting service.
    pub service: &'static str,
    /// What happened.
    pub body: SimBody,
}

/// The kind-specific part of a [`SimEvent`].
#[derive(Debug, Clone, PartialEq)]
pub enum SimBody {
    /// A served request, or an outbound call when `peer` is set.
    Request {
        /// Operation, e.g. `POST /charge`.
        operation: &'static str,
        /// HTTP status.
        status: u16,
        /// Latency, milliseconds.
        latency_ms: f64,
        /// The dependency called, for outbound calls.
        peer: Option<&'static str>,
        /// Region attribute.
        region: &'static str,
        /// Instance attribute.
        instance: &'static str,
    },
    /// A gauge sample.
    Gauge {
        /// Gauge name, e.g. `cpu.utilization`.
        name: &'static str,
        /// Current value.
        value: f64,
        /// Capacity, for saturation gauges such as `db.pool.in_use`.
        max: Option<f64>,
    },
    /// A payment transaction.
    Transaction {
        /// Outcome.
        outcome: TxnOutcome,
        /// Amount, in major currency units.
        amount: f64,
        /// Region attribute.
        region: &'static str,
    },
    /// A change to the estate: a deploy, a config change, a rollback.
    Change {
        /// Which kind of change.
        change: ChangeKind,
        /// Release or change id, e.g. `v2.4.0`.
        id: String,
        /// Free text.
        text: String,
    },
}

/// Outcome of a simulated transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Paid.
    Success,
    /// Failed on our side or the provider's.
    Failed,
    /// Declined by the card issuer (normal business, not a failure).
    Declined,
}

/// Kind of a simulated change event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new release.
    Deploy,
    /// A configuration change.
    Config,
    /// A return to the previous release.
    Rollback,
}

impl TxnOutcome {
    /// The wire name: `success`, `failed` or `declined`.
    pub fn as_str(self) -> &'static str {
        match self {
            TxnOutcome::Success => "success",
            TxnOutcome::Failed => "failed",
            TxnOutcome::Declined => "declined",
        }
    }
}

impl ChangeKind {
    /// The wire name: `deploy`, `config` or `rollback`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Deploy => "deploy",
            ChangeKind::Config => "config",
            ChangeKind::Rollback => "rollback",
        }
    }
}

impl SimEvent {
    /// The event as one DESIGN.md JSON line (no trailing newline), `ts` as an
    /// epoch-millisecond integer.
    pub fn to_json_line(&self) -> String {
        let mut line = String::with_capacity(192);
        self.write_json_line(&mut line);
        line
    }

    /// Appends the event's JSON line (no trailing newline) to `out`, so a
    /// writer can reuse one buffer.
    pub fn write_json_line(&self, out: &mut String) {
        // Writing to a String cannot fail, so the fmt results are ignored.
        let _ = write!(out, r#"{{"ts":{},"service":"{}""#, self.ts_ms, self.service);
        match &self.body {
            SimBody::Request { operation, status, latency_ms, peer, region, instance } => {
                let _ = write!(
                    out,
                    r#","operation":"{operation}","kind":"request","status":{status},"latency_ms":{latency_ms:.1}"#
                );
                if let Some(peer) = peer {
                    let _ = write!(out, r#","peer":"{peer}""#);
                }
                let _ = write!(out, r#","attrs":{{"region":"{region}","instance":"{instance}"}}}}"#);
            }
            SimBody::Gauge { name, value, max } => {
                // Four decimals are plenty for a utilization; counts print as integers.
                let value = (value * 1e4).round() / 1e4;
                let _ = write!(out, r#","kind":"gauge","name":"{name}","value":{value}"#);
                if let Some(max) = max {
                    let _ = write!(out, r#","max":{max:.0}"#);
                }
                out.push('}');
            }
            SimBody::Transaction { outcome, amount, region } => {
                let _ = write!(
                    out,
                    r#","kind":"transaction","outcome":"{}","amount":{amount:.2},"attrs":{{"region":"{region}"}}}}"#,
                    outcome.as_str()
                );
            }
            SimBody::Change { change, id, text } => {
                let _ = write!(
                    out,
                    r#","kind":"change","change":"{}","id":{},"text":{}}}"#,
                    change.as_str(),
                    json_string(id),
                    json_string(text)
                );
            }
        }
    }
}

/// A JSON string literal for free text.
fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(event: SimEvent, expected: &str) {
        assert_eq!(event.to_json_line(), expected);
        let _: serde_json::Value = serde_json::from_str(expected).unwrap();
    }

    #[test]
    fn lines_follow_the_design_format() {
        check(
            SimEvent {
                ts_ms: 1,
                service: "payments-api",
                body: SimBody::Request {
                    operation: "POST /v1/authorize",
                    status: 502,
                    latency_ms: 1530.04,
                    peer: Some("payment-gateway"),
                    region: "eu-west-1",
                    instance: "payments-api-1",
                },
            },
            r#"{"ts":1,"service":"payments-api","operation":"POST /v1/authorize","kind":"request","status":502,"latency_ms":1530.0,"peer":"payment-gateway","attrs":{"region":"eu-west-1","instance":"payments-api-1"}}"#,
        );
        check(
            SimEvent {
                ts_ms: 2,
                service: "payments-api",
                body: SimBody::Gauge { name: "db.pool.in_use", value: 95.0, max: Some(100.0) },
            },
            r#"{"ts":2,"service":"payments-api","kind":"gauge","name":"db.pool.in_use","value":95,"max":100}"#,
        );
        check(
            SimEvent {
                ts_ms: 3,
                service: "payments-api",
                body: SimBody::Transaction { outcome: TxnOutcome::Declined, amount: 42.1, region: "us-east-1" },
            },
            r#"{"ts":3,"service":"payments-api","kind":"transaction","outcome":"declined","amount":42.10,"attrs":{"region":"us-east-1"}}"#,
        );
        check(
            SimEvent {
                ts_ms: 4,
                service: "checkout",
                body: SimBody::Change { change: ChangeKind::Config, id: "cfg-7".into(), text: "say \"hi\"".into() },
            },
            r#"{"ts":4,"service":"checkout","kind":"change","change":"config","id":"cfg-7","text":"say \"hi\""}"#,
        );
    }
}
