//! One-shot mode: read, wait the interval, read again, return that interval's attribution.

use std::time::Duration;

use crate::directory::PodDirectory;
use crate::report::IntervalReport;
use crate::sampler::{Sampler, SamplerError};
use crate::settings::OnceSettings;

/// Errors of one-shot mode.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    #[error("interval must be a positive number of seconds, got {0}")]
    BadInterval(f64),
    #[error("the second reading produced no interval")]
    NoInterval,
}

/// Runs one interval. A notice (e.g. falling back to the estimate) goes to `notices`.
pub fn once(
    settings: &OnceSettings,
    notices: &mut Vec<String>,
) -> Result<IntervalReport, OnceError> {
    if !(settings.interval_secs > 0.0 && settings.interval_secs.is_finite()) {
        return Err(OnceError::BadInterval(settings.interval_secs));
    }
    let config = settings.sensors.sampler_config();
    let (mut sampler, notice) = Sampler::new(&config, PodDirectory::new())?;
    notices.extend(notice);
    sampler.sample()?;
    std::thread::sleep(Duration::from_secs_f64(settings.interval_secs));
    sampler.sample()?.ok_or(OnceError::NoInterval)
}
