//! Adaptive baseline: a robust, seasonal, streaming anomaly score for one series of values.
//!
//! Several small predictors run side by side on every point: a robust global level, the
//! previous value (persistence), and optional daily and weekly profiles (a robust level per
//! bucket of the day or week, each read for the bucket the point falls in). Each
//! tracks its own mean absolute error, and the point is judged against the predictor that
//! has been most accurate lately, so a smooth daily cycle is judged by the daily profile and
//! a quiet random walk by persistence. Two scores come out of the residual:
//!
//! - *spike*: the two-sided (or one-sided) Gaussian tail of the robust z-score, on a log
//!   scale (`-log10(p) / tail_decades`), which catches a sudden outlier;
//! - *likelihood*: the tail of the short-term mean of recent |z| under a long-term Gaussian
//!   of |z| (Numenta's "anomaly likelihood"), which catches a change of behaviour that no
//!   single point shows, such as a rise in variance or a small sustained shift.
//!
//! Two optional components, off by default: a contextual novelty score (a recent sequence of
//! value levels never seen before, in a series where that is rare; see `context`) joins the
//! maximum, and a daily recurrence memory lowers a score by the high scores seen at about the
//! same time of day on earlier days (a nightly job is routine; see `recur`). A third, also off
//! by default, the *range break*, scores 1 for a value beyond the range seen so far by a share
//! of that range (see `range`).
//!
//! Points scoring at or above `flag_score` do not teach any predictor, so an outage does not
//! become the new normal; after `relearn_points` flagged points the level jumps to what the
//! flagged points showed, so a genuine permanent shift is accepted in the end. After a
//! firing (score at or above `fire_score`) the output is capped for `refractory_points`
//! points, so one anomaly is reported once, at its onset.

use serde::{Deserialize, Serialize};

use super::ewma::ewma_weight;
use super::finding::Direction;
use context::Context;
use profile::{Forecast, MAE_TO_SIGMA, ModelError, Profile, Slot};
use range::RangeBreak;
use recur::Recurrence;
pub(crate) use tail::log10_upper_tail;
use tail::{EmpiricalTail, decades_upper_bound};

mod context;
mod optional;
mod profile;
mod range;
mod recur;
mod tail;

/// Which deviations from the baseline count as anomalies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sides {
    /// Spikes and drops.
    Both,
    /// Only values above the baseline.
    Up,
    /// Only values below the baseline (a volume collapse).
    Down,
}

