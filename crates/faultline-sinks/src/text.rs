//! Small text rules the receivers share: cutting to a receiver's limit, ranking severities.

use faultline_core::incident::wire::IncidentEventJson;

/// `s` cut to at most `max` characters, an ellipsis marking the cut.
pub(crate) fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A severity's rank: P0 is 0, the most severe; anything else ranks last.
pub(crate) fn rank(severity: &str) -> u8 {
    severity.strip_prefix('P').and_then(|n| n.parse().ok()).unwrap_or(9)
}

/// Whether an update is an escalation worth sending again (a receiver that pages once per
/// incident skips the rest): its severity is above the one last sent (`sent`, kept in
/// memory), or, what a restarted sink that remembers nothing can still tell, its timeline
/// says the severity rose in the window this update is about (its latest entries).
pub(crate) fn escalates(sent: Option<&String>, event: &IncidentEventJson) -> bool {
    let i = &event.incident;
    if sent.is_some_and(|s| rank(&i.severity) < rank(s)) {
        return true;
    }
    let latest = i.timeline.iter().map(|t| t.at.as_str()).max();
    latest.is_some_and(|at| i.timeline.iter().any(|t| t.kind == "severity_changed" && t.at == at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_characters_and_ranks_p0_first() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo wörld", 5), "héll…");
        assert!(rank("P0") < rank("P1") && rank("P3") < rank("bogus"));
    }

    fn update(severity: &str, timeline: &[(&str, &str)]) -> IncidentEventJson {
        let timeline: Vec<serde_json::Value> =
            timeline.iter().map(|(at, kind)| serde_json::json!({"at": at, "kind": kind, "detail": ""})).collect();
        serde_json::from_value(serde_json::json!({"action": "updated", "incident": {
            "id": "i", "dedup_key": "k", "service": "s", "services": ["s"], "severity": severity, "title": "t",
            "status": "open", "onset_at": "a", "detected_at": "b", "resolved_at": null, "signals": [],
            "scope": {"share_of_requests": 0.0, "dimensions": []}, "probable_causes": [], "runbook": [],
            "timeline": timeline}}))
        .unwrap()
    }

    #[test]
    fn an_update_escalates_when_its_severity_rose_by_memory_or_by_its_latest_timeline_entries() {
        let rose = update("P0", &[("1", "onset"), ("2", "detected"), ("5", "severity_changed"), ("5", "signal_added")]);
        let later =
            update("P0", &[("1", "onset"), ("2", "detected"), ("5", "severity_changed"), ("6", "signal_added")]);
        assert!(escalates(None, &rose), "a restarted sink still sees the rise in the latest window");
        assert!(!escalates(None, &later), "a later update of the same severity is none");
        assert!(escalates(Some(&"P2".to_string()), &later), "remembered P2, now P0");
        assert!(!escalates(Some(&"P0".to_string()), &later));
    }
}
