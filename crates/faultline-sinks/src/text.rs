//! Small text rules the receivers share: cutting to a receiver's limit, ranking severities.

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

/// Whether an update of an incident last sent at `sent` severity (if any) to `now` is an
/// escalation worth sending again: a receiver that pages once per incident skips the rest.
pub(crate) fn escalates(sent: Option<&String>, now: &str) -> bool {
    sent.is_none_or(|s| rank(now) < rank(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_characters_and_ranks_p0_first() {
        assert_eq!(cut("héllo", 5), "héllo");
        assert_eq!(cut("héllo wörld", 5), "héll…");
        assert!(rank("P0") < rank("P1") && rank("P3") < rank("bogus"));
        assert!(escalates(None, "P2"));
        assert!(escalates(Some(&"P2".to_string()), "P1"));
        assert!(!escalates(Some(&"P1".to_string()), "P1"));
        assert!(!escalates(Some(&"P0".to_string()), "P2"));
    }
}