/// Configuration of the adaptive baseline. Plain data; [`Default`] suits telemetry windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// Points learned before any score is given (score 0 meanwhile).
    pub warmup_points: u32,
    /// EWMA weight of a new point in the global level.
    pub level_alpha: f64,
    /// EWMA weight of a new absolute residual in each predictor's spread.
    pub spread_alpha: f64,
    /// Residuals are clipped to this many sigmas before they teach (Huber-style robustness).
    pub clip_sigmas: f64,
    /// Buckets per day of the daily profile; 0 disables it.
    pub daily_buckets: u32,
    /// Buckets per week of the weekly profile; 0 disables it.
    pub weekly_buckets: u32,
    /// EWMA weight of a new point in its seasonal bucket.
    pub season_alpha: f64,
    /// Periods (days, weeks) a bucket must have seen before the profile is used.
    pub season_min_count: u32,
    /// Points a predictor needs before it may be chosen.
    pub model_min_count: u32,
    /// Predictors with at most this multiple of the best predictor's error may explain a point.
    pub model_tolerance: f64,
    /// Whether the previous value is one of the predictors.
    pub persistence: bool,
    /// `-log10` of the tail probability at which a score reaches 1.
    pub tail_decades: f64,
    /// Whether the spike tail is also judged empirically: a point is only as rare as the
    /// share of past points with a larger |z| says (handles heavy tails and few levels).
    pub empirical_tail: bool,
    /// Decay per point of the empirical |z| histogram (its memory is about 1/decay points).
    pub empirical_decay: f64,
    /// A point's |z| enters the histogram only this many points later (at most 64), so a
    /// run of anomalous points (a ramp) does not vouch for itself.
    pub empirical_delay_points: u32,
    /// |z| above this counts as this in the likelihood score.
    pub z_cap: f64,
    /// What the likelihood averages: `false` the capped |z|, `true` the spike's surprise
    /// (its capped `-log10` tail, so often-seen bursts add little).
    pub likelihood_of_surprise: bool,
    /// Points in the likelihood's short-term mean (at most 64); 0 disables the likelihood.
    pub short_points: u32,
    /// EWMA weight of a new |z| in the likelihood's long-term mean and variance.
    pub long_alpha: f64,
    /// Lower bound of the long-term standard deviation of |z|.
    pub long_std_floor: f64,
    /// Weight of the likelihood score against the spike score (1 = equal).
    pub likelihood_weight: f64,
    /// A point scoring at or above this does not teach the baseline.
    pub flag_score: f64,
    /// After this many flagged points (net of unflagged ones) the baseline relearns.
    pub relearn_points: u32,
    /// A score at or above this fires (starts the refractory period).
    pub fire_score: f64,
    /// Points after a firing during which the score is capped.
    pub refractory_points: u32,
    /// The cap during the refractory period, as a share of `fire_score`.
    pub refractory_cap: f64,
    /// Which deviations count.
    pub sides: Sides,
    /// Smallest spread, in the value's unit.
    pub abs_spread_floor: f64,
    /// Smallest spread, as a share of |level|.
    pub rel_spread_floor: f64,
    /// Smallest spread, as a share of the data's quantum (smallest non-zero step seen).
    pub quantum_floor: f64,
    /// Levels across the warm-up range for the contextual novelty score; 0 disables it.
    pub context_bins: u32,
    /// Longest context (number of latest levels) of the novelty score (at most 8).
    pub context_orders: u32,
    /// EWMA weight of a new point in the recent rate of novelty.
    pub context_rate_alpha: f64,
    /// The novelty score is multiplied by `(1 - recent rate of novelty)` to this power.
    pub context_rate_power: f64,
    /// Weight of the contextual novelty score against the other scores (their maximum).
    pub context_weight: f64,
    /// Buckets per day of the recurrence memory; 0 disables it. A score is lowered by the
    /// scores seen at about the same time of day on earlier days.
    pub recur_buckets: u32,
    /// Share of the remembered score taken off a new score.
    pub recur_weight: f64,
    /// Factor by which a remembered score fades per further day.
    pub recur_decay: f64,
    /// Smallest remembered score that lowers later ones (smaller ones are routine noise).
    pub recur_min: f64,
    /// A value beyond the range seen so far by more than this share of the range scores 1;
    /// `None` disables the range break.
    pub range_tolerance: Option<f64>,
    /// For a count per window (successful transactions): a Poisson CUSUM for a fall of the
    /// count to this share of the most accurate predictor's forecast. Each point adds its
    /// log-likelihood ratio `x ln(share) + expected (1 - share)`; the sum (floored at 0)
    /// fires once it passes `count_drop_decades` decades, so a quiet series' drop from 3 to
    /// 1 per window, invisible in any one window, is found within a couple of minutes. Off
    /// by default.
    pub count_drop: Option<f64>,
    /// See `count_drop`: the likelihood ratio, in decades, at which the CUSUM fires.
    pub count_drop_decades: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            warmup_points: 60,
            level_alpha: 0.02,
            spread_alpha: 0.005,
            clip_sigmas: 3.0,
            daily_buckets: 24,
            weekly_buckets: 0,
            season_alpha: 0.2,
            season_min_count: 2,
            model_min_count: 30,
            model_tolerance: 4.0,
            persistence: false,
            tail_decades: 8.0,
            empirical_tail: true,
            empirical_decay: 0.001,
            empirical_delay_points: 16,
            z_cap: 8.0,
            likelihood_of_surprise: false,
            short_points: 6,
            long_alpha: 0.01,
            long_std_floor: 0.2,
            likelihood_weight: 1.0,
            flag_score: 0.5,
            relearn_points: 360,
            fire_score: 0.7,
            refractory_points: 0,
            refractory_cap: 0.5,
            sides: Sides::Both,
            abs_spread_floor: 1e-9,
            rel_spread_floor: 0.01,
            quantum_floor: 1.0,
            context_bins: 0,
            context_orders: 3,
            context_rate_alpha: 0.01,
            context_rate_power: 1.0,
            context_weight: 1.0,
            recur_buckets: 0,
            recur_weight: 1.0,
            recur_decay: 0.7,
            recur_min: 0.4,
            range_tolerance: None,
            count_drop: None,
            count_drop_decades: 6.0,
        }
    }
}

