//! The checks an [`IngestBatch`](crate::IngestBatch) must pass, and the error naming the field.

use crate::{IngestBatch, IntervalSample, PodEnergy, SCHEMA_VERSION};

/// Upper bound on a node's average power over an interval. The largest single servers draw a
/// few kilowatts; 100 kW from one node means a broken counter or a unit error.
pub const MAX_NODE_POWER_WATTS: f64 = 100_000.0;
/// Upper bound on one interval's length (one day). Agents sample every few seconds.
pub const MAX_INTERVAL_SECS: f64 = 86_400.0;
/// Upper bound on the number of samples in one batch.
pub const MAX_SAMPLES_PER_BATCH: usize = 10_000;
/// Upper bound on node, namespace, pod, container, label and zone strings (bytes).
pub const MAX_TEXT_LEN: usize = 1_024;
/// Tolerance for the conservation check (floating-point rounding), in joules; relative
/// tolerance of 1e-6 of the host energy is added on top.
pub const SUM_TOLERANCE_JOULES: f64 = 1e-3;

/// Why a batch was refused; `field` is a path such as `samples[2].pods[0].energy_joules`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("unknown schema_version {found} (this reader supports {supported})")]
    UnknownSchemaVersion { found: u32, supported: u32 },
    #[error("{field} must not be empty")]
    Empty { field: String },
    #[error("{field} is {len} bytes long, over the bound of {bound}")]
    TooLong {
        field: String,
        len: usize,
        bound: usize,
    },
    #[error("{field} has {count} entries, over the bound of {bound}")]
    TooMany {
        field: String,
        count: usize,
        bound: usize,
    },
    #[error("{field} is not a finite number")]
    NotFinite { field: String },
    #[error("{field} is negative ({value})")]
    NegativeEnergy { field: String, value: f64 },
    #[error("{field}: interval end is before its start")]
    EndBeforeStart { field: String },
    #[error("{field} is {value}, over the bound of {bound}")]
    Absurd {
        field: String,
        value: f64,
        bound: f64,
    },
    #[error("{field}: idle + system + pods = {parts_joules} J but host = {host_joules} J")]
    NotConserved {
        field: String,
        host_joules: f64,
        parts_joules: f64,
    },
    /// Two intervals of the same source overlap: their energy would be counted twice.
    #[error("{field} overlaps {other} (same source): that time would be counted twice")]
    Overlapping { field: String, other: String },
}

impl IngestBatch {
    /// Checks everything a reader relies on; the first problem found is returned.
    ///
    /// Refused: an unknown `schema_version`; an empty or over-long `node`; more than
    /// [`MAX_SAMPLES_PER_BATCH`] samples; any energy that is negative or not finite; an interval
    /// whose end is before its start or longer than [`MAX_INTERVAL_SECS`]; a host energy whose
    /// average power exceeds [`MAX_NODE_POWER_WATTS`]; parts (idle + system + pods) that do not
    /// add up to the host energy within [`SUM_TOLERANCE_JOULES`] plus 1e-6 relative; two
    /// intervals of the same source that overlap (`[start, end)`; touching ones are fine).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(ValidationError::UnknownSchemaVersion {
                found: self.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        check_text("node", &self.node, true)?;
        if self.samples.len() > MAX_SAMPLES_PER_BATCH {
            return Err(ValidationError::TooMany {
                field: "samples".into(),
                count: self.samples.len(),
                bound: MAX_SAMPLES_PER_BATCH,
            });
        }
        for (i, sample) in self.samples.iter().enumerate() {
            sample.validate(&format!("samples[{i}]"))?;
        }
        self.check_no_overlap()
    }

    /// Samples of one source must not overlap: sorted by (source, start), each must start at
    /// or after the end of the one before it. Zero-length intervals cover no time.
    fn check_no_overlap(&self) -> Result<(), ValidationError> {
        let mut order: Vec<usize> = (0..self.samples.len())
            .filter(|&i| self.samples[i].start < self.samples[i].end)
            .collect();
        order.sort_by_key(|&i| (self.samples[i].source, self.samples[i].start, i));
        for pair in order.windows(2) {
            let (before, after) = (&self.samples[pair[0]], &self.samples[pair[1]]);
            if before.source == after.source && after.start < before.end {
                return Err(ValidationError::Overlapping {
                    field: format!("samples[{}]", pair[0].max(pair[1])),
                    other: format!("samples[{}]", pair[0].min(pair[1])),
                });
            }
        }
        Ok(())
    }
}

