//! Detectors: per-series state over signal points, turning anomalies into findings.
//!
//! One detector kind per module, each a plain-data `…Config` and a small serialisable
//! `…State` with `observe(&config, &point, &mut findings)`: [`ThresholdState`] (static
//! limits with a for-duration and a binomial volume test), [`AdaptiveState`] (robust,
//! seasonal baseline; [`AdaptiveDetector`] runs it on a bare stream), [`BurnRateState`]
//! (SLO multi-window burn rate), [`ChangePointState`] (CUSUM level shift) and
//! [`TrendState`] (time to exhaustion). [`DetectorBank`] runs the configured detectors of
//! every series and signal and checkpoints their state.

mod bank;
mod baseline;
mod burn_rate;
mod change_point;
mod ewma;
mod exact;
mod finding;
mod threshold;
mod trend;

pub use bank::{
    BankCopy, BankEntry, BankState, DetectorBank, DetectorBankSpec, DetectorSpec, DetectorState, ServiceOverride,
};
pub use baseline::{AdaptiveConfig, AdaptiveDetector, AdaptiveScore, AdaptiveState, Sides};
pub use burn_rate::{BurnRateConfig, BurnRateState, BurnWindowPair};
pub use change_point::{ChangePointConfig, ChangePointState};
pub use finding::{DetectorKind, Direction, Finding};
pub use threshold::{ThresholdConfig, ThresholdState};
pub use trend::{TrendConfig, TrendState};
