//! Determinism and the wire format: same seed same bytes, every line decodes.

use std::sync::Arc;

use faultline_core::series::SeriesRegistry;
use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_sim::{ScenarioName, generate};

use super::{FRIDAY, HOUR_MS, spec};

fn bytes(seed: u64) -> Vec<u8> {
    let mut s = spec(ScenarioName::GatewayOutage, FRIDAY + 13 * HOUR_MS, 0.1);
    s.seed = seed;
    let (truth, events) = generate(&s);
    let mut out = truth.map(|t| t.to_json_line()).unwrap_or_default().into_bytes();
    for e in events {
        out.extend_from_slice(e.to_json_line().as_bytes());
        out.push(b'\n');
    }
    out
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = bytes(1);
    assert!(a.len() > 100_000);
    assert_eq!(a, bytes(1));
    assert_ne!(a, bytes(2));
}

#[test]
fn every_scenario_decodes_without_rejects_in_time_order() {
    for name in ScenarioName::ALL {
        let s = spec(name, FRIDAY + 8 * HOUR_MS, 0.1);
        let (truth, events) = generate(&s);
        let end_ms = events.end_ms();
        let mut decoder = Decoder::new(
            Arc::new(SeriesRegistry::new(10_000)),
            DecoderConfig { dims: vec!["region".into(), "instance".into()], ..DecoderConfig::default() },
        );
        let mut out = Vec::new();
        let mut last_ts = i64::MIN;
        let mut n_lines = 0u64;
        for e in events {
            assert!(e.ts_ms >= last_ts, "{name}: out of order at {}", e.ts_ms);
            assert!((s.start_ms..end_ms).contains(&e.ts_ms));
            last_ts = e.ts_ms;
            n_lines += 1;
            let line = e.to_json_line();
            decoder
                .decode_line(n_lines, line.as_bytes(), None, &mut out)
                .unwrap_or_else(|err| panic!("{name}: {err}: {line}"));
            out.clear();
        }
        if let Some(t) = truth {
            assert!(t.onset_ms >= s.start_ms && t.end_ms > t.onset_ms, "{name}: {t:?}");
            assert!(last_ts >= t.end_ms, "{name}: stream ends before recovery");
            assert_eq!(Some(t.cause.as_str()), name.cause());
            assert!(!t.services.is_empty());
        }
        assert!(n_lines > 1_000, "{name}: only {n_lines} lines");
    }
}