/// What the detector made of one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveScore {
    /// Anomaly score in [0, 1] (capped during the refractory period).
    pub score: f64,
    /// The value the chosen predictor expected.
    pub expected: f64,
    /// Robust z-score of the point against that prediction (signed).
    pub z: f64,
    /// Which way the point (or the recent points) moved.
    pub direction: Direction,
    /// True when this point fired: score at or above `fire_score` outside a refractory period.
    pub fired: bool,
    /// When the count CUSUM fired (see [`AdaptiveConfig::count_drop`]): the bound on the
    /// chance of its evidence under the forecast, `exp(-cusum)`.
    pub count_tail: Option<f64>,
}

/// The forecasts made for a point before it was known, and its seasonal slots: what
/// scoring computed and learning reuses.
#[derive(Debug, Clone, Copy)]
struct Made {
    global: Forecast,
    /// The global forecast when persistence is off or has no previous value.
    persistence: Forecast,
    daily: Option<Forecast>,
    weekly: Option<Forecast>,
    daily_slot: Option<Slot>,
    weekly_slot: Option<Slot>,
}

/// How much of a point's score [`AdaptiveState::step`] must compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scoring {
    /// The exact score of every point.
    Every,
    /// The exact score of firing points; other points may get a stand-in.
    Firing,
}

/// Per-series state of the adaptive baseline: small, serialisable for checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveState {
    n: u64,
    #[serde(with = "super::exact")]
    level: f64,
    global: ModelError,
    #[serde(with = "super::exact")]
    prev: f64,
    has_prev: bool,
    last_ms: i64,
    /// Usual spacing of points (EWMA of gaps), ms.
    #[serde(with = "super::exact")]
    step_ms: f64,
    persistence: ModelError,
    #[serde(with = "super::exact")]
    quantum: f64,
    daily: Profile,
    weekly: Profile,
    #[serde(with = "super::exact::vec")]
    recent: Vec<f64>,
    #[serde(with = "super::exact")]
    recent_signed: f64,
    recent_at: u32,
    #[serde(with = "super::exact")]
    long_mean: f64,
    #[serde(with = "super::exact")]
    long_var: f64,
    long_n: u32,
    flagged_run: u32,
    #[serde(with = "super::exact")]
    flagged_level: f64,
    /// Mean absolute deviation of the flagged run around `flagged_level`.
    #[serde(with = "super::exact")]
    flagged_mad: f64,
    refractory_left: u32,
    tail: EmpiricalTail,
    /// Contextual novelty state (none unless `context_bins` is set).
    #[serde(default, with = "optional")]
    context: Option<Box<Context>>,
    /// Daily recurrence memory (none unless `recur_buckets` is set).
    #[serde(default, with = "optional")]
    recur: Option<Box<Recurrence>>,
    /// Range seen so far (none unless `range_tolerance` is set).
    #[serde(default, with = "optional")]
    range: Option<Box<RangeBreak>>,
    /// The count CUSUM's log-likelihood ratio (0 unless `count_drop` is set).
    #[serde(default, with = "super::exact")]
    count_cusum: f64,
}

/// The adaptive baseline on a bare (timestamp ms, value) stream: a config and one state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveDetector {
    /// Configuration.
    pub config: AdaptiveConfig,
    /// State of the stream seen so far.
    pub state: AdaptiveState,
}

/// The forecast of the most accurate warmed-up predictor (the first with the least error).
fn accurate(candidates: &[(Forecast, f64)], best_err: f64) -> f64 {
    candidates.iter().find(|(_, e)| *e <= best_err).map_or(candidates[0].0.expected, |(f, _)| f.expected)
}

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// `2 / (w + 1)` for every likelihood window `w` (at most 64), the weight of a new point in
/// the signed short-term mean; evaluated at compile time, which rounds as run time does.
const SIGNED_WEIGHTS: [f64; 65] = {
    let mut weights = [0.0; 65];
    let mut w = 0;
    while w < weights.len() {
        weights[w] = 2.0 / (w as f64 + 1.0);
        w += 1;
    }
    weights
};

impl AdaptiveDetector {
    /// A detector with fresh state.
    pub fn new(config: AdaptiveConfig) -> Self {
        AdaptiveDetector { config, state: AdaptiveState::default() }
    }

