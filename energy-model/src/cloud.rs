//! Cloud Carbon Footprint's power model: per-vCPU min/max watts per provider plus a memory
//! term. The agent's estimating sensor and the simulated pods both use it.

/// Cloud provider whose coefficients the estimate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Aws,
    Gcp,
    Azure,
}

/// Coefficients of the model for one provider.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coefficients {
    pub min_watts_per_vcpu: f64,
    pub max_watts_per_vcpu: f64,
    /// Facility overhead. Not applied by the agent (it reports IT energy); kept here so the
    /// table is in one place for the server's carbon figures.
    pub pue: f64,
}

/// Memory draw: 0.000392 kWh per GB-hour = 0.392 W per GB (decimal GB).
pub const MEMORY_WATTS_PER_GB: f64 = 0.392;

/// The one table of coefficients (Cloud Carbon Footprint's published figures).
pub fn coefficients(provider: Provider) -> Coefficients {
    let (min_watts_per_vcpu, max_watts_per_vcpu, pue) = match provider {
        Provider::Aws => (0.74, 3.5, 1.135),
        Provider::Gcp => (0.68, 4.11, 1.1),
        Provider::Azure => (0.74, 3.54, 1.185),
    };
    Coefficients {
        min_watts_per_vcpu,
        max_watts_per_vcpu,
        pue,
    }
}

/// Average power of `vcpus` at `utilisation` (0..=1) plus `memory_bytes` of used memory.
pub fn estimated_power_watts(
    c: Coefficients,
    vcpus: usize,
    utilisation: f64,
    memory_bytes: u64,
) -> (f64, f64) {
    let u = utilisation.clamp(0.0, 1.0);
    let cpu_watts =
        vcpus as f64 * (c.min_watts_per_vcpu + u * (c.max_watts_per_vcpu - c.min_watts_per_vcpu));
    let memory_watts = memory_bytes as f64 / 1e9 * MEMORY_WATTS_PER_GB;
    (cpu_watts, memory_watts)
}
