//! Pipeline config: raw TOML sections, validated into the typed spec the pipeline runs on.

use std::path::Path;

use anyhow::Context as _;
use faultline_core::engine::EngineConfig;
use faultline_core::watermark::Timing;
use faultline_core::wire::{DecoderConfig, MAX_DIMS};
use faultline_core::{DurationMs, WindowSpec};
use serde::Deserialize;

/// The embedded default pipeline (`pipelines/demo.toml`).
pub(crate) const DEMO_TOML: &str = include_str!("../../../../pipelines/demo.toml");

/// A validated pipeline config.
#[derive(Debug, Clone)]
pub(crate) struct PipelineSpec {
    /// Windows, watermarks, lateness.
    pub(crate) engine: EngineConfig,
    /// Series dimensions and event classification.
    pub(crate) decoder: DecoderConfig,
    /// Cardinality cap per service.
    pub(crate) max_series_per_service: u32,
    /// Shard threads (0 = one per core).
    pub(crate) shards: usize,
}

/// The whole file, as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Event-time windows.
    #[serde(default)]
    windows: RawWindows,
    /// Series identity and cardinality.
    #[serde(default)]
    series: RawSeries,
    /// Threads.
    #[serde(default)]
    runtime: RawRuntime,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindows {
    /// Window length, e.g. "10s".
    size: String,
    /// Distance between window starts; equal to size for tumbling windows.
    slide: Option<String>,
    /// How far behind the largest event time the watermark trails.
    out_of_orderness: String,
    /// Extra time a window stays open past the watermark.
    lateness: String,
    /// Processing time after which a silent input stops holding the watermark.
    idle_timeout: String,
    /// Empty windows emitted after a series goes quiet.
    empty_windows: u32,
}

impl Default for RawWindows {
    fn default() -> Self {
        RawWindows {
            size: "10s".into(),
            slide: None,
            out_of_orderness: "2s".into(),
            lateness: "0s".into(),
            idle_timeout: "60s".into(),
            empty_windows: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeries {
    /// Attribute names that become dimensions, in order.
    #[serde(default)]
    dimensions: Vec<String>,
    /// Label sets per service before folding into an overflow series.
    #[serde(default = "default_max_series")]
    max_series_per_service: u32,
    /// Whether 4xx counts as an error.
    #[serde(default)]
    count_4xx_as_errors: bool,
    /// Reject events this far ahead of processing time.
    #[serde(default)]
    future_horizon: Option<String>,
}

fn default_max_series() -> u32 {
    10_000
}

impl Default for RawSeries {
    fn default() -> Self {
        RawSeries {
            dimensions: Vec::new(),
            max_series_per_service: default_max_series(),
            count_4xx_as_errors: false,
            future_horizon: Some("10m".into()),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    /// Shard threads; 0 = one per core.
    #[serde(default)]
    shards: usize,
}

/// Reads and validates a pipeline config file.
pub(crate) fn load(path: &Path) -> anyhow::Result<PipelineSpec> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).map_err(|errs| anyhow::anyhow!("{}: {}", path.display(), errs.join("\n")))
}

/// Parses and validates config text; every problem found, one message each.
pub(crate) fn parse(text: &str) -> Result<PipelineSpec, Vec<String>> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    validate(raw)
}

fn duration(path: &str, text: &str, errors: &mut Vec<String>) -> DurationMs {
    DurationMs::parse(text).unwrap_or_else(|| {
        errors.push(format!("{path}: `{text}` is not a duration such as \"250ms\", \"10s\" or \"5m\""));
        DurationMs(0)
    })
}

fn validate(raw: RawConfig) -> Result<PipelineSpec, Vec<String>> {
    let mut errors = Vec::new();
    let w = &raw.windows;
    let size = duration("windows.size", &w.size, &mut errors);
    let slide = w.slide.as_deref().map_or(size, |s| duration("windows.slide", s, &mut errors));
    let ooo = duration("windows.out_of_orderness", &w.out_of_orderness, &mut errors);
    let lateness = duration("windows.lateness", &w.lateness, &mut errors);
    let idle = duration("windows.idle_timeout", &w.idle_timeout, &mut errors);
    let windows = WindowSpec::hopping(size, slide).map_err(|e| errors.push(format!("windows: {e}"))).ok();
    let horizon = raw.series.future_horizon.as_deref().map(|h| duration("series.future_horizon", h, &mut errors));
    if raw.series.dimensions.len() > MAX_DIMS {
        errors.push(format!("series.dimensions: at most {MAX_DIMS} dimensions, got {}", raw.series.dimensions.len()));
    }
    match windows {
        Some(windows) if errors.is_empty() => Ok(PipelineSpec {
            engine: EngineConfig {
                timing: Timing { windows, out_of_orderness: ooo, lateness, idle_timeout: idle },
                empty_windows: w.empty_windows,
            },
            decoder: DecoderConfig {
                dims: raw.series.dimensions,
                count_4xx_as_errors: raw.series.count_4xx_as_errors,
                future_horizon: horizon,
            },
            max_series_per_service: raw.series.max_series_per_service,
            shards: raw.runtime.shards,
        }),
        _ => Err(errors),
    }
}

/// `faultline check-config FILE`: prints every problem, exits 1 if there is one.
pub(crate) fn check_config(path: &Path) -> anyhow::Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    match parse(&text) {
        Ok(_) => {
            println!("{}: ok", path.display());
            Ok(std::process::ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", path.display());
            }
            Ok(std::process::ExitCode::from(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_config_is_valid() {
        let spec = parse(DEMO_TOML).unwrap();
        assert_eq!(spec.engine.timing.windows.size(), DurationMs::from_secs(10));
        assert_eq!(spec.decoder.dims, vec!["region".to_string()]);
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
        assert!(errs[0].starts_with("windows.size"));
        assert!(errs[1].starts_with("windows.out_of_orderness"));
    }
}