    /// Scores one point (event time in epoch milliseconds) and learns from it.
    pub fn update(&mut self, ts_ms: i64, value: f64) -> AdaptiveScore {
        self.state.update(&self.config, ts_ms, value)
    }
}

impl AdaptiveState {
    /// Scores one point against `config` and learns from it (see the module docs).
    pub fn update(&mut self, config: &AdaptiveConfig, ts_ms: i64, value: f64) -> AdaptiveScore {
        self.update_with_sigma_floor(config, ts_ms, value, 0.0)
    }

    /// As [`AdaptiveState::update`], with a smallest sigma known for this point, such as the
    /// binomial noise `sqrt(p (1 - p) / n)` of a ratio over `n` events.
    pub fn update_with_sigma_floor(
        &mut self,
        config: &AdaptiveConfig,
        ts_ms: i64,
        value: f64,
        sigma_floor: f64,
    ) -> AdaptiveScore {
        self.step(config, ts_ms, value, sigma_floor, Scoring::Every)
    }

    /// As [`AdaptiveState::update_with_sigma_floor`], for callers that act on firings only:
    /// returns the score of a firing point, `None` for any other. The state learns exactly
    /// as it would there, but a point that a cheap bound shows can neither be flagged nor
    /// fire skips the tail probabilities (most points of a quiet series).
    pub fn update_firing(
        &mut self,
        config: &AdaptiveConfig,
        ts_ms: i64,
        value: f64,
        sigma_floor: f64,
    ) -> Option<AdaptiveScore> {
        let s = self.step(config, ts_ms, value, sigma_floor, Scoring::Firing);
        s.fired.then_some(s)
    }

