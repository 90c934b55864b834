//! `FAULTLINE_…` environment overrides, applied over the file's values before validation.

use super::ConfigError;
use super::raw::RawConfig;

/// The variables read, with the key each one overrides.
pub(crate) const OVERRIDES: &[(&str, &str)] = &[
    ("FAULTLINE_ADMIN_BIND", "admin.bind"),
    ("FAULTLINE_ADMIN_PORT", "admin.port"),
    ("FAULTLINE_GRPC_PORT", "admin.grpc_port"),
    ("FAULTLINE_FLIGHT_PORT", "admin.flight_port"),
    ("FAULTLINE_STATE_DIR", "state.directory"),
    ("FAULTLINE_CHECKPOINT_INTERVAL", "state.checkpoint_interval"),
    ("FAULTLINE_SHARDS", "runtime.shards"),
    ("FAULTLINE_DECODERS", "runtime.decoders"),
];

/// Applies every override `env` knows (the process environment in `load`,
/// a map in tests); a value that does not parse is an error naming the variable.
pub(crate) fn apply(raw: &mut RawConfig, env: &dyn Fn(&str) -> Option<String>, errors: &mut Vec<ConfigError>) {
    for (var, key) in OVERRIDES {
        let Some(value) = env(var) else { continue };
        let mut bad = |what: &str| {
            errors.push(ConfigError {
                path: format!("{key} (from {var})"),
                line: None,
                message: format!("`{value}` is not {what}"),
            })
        };
        match *key {
            "admin.bind" => raw.admin.bind = value.clone(),
            "admin.port" => match value.parse() {
                Ok(p) => raw.admin.port = p,
                Err(_) => bad("a port number (0-65535)"),
            },
            "admin.grpc_port" => match value.parse() {
                Ok(p) => raw.admin.grpc_port = Some(p),
                Err(_) => bad("a port number (0-65535)"),
            },
            "admin.flight_port" => match value.parse() {
                Ok(p) => raw.admin.flight_port = Some(p),
                Err(_) => bad("a port number (0-65535)"),
            },
            "state.directory" => raw.state.directory = Some(value.clone()),
            "state.checkpoint_interval" => raw.state.checkpoint_interval = value.clone(),
            "runtime.shards" => match value.parse() {
                Ok(n) => raw.runtime.shards = n,
                Err(_) => bad("a number of shards"),
            },
            "runtime.decoders" => match value.parse() {
                Ok(n) => raw.runtime.decoders = n,
                Err(_) => bad("a number of decoder threads"),
            },
            _ => unreachable!("every OVERRIDES key has an arm"),
        }
    }
}
