//! The postmortem draft: an incident rendered as Markdown for people to complete.

use std::fmt::Write as _;

use super::model::{Incident, Status};

/// A Markdown postmortem draft: summary, duration, impact, timeline table,
/// probable root cause and action items to fill in.
pub fn render_postmortem(incident: &Incident) -> String {
    let mut md = String::new();
    let i = incident;
    let _ = writeln!(md, "# Postmortem: {}\n", i.title);
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| Incident | `{}` (dedup key `{}`) |", i.id, i.dedup_key);
    let _ = writeln!(md, "| Severity | {} |", i.severity.as_str());
    let services: Vec<&str> = i.services.iter().map(String::as_str).collect();
    let _ = writeln!(md, "| Services | {} |", services.join(", "));
    let _ = writeln!(md, "| Onset | {} |", i.onset_at.to_rfc3339());
    let _ = writeln!(md, "| Detected | {} |", i.detected_at.to_rfc3339());
    let resolved = match (i.status, i.resolved_at) {
        (Status::Resolved, Some(t)) => t.to_rfc3339(),
        _ => "still open".into(),
    };
    let _ = writeln!(md, "| Resolved | {resolved} |");
    let _ = writeln!(md, "| Duration | {} |", human_duration(i.duration_ms()));
    let _ = writeln!(md, "| Time to detect | {} |\n", human_duration(i.detected_at.0 - i.onset_at.0));
    let _ = writeln!(md, "## Impact\n");
    let imp = &i.impact;
    let _ = writeln!(
        md,
        "- {} of {} requests failed ({:.1}%), peak {:.1}% in one window",
        imp.errors,
        imp.requests,
        i.error_share() * 100.0,
        imp.peak_error_share * 100.0
    );
    if imp.txn_total > 0 {
        let _ = writeln!(
            md,
            "- {} of {} transactions failed, peak {:.1}% in one window",
            imp.txn_failed,
            imp.txn_total,
            imp.peak_txn_failure_share * 100.0
        );
    }
    for (key, value, share) in i.concentrations(0.2).into_iter().take(5) {
        let _ = writeln!(md, "- {:.0}% of errors on {key} `{value}`", share * 100.0);
    }
    let _ = writeln!(md, "\n### Signals\n");
    let _ = writeln!(md, "| series | signal | worst | baseline | threshold | detector |\n|---|---|---|---|---|---|");
    for s in &i.signals {
        let opt = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.4}"));
        let series = if s.series.name.is_empty() {
            s.series.service.to_string()
        } else {
            format!("{} {}", s.series.service, s.series.name)
        };
        let _ = writeln!(
            md,
            "| {series} | {} | {:.4} | {} | {} | {} |",
            s.signal,
            s.worst,
            opt(s.baseline),
            opt(s.threshold),
            s.detector
        );
    }
    let _ = writeln!(md, "\n## Timeline (event time, UTC)\n");
    let _ = writeln!(md, "| at | event | detail |\n|---|---|---|");
    for t in &i.timeline {
        let _ = writeln!(md, "| {} | {} | {} |", t.at.to_rfc3339(), t.kind.as_str(), t.detail.replace('|', "\\|"));
    }
    let _ = writeln!(md, "\n## Probable root cause\n");
    match i.causes.first() {
        Some(c) => {
            let _ = writeln!(md, "**{}** (confidence {:.2}): {}\n", c.cause, c.confidence, c.evidence);
            for other in &i.causes[1..] {
                let _ =
                    writeln!(md, "- also considered: {} ({:.2}): {}", other.cause, other.confidence, other.evidence);
            }
            if !i.runbook.is_empty() {
                let _ = writeln!(md, "\nRunbook steps:\n");
                for step in &i.runbook {
                    let _ = writeln!(md, "1. {step}");
                }
            }
        }
        None => {
            let _ = writeln!(md, "_No rule of the cause catalog matched: to be determined._");
        }
    }
    let _ = writeln!(md, "\n## Action items\n");
    let _ = writeln!(md, "| action | owner | due |\n|---|---|---|\n| _to fill_ | | |");
    md
}

fn human_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, (s / 60) % 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::model::incident_with;

    #[test]
    fn has_every_section() {
        let md = render_postmortem(&incident_with(&[("error_rate", 0.45)]));
        for section in
            ["# Postmortem", "## Summary", "## Impact", "## Timeline", "## Probable root cause", "## Action items"]
        {
            assert!(md.contains(section), "{section} missing:\n{md}");
        }
        assert!(md.contains("| Duration | 10s |"), "{md}");
    }
}