    /// Scores and learns one point; with [`Scoring::Firing`] the score of a point that does
    /// not fire may be a stand-in (0).
    #[inline(always)]
    fn step(
        &mut self,
        config: &AdaptiveConfig,
        ts_ms: i64,
        value: f64,
        sigma_floor: f64,
        scoring: Scoring,
    ) -> AdaptiveScore {
        if !value.is_finite() {
            return AdaptiveScore {
                score: 0.0,
                expected: self.level,
                z: 0.0,
                direction: Direction::Up,
                fired: false,
                count_tail: None,
            };
        }
        if self.n == 0 {
            self.level = value;
            self.flagged_level = value;
        } else if ts_ms > self.last_ms {
            let gap = (ts_ms - self.last_ms) as f64;
            self.step_ms = if self.step_ms == 0.0 { gap } else { self.step_ms + (gap - self.step_ms) * 0.05 };
        }
        self.last_ms = ts_ms;
        let floor = self.spread_floor(config).max(sigma_floor);
        let daily_slot = Profile::slot(ts_ms, DAY_MS, config.daily_buckets);
        let weekly_slot = Profile::slot(ts_ms, WEEK_MS, config.weekly_buckets);
        let daily = self.daily.forecast(config, daily_slot, config.daily_buckets);
        let weekly = self.weekly.forecast(config, weekly_slot, config.weekly_buckets);
        let global = Forecast { expected: self.level, sigma: MAE_TO_SIGMA * self.global.mae };
        let persistence = self
            .prev()
            .filter(|_| config.persistence)
            .map(|p| Forecast { expected: p, sigma: MAE_TO_SIGMA * self.persistence.mae });

        // Every warmed-up predictor about as accurate as the best one may explain the point;
        // the one that explains it best (smallest |z|) is the judge, so a normal daily step
        // that persistence calls a jump is still normal for the daily profile.
        let mut candidates = [(global, self.global.mae); 4];
        let mut n_candidates = 1;
        let mut best_err = self.global.mae;
        for (f, e) in [(persistence, &self.persistence), (daily, &self.daily.error), (weekly, &self.weekly.error)] {
            if let Some(f) = f
                && e.n >= config.model_min_count
            {
                candidates[n_candidates] = (f, e.mae);
                n_candidates += 1;
                best_err = best_err.min(e.mae);
            }
        }
        let mut best = global;
        let mut z = f64::INFINITY;
        for &(f, err) in &candidates[..n_candidates] {
            if err <= best_err * config.model_tolerance {
                let zf = (value - f.expected) / f.sigma.max(floor);
                if zf.abs() < z.abs() {
                    z = zf;
                    best = f;
                }
            }
        }
        let warm = self.n >= u64::from(config.warmup_points);
        let count_tail = self.count_drop(config, value, warm, &candidates[..n_candidates], best_err);
        let made = Made { global, persistence: persistence.unwrap_or(global), daily, weekly, daily_slot, weekly_slot };

        // Spike score: log tail of the single point.
        let one_sided = match config.sides {
            Sides::Both => z.abs(),
            Sides::Up => z.max(0.0),
            Sides::Down => (-z).max(0.0),
        };
        // The empirical tail is read before this point's |z| is queued, as one step.
        let tail_at = config.empirical_tail.then(|| self.tail.position(one_sided));
        // Contextual novelty depends on neither score, so it is learned first: the cheap
        // path below needs it to rule out a firing.
        let novelty = Context::update(&mut self.context, config, value, warm, floor);
        let z_clamped = z.clamp(-config.z_cap, config.z_cap);
        // The likelihood learns |z| unless it learns the spike's surprise, which needs the spike first.
        let early = (!config.likelihood_of_surprise).then(|| {
            let r = one_sided.min(config.z_cap);
            (r, self.short_means(config, r, z_clamped))
        });
        if scoring == Scoring::Firing
            && config.recur_buckets == 0
            && config.range_tolerance.is_none()
            && count_tail.is_none()
            && let Some((r, (short_mean, _))) = early
            && (!warm || self.cannot_flag_or_fire(config, one_sided, short_mean, novelty))
        {
            // Neither flagged nor firing: learn as the exact path below would.
            if let Some(bin) = tail_at {
                self.tail.enter(config, bin);
            }
            self.learn(config, value, made, false, r);
            self.refractory_left = self.refractory_left.saturating_sub(1);
            return AdaptiveScore {
                score: 0.0,
                expected: best.expected,
                z,
                direction: Direction::Up,
                fired: false,
                count_tail: None,
            };
        }

        let spike_decades = if config.sides == Sides::Both {
            -log10_upper_tail(one_sided) - std::f64::consts::LOG10_2
        } else {
            -log10_upper_tail(one_sided)
        };
        let spike_decades = match tail_at {
            Some(bin) => {
                let capped = self.tail.cap(one_sided, spike_decades);
                self.tail.enter(config, bin);
                capped
            }
            None => spike_decades,
        };
        let spike = (spike_decades / config.tail_decades).clamp(0.0, 1.0);

        // Likelihood score: short-term mean of r under its long-term distribution.
        let (r, (short_mean, short_signed)) = early.unwrap_or_else(|| {
            let r = spike_decades.max(0.0).min(config.z_cap);
            (r, self.short_means(config, r, z_clamped))
        });
        let likelihood = short_mean.map_or(0.0, |m| likelihood_score(config, self.likelihood_z(config, m)));
        let raw = if warm { spike.max(config.likelihood_weight * likelihood).clamp(0.0, 1.0) } else { 0.0 };
        let raw = Recurrence::discount(&mut self.recur, config, ts_ms, raw);

        let direction =
            if (if spike >= likelihood { z } else { short_signed }) < 0.0 { Direction::Down } else { Direction::Up };
        let flagged = warm && (raw >= config.flag_score || count_tail.is_some());
        let raw = if warm { raw.max(config.context_weight * novelty).clamp(0.0, 1.0) } else { raw };
        let raw = raw.max(RangeBreak::score(&mut self.range, config, value, warm));
        self.learn(config, value, made, flagged, r);
        if let Some(tail) = count_tail {
            // The drop is the finding, whatever the one point's own score.
            let expected = accurate(&candidates[..n_candidates], best_err);
            return AdaptiveScore {
                score: 1.0,
                expected,
                z,
                direction: Direction::Down,
                fired: true,
                count_tail: Some(tail),
            };
        }

        let mut score = raw;
        let mut fired = false;
        if self.refractory_left > 0 {
            self.refractory_left -= 1;
            score = score.min(config.fire_score * config.refractory_cap);
        } else if warm && raw >= config.fire_score {
            fired = true;
            self.refractory_left = config.refractory_points;
        }
        AdaptiveScore { score, expected: best.expected, z, direction, fired, count_tail: None }
    }

