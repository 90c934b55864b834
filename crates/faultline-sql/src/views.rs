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
        // Request availability per service over the windows in memory, against a 99.9 %
        // objective: the share of the error budget spent (1.0 = all of it).
        "error_budget",
        "SELECT service, sum(n) AS requests, sum(k) AS errors, \
         1.0 - CAST(sum(k) AS DOUBLE) / CAST(greatest(sum(n), 1) AS DOUBLE) AS availability, \
         0.999 AS objective, \
         (CAST(sum(k) AS DOUBLE) / CAST(greatest(sum(n), 1) AS DOUBLE)) / 0.001 AS budget_spent, \
         min(window_start) AS since, max(window_end) AS until \
         FROM signals WHERE signal = 'error_rate' AND kind = 'request' GROUP BY service",
    ),
];
