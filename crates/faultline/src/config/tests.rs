//! Tests of config parsing, validation, line numbers and environment overrides.

use super::*;
use faultline_core::DurationMs;

#[test]
fn demo_config_is_valid() {
    let spec = parse(DEMO_TOML).unwrap();
    assert_eq!(spec.engine.timing.windows.size(), DurationMs::from_secs(10));
    assert_eq!(spec.decoder.dims, vec!["region".to_string()]);
    assert_eq!(spec.admin.addr().to_string(), "127.0.0.1:7070");
}

#[test]
fn shipped_pipelines_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = parse(&text) {
                panic!("{}: {e:?}", path.display());
            }
            n += 1;
        }
    }
    assert!(n >= 3, "demo, payments and checkout at least");
}

#[test]
fn unknown_section_names_its_line() {
    let text = format!("{DEMO_TOML}\n[windoes]\nsize = \"10s\"\n");
    let line = text.lines().position(|l| l == "[windoes]").unwrap() + 1;
    let errs = parse(&text).unwrap_err();
    assert!(errs[0].contains(&format!("line {line}")), "{errs:?}");
    assert!(errs[0].contains("windoes"), "{errs:?}");
}

#[test]
fn bad_durations_are_all_reported() {
    let errs = parse("[windows]\nsize = \"ten\"\nslide = \"10s\"\nout_of_orderness = \"2x\"\nlateness = \"0s\"\nidle_timeout = \"1m\"\nempty_windows = 3\n").unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].starts_with("line 2: windows.size"), "{errs:?}");
    assert!(errs[1].starts_with("line 4: windows.out_of_orderness"), "{errs:?}");
}

#[test]
fn env_overrides_win_and_bad_values_name_the_variable() {
    let env = |k: &str| match k {
        "FAULTLINE_ADMIN_PORT" => Some("0".to_string()),
        "FAULTLINE_ADMIN_BIND" => Some("0.0.0.0".to_string()),
        "FAULTLINE_STATE_DIR" => Some("/var/lib/faultline".to_string()),
        _ => None,
    };
    let spec = parse_with_env(DEMO_TOML, &env).unwrap();
    assert_eq!(spec.admin.addr().to_string(), "0.0.0.0:0");
    assert_eq!(spec.state.directory.as_deref(), Some(Path::new("/var/lib/faultline")));
    let errs = parse_with_env(DEMO_TOML, &|k| (k == "FAULTLINE_ADMIN_PORT").then(|| "http".to_string())).unwrap_err();
    assert_eq!(errs[0].to_string(), "admin.port (from FAULTLINE_ADMIN_PORT): `http` is not a port number (0-65535)");
}

const BROKEN: &str = r#"[sources.payments]
type = "file"
path = "events.jsonl"
follw = true

[sources.kafka]
type = "kafka"

[windows]
size = "10 seconds"
lateness = "0s"
sizee = "10s"

[admin]
bind = "localhost"

[state]
checkpoint_interval = "0s"

[sinks.out]
type = "file"
emit = "alerts"

[windoes]
size = "10s"
"#;

#[test]
fn every_error_of_a_broken_config_with_its_line() {
    let errs = parse_with_env(BROKEN, &|_| None).unwrap_err();
    insta::assert_snapshot!(render_errors("broken.toml", &errs));
}

#[test]
fn a_type_error_names_its_line() {
    let errs = parse("[admin]\nport = \"seventy\"\n").unwrap_err();
    assert!(errs[0].starts_with("line 2:"), "{errs:?}");
}