    /// Advances the count CUSUM (see [`AdaptiveConfig::count_drop`]) by `value` against the
    /// most accurate predictor; the bound on its evidence when it fires.
    #[inline(always)]
    fn count_drop(
        &mut self,
        config: &AdaptiveConfig,
        value: f64,
        warm: bool,
        candidates: &[(Forecast, f64)],
        best_err: f64,
    ) -> Option<f64> {
        let share = config.count_drop?;
        if !warm || config.sides == Sides::Up || !(share > 0.0 && share < 1.0) {
            return None;
        }
        let expected = accurate(candidates, best_err);
        if expected.is_nan() || expected <= 0.0 {
            return None;
        }
        let fire_at = config.count_drop_decades * std::f64::consts::LN_10;
        let llr = value.max(0.0) * share.ln() + expected * (1.0 - share);
        // Capped a decade above the alarm level, so recovery clears it within a few points.
        self.count_cusum = (self.count_cusum + llr).clamp(0.0, fire_at + std::f64::consts::LN_10);
        (self.count_cusum >= fire_at).then(|| (-self.count_cusum).exp())
    }

    /// The current global level (the baseline when no profile is better).
    pub fn level(&self) -> f64 {
        self.level
    }

    fn prev(&self) -> Option<f64> {
        self.has_prev.then_some(self.prev)
    }

    fn spread_floor(&self, config: &AdaptiveConfig) -> f64 {
        config.abs_spread_floor.max(config.rel_spread_floor * self.level.abs()).max(config.quantum_floor * self.quantum)
    }

    /// Updates the short statistics of |z| and returns the short-term mean of `r` (None
    /// until the long-term statistics are ready, or with the likelihood off; see
    /// [`AdaptiveState::likelihood_z`]) with the short-term mean of the signed z.
    #[inline(always)]
    fn short_means(&mut self, config: &AdaptiveConfig, r: f64, z_signed: f64) -> (Option<f64>, f64) {
        let w = config.short_points.min(64) as usize;
        if w == 0 {
            return (None, 0.0);
        }
        if self.recent.len() != w {
            self.recent = vec![0.0; w];
            self.recent_at = 0;
        }
        let slot = ring_slot(self.recent_at, w);
        self.recent[slot] = r;
        self.recent_at = ring_next(slot, w);
        self.recent_signed += (z_signed - self.recent_signed) * SIGNED_WEIGHTS[w];
        let short_mean = self.recent.iter().sum::<f64>() / w as f64;
        if (self.long_n as usize) < w * 4 {
            return (None, self.recent_signed);
        }
        (Some(short_mean), self.recent_signed)
    }

    /// The short-term mean of `r` standardised by the long-term statistics (as they are
    /// before this point is learned).
    fn likelihood_z(&self, config: &AdaptiveConfig, short_mean: f64) -> f64 {
        let std = self.long_var.sqrt().max(config.long_std_floor);
        (short_mean - self.long_mean) / std
    }

    /// True when a warm point can be neither flagged nor fire, whatever its exact spike and
    /// likelihood scores: both their Gaussian tails are bounded below the lower of
    /// `flag_score` and `fire_score` (the empirical tail only lowers the spike), and so is
    /// the weighted novelty.
    fn cannot_flag_or_fire(
        &self,
        config: &AdaptiveConfig,
        one_sided: f64,
        short_mean: Option<f64>,
        novelty: f64,
    ) -> bool {
        let limit = config.flag_score.min(config.fire_score);
        let tail_decades = config.tail_decades;
        if !(limit > 0.0 && tail_decades > 0.0 && tail_decades.is_finite()) {
            return false;
        }
        // Comparisons are written so that a NaN anywhere means "cannot rule out".
        let spike_quiet = decades_upper_bound(one_sided) < limit * tail_decades;
        let weight = config.likelihood_weight;
        let likelihood_quiet = match short_mean {
            _ if weight <= 0.0 => true,
            None => true,
            Some(m) => {
                // At or below the long-term mean the standardised mean is at most 0 (the
                // floor keeps the spread positive): no square root or division needed.
                let zl = if m - self.long_mean <= 0.0 && config.long_std_floor > 0.0 {
                    0.0
                } else {
                    self.likelihood_z(config, m).max(0.0)
                };
                decades_upper_bound(zl) < limit / weight * tail_decades
            }
        };
        let weighted_novelty = config.context_weight * novelty;
        // `max` ignores a NaN novelty, so it cannot fire either.
        let novelty_quiet = weighted_novelty < limit || weighted_novelty.is_nan();
        spike_quiet && likelihood_quiet && novelty_quiet
    }

