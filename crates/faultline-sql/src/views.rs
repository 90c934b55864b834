//! The runbooks' questions as views over the tables.

/// `(name, SELECT …)` of every view, created with the session.
pub(crate) const VIEWS: &[(&str, &str)] = &[
    (
        // The handbook's monthly incident report: incidents per month and severity, with the
        // mean time to detect (onset to detection) and to resolve (onset to resolution).
        "monthly_report",
        "SELECT date_trunc('month', detected_at) AS month, severity, count(*) AS incidents, \
         count(resolved_at) AS resolved, \
         avg(date_part('epoch', detected_at) - date_part('epoch', onset_at)) AS mean_time_to_detect_s, \
         avg(date_part('epoch', resolved_at) - date_part('epoch', onset_at)) AS mean_time_to_resolve_s \
         FROM incidents GROUP BY date_trunc('month', detected_at), severity",
    ),
    (
        // Services by incidents, and how many of those were over within five minutes.
        "noisy_services",
        "SELECT service, count(*) AS incidents, \
         sum(CASE WHEN resolved_at IS NOT NULL \
             AND date_part('epoch', resolved_at) - date_part('epoch', detected_at) < 300 THEN 1 ELSE 0 END) \
             AS over_within_5m, \
         max(detected_at) AS last_detected_at \
         FROM incidents GROUP BY service",
    ),
    (
        // Each SLO's error budget over the windows kept: per service and counted signal
        // (error_rate: failed requests; txn_failure_rate: failed transactions), the bad share
        // against the objective of the burn-rate detector configured for it (`slos`; a
        // service's own detectors replace the signal's), and the share of the budget spent
        // (1.0 = all of it).
        "error_budget",
        "SELECT t.service, t.signal, t.total, t.bad, 1.0 - t.bad / greatest(t.total, 1.0) AS good_share, \
         CASE WHEN s.signal IS NOT NULL THEN s.objective ELSE d.objective END AS objective, \
         (t.bad / greatest(t.total, 1.0)) / (1.0 - CASE WHEN s.signal IS NOT NULL THEN s.objective ELSE d.objective END) \
             AS budget_spent, \
         t.since, t.until \
         FROM (SELECT service, signal, CAST(sum(n) AS DOUBLE) AS total, CAST(sum(k) AS DOUBLE) AS bad, \
               min(window_start) AS since, max(window_end) AS until \
               FROM signals WHERE signal IN ('error_rate', 'txn_failure_rate') GROUP BY service, signal) t \
         LEFT JOIN slos s ON s.service = t.service AND s.signal = t.signal \
         LEFT JOIN slos d ON d.service IS NULL AND d.signal = t.signal \
         WHERE (CASE WHEN s.signal IS NOT NULL THEN s.objective ELSE d.objective END) IS NOT NULL",
    ),
];