impl IntervalSample {
    fn validate(&self, at: &str) -> Result<(), ValidationError> {
        if self.end < self.start {
            return Err(ValidationError::EndBeforeStart { field: at.into() });
        }
        let interval_secs = self.interval_secs();
        if interval_secs > MAX_INTERVAL_SECS {
            return Err(ValidationError::Absurd {
                field: format!("{at}.end"),
                value: interval_secs,
                bound: MAX_INTERVAL_SECS,
            });
        }
        check_energy(&format!("{at}.host_energy_joules"), self.host_energy_joules)?;
        check_energy(&format!("{at}.idle_energy_joules"), self.idle_energy_joules)?;
        check_energy(
            &format!("{at}.system_energy_joules"),
            self.system_energy_joules,
        )?;
        // A zero-length interval can carry no energy; otherwise bound the average power.
        let max_joules = MAX_NODE_POWER_WATTS * interval_secs;
        if self.host_energy_joules > max_joules {
            return Err(ValidationError::Absurd {
                field: format!("{at}.host_energy_joules"),
                value: self.host_energy_joules,
                bound: max_joules,
            });
        }
        for (j, zone) in self.zones.iter().enumerate() {
            check_text(&format!("{at}.zones[{j}].zone"), &zone.zone, true)?;
            let field = format!("{at}.zones[{j}].energy_joules");
            check_energy(&field, zone.energy_joules)?;
            if zone.energy_joules > max_joules {
                return Err(ValidationError::Absurd {
                    field,
                    value: zone.energy_joules,
                    bound: max_joules,
                });
            }
        }
        for (j, pod) in self.pods.iter().enumerate() {
            pod.validate(&format!("{at}.pods[{j}]"))?;
        }
        let parts_joules =
            self.idle_energy_joules + self.system_energy_joules + self.pods_energy_joules();
        let tolerance = SUM_TOLERANCE_JOULES + 1e-6 * self.host_energy_joules;
        if (parts_joules - self.host_energy_joules).abs() > tolerance {
            return Err(ValidationError::NotConserved {
                field: at.into(),
                host_joules: self.host_energy_joules,
                parts_joules,
            });
        }
        Ok(())
    }
}

impl PodEnergy {
    fn validate(&self, at: &str) -> Result<(), ValidationError> {
        check_text(&format!("{at}.pod_uid"), &self.pod_uid, true)?;
        for (name, value) in [
            ("namespace", &self.namespace),
            ("pod", &self.pod),
            ("container", &self.container),
            ("container_id", &self.container_id),
        ] {
            if let Some(value) = value {
                check_text(&format!("{at}.{name}"), value, false)?;
            }
        }
        for (key, value) in &self.labels {
            check_text(&format!("{at}.labels"), key, true)?;
            check_text(&format!("{at}.labels[{key}]"), value, false)?;
        }
        check_energy(&format!("{at}.energy_joules"), self.energy_joules)
    }
}

fn check_energy(field: &str, value: f64) -> Result<(), ValidationError> {
    if !value.is_finite() {
        return Err(ValidationError::NotFinite {
            field: field.into(),
        });
    }
    if value < 0.0 {
        return Err(ValidationError::NegativeEnergy {
            field: field.into(),
            value,
        });
    }
    Ok(())
}

fn check_text(field: &str, value: &str, required: bool) -> Result<(), ValidationError> {
    if required && value.is_empty() {
        return Err(ValidationError::Empty {
            field: field.into(),
        });
    }
    if value.len() > MAX_TEXT_LEN {
        return Err(ValidationError::TooLong {
            field: field.into(),
            len: value.len(),
            bound: MAX_TEXT_LEN,
        });
    }
    Ok(())
}