    /// Learns a point from the forecasts made for it before it was known.
    #[inline(always)]
    fn learn(&mut self, config: &AdaptiveConfig, value: f64, made: Made, flagged: bool, r: f64) {
        let Made { global, persistence, daily, weekly, daily_slot, weekly_slot } = made;
        self.n += 1;
        if let Some(p) = self.prev() {
            let step = (value - p).abs();
            if step > 0.0 && (self.quantum == 0.0 || step < self.quantum) {
                self.quantum = step;
            }
        }
        if flagged {
            self.flagged_run += 1;
            let a = 0.1_f64.max(1.0 / f64::from(self.flagged_run));
            self.flagged_mad += ((value - self.flagged_level).abs() - self.flagged_mad) * a;
            self.flagged_level += (value - self.flagged_level) * a;
            if self.flagged_run >= config.relearn_points.max(1) {
                self.relearn(value);
            }
            return;
        }
        self.flagged_run = self.flagged_run.saturating_sub(1);
        if self.flagged_run == 0 {
            self.flagged_level = value;
            self.flagged_mad = 0.0;
        }
        let floor = self.spread_floor(config);
        let clip = config.clip_sigmas;
        let n = self.n as f64;
        // Errors first, against the forecasts made before this point was known.
        self.global.observe(config, value - global.expected, global.sigma.max(floor) * clip);
        if config.persistence && self.has_prev {
            self.persistence.observe(config, value - persistence.expected, persistence.sigma.max(floor) * clip);
        }
        if let Some(f) = daily {
            self.daily.error.observe(config, value - f.expected, f.sigma.max(floor) * clip);
        }
        if let Some(f) = weekly {
            self.weekly.error.observe(config, value - f.expected, f.sigma.max(floor) * clip);
        }
        let limit = (MAE_TO_SIGMA * self.global.mae).max(floor) * clip;
        let a = ewma_weight(config.level_alpha, n);
        let step = (value - self.level).clamp(-limit, limit);
        self.level += if self.global.n < 3 { value - self.level } else { step } * a;
        let step_ms = self.step_ms;
        self.daily.learn(config, daily_slot, config.daily_buckets, value, limit, step_ms);
        self.weekly.learn(config, weekly_slot, config.weekly_buckets, value, limit, step_ms);
        self.prev = value;
        self.has_prev = true;
        // Long-term distribution of |z|.
        self.long_n = self.long_n.saturating_add(1);
        let la = ewma_weight(config.long_alpha, f64::from(self.long_n));
        let d = r - self.long_mean;
        self.long_mean += la * d;
        self.long_var = (1.0 - la) * (self.long_var + la * d * d);
    }

    /// Accepts a long run of flagged points as the new normal: the global level and the
    /// previous value restart from them, spreads widen to theirs (profiles keep their shape
    /// and relearn as usual).
    fn relearn(&mut self, value: f64) {
        self.level = self.flagged_level;
        // The new regime may be noisier: no predictor may claim more accuracy than the run had.
        for e in [&mut self.global, &mut self.persistence, &mut self.daily.error, &mut self.weekly.error] {
            e.mae = e.mae.max(self.flagged_mad);
        }
        self.prev = value;
        self.has_prev = true;
        self.flagged_run = 0;
    }
}

/// The slot of a ring of `len` items that `at` points to: `at % len` (`at` is below `len`
/// unless restored from an odd checkpoint), without an integer division per point.
fn ring_slot(at: u32, len: usize) -> usize {
    let at = at as usize;
    if at < len { at } else { at % len }
}

/// The ring position after `slot`: `(slot + 1) % len` for `slot < len`.
fn ring_next(slot: usize, len: usize) -> u32 {
    (if slot + 1 == len { 0 } else { slot + 1 }) as u32
}

/// The likelihood score of a standardised short-term mean `zl`.
fn likelihood_score(config: &AdaptiveConfig, zl: f64) -> f64 {
    let decades = -log10_upper_tail(zl.max(0.0));
    (decades / config.tail_decades).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests;
