//! `faultline nab`: streams NAB data files through the adaptive detector and writes NAB result files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use faultline_core::detect::{AdaptiveConfig, AdaptiveDetector, Sides};
use faultline_core::time::Millis;

/// Arguments of `faultline nab`.
#[derive(Debug, clap::Args)]
pub(crate) struct NabArgs {
    /// Folder of NAB data: `<category>/<name>.csv` files with `timestamp,value` columns.
    #[arg(long)]
    data: PathBuf,
    /// Folder for the result files, `<category>/faultline_<name>.csv`.
    #[arg(long)]
    out: PathBuf,
    /// JSON object overriding fields of the detector configuration, for experiments
    /// (e.g. `{"fire_score":0.6}`); the same configuration serves every file.
    #[arg(long)]
    config_json: Option<String>,
}

/// The one detector configuration used for the whole NAB corpus. Every field is listed, so
/// a change of the bank's defaults does not move the NAB figures.
fn nab_config() -> AdaptiveConfig {
    AdaptiveConfig {
        warmup_points: 150,
        level_alpha: 0.02,
        spread_alpha: 0.02,
        clip_sigmas: 3.0,
        daily_buckets: 48,
        weekly_buckets: 0,
        season_alpha: 0.2,
        season_min_count: 2,
        model_min_count: 50,
        model_tolerance: 2.0,
        persistence: false,
        tail_decades: 5.0,
        empirical_tail: true,
        empirical_decay: 0.001,
        empirical_delay_points: 8,
        z_cap: 8.0,
        likelihood_of_surprise: false,
        short_points: 8,
        long_alpha: 0.002,
        long_std_floor: 0.8,
        likelihood_weight: 1.0,
        flag_score: 0.7,
        relearn_points: 80,
        fire_score: 0.5,
        refractory_points: 100,
        refractory_cap: 0.5,
        sides: Sides::Both,
        abs_spread_floor: 1e-9,
        rel_spread_floor: 0.001,
        quantum_floor: 1.0,
        context_bins: 20,
        context_orders: 2,
        context_rate_alpha: 0.002,
        context_rate_power: 4.0,
        context_weight: 0.5,
        recur_buckets: 288,
        recur_weight: 0.3,
        recur_decay: 0.9,
        recur_min: 0.3,
        range_tolerance: Some(0.1),
        // NAB's series are levels, not counts.
        count_drop: None,
        count_drop_decades: 4.0,
    }
}

/// Runs the command.
pub(crate) fn run(args: NabArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config_json {
        None => nab_config(),
        Some(text) => {
            let mut base = serde_json::to_value(nab_config()).context("serialising the NAB configuration")?;
            let overrides: serde_json::Value = serde_json::from_str(text).context("--config-json")?;
            let (Some(base_map), Some(over)) = (base.as_object_mut(), overrides.as_object()) else {
                bail!("--config-json must be a JSON object");
            };
            for (k, v) in over {
                base_map.insert(k.clone(), v.clone());
            }
            serde_json::from_value(base).context("--config-json")?
        }
    };
    let mut files = Vec::new();
    collect_csv(&args.data, &mut files)?;
    files.sort();
    if files.is_empty() {
        bail!("no CSV files under {}", args.data.display());
    }
    let started = Instant::now();
    let mut n_points = 0usize;
    for file in &files {
        n_points += score_file(&config, &args.data, file, &args.out)?;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "nab: {} files, {n_points} points in {secs:.3} s ({:.0} points/s on one thread)",
        files.len(),
        n_points as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

fn collect_csv(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry.with_context(|| format!("reading {}", dir.display()))?.path();
        if path.is_dir() {
            collect_csv(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "csv") {
            out.push(path);
        }
    }
    Ok(())
}

/// Streams one file through a fresh detector and writes its result file; returns the row count.
fn score_file(config: &AdaptiveConfig, data: &Path, file: &Path, out_dir: &Path) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rel = file.strip_prefix(data).with_context(|| format!("{} outside the data folder", file.display()))?;
    let category = rel.parent().unwrap_or(Path::new(""));
    let name = file.file_name().context("file without a name")?.to_string_lossy();
    let mut lines = text.lines();
    let header = lines.next().with_context(|| format!("{}: empty file", file.display()))?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let ts_col = cols.iter().position(|c| *c == "timestamp").context("no `timestamp` column")?;
    let value_col = cols.iter().position(|c| *c == "value").context("no `value` column")?;

    let mut detector = AdaptiveDetector::new(config.clone());
    let mut out = String::with_capacity(text.len() + text.len() / 2);
    out.push_str("timestamp,value,anomaly_score\n");
    let mut rows = 0usize;
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        let lineno = i + 2;
        let ts_text = fields.get(ts_col).map(|s| s.trim()).context("missing timestamp")?;
        let value_text = fields.get(value_col).map(|s| s.trim()).context("missing value")?;
        let ts = parse_timestamp(ts_text)
            .with_context(|| format!("{}:{lineno}: bad timestamp `{ts_text}`", file.display()))?;
        let value: f64 =
            value_text.parse().with_context(|| format!("{}:{lineno}: bad value `{value_text}`", file.display()))?;
        let score = detector.update(ts.as_i64(), value).score;
        let score = if score.is_finite() { score.clamp(0.0, 1.0) } else { 0.0 };
        writeln!(out, "{ts_text},{value_text},{score}").expect("writing to a String cannot fail");
        rows += 1;
    }
    let dir = out_dir.join(category);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("faultline_{name}"));
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    Ok(rows)
}

/// Parses NAB's `2014-02-14 14:30:00` (or ISO 8601 with `T`) as UTC.
fn parse_timestamp(text: &str) -> Option<Millis> {
    let mut iso = text.replacen(' ', "T", 1);
    if !iso.ends_with('Z') && !iso.contains('+') {
        iso.push('Z');
    }
    Millis::parse_rfc3339(&iso)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nab_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Some(Millis(1000)));
        assert_eq!(parse_timestamp("1970-01-02T00:00:00"), Some(Millis(86_400_000)));
        assert_eq!(parse_timestamp("yesterday"), None);
    }
}
