//! What each T-shirt size means in CPU and memory: the one table.

use app::api::spec::Size;

/// Requests (what the scheduler reserves) and limits (the ceiling) for one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeResources {
    pub cpu_request: &'static str,
    pub memory_request: &'static str,
    pub cpu_limit: &'static str,
    pub memory_limit: &'static str,
    /// CPU request in millicores (for quota arithmetic and energy simulation).
    pub cpu_request_millis: u32,
}

pub const fn resources(size: Size) -> SizeResources {
    match size {
        Size::S => SizeResources {
            cpu_request: "100m",
            memory_request: "128Mi",
            cpu_limit: "500m",
            memory_limit: "256Mi",
            cpu_request_millis: 100,
        },
        Size::M => SizeResources {
            cpu_request: "250m",
            memory_request: "256Mi",
            cpu_limit: "1",
            memory_limit: "512Mi",
            cpu_request_millis: 250,
        },
        Size::L => SizeResources {
            cpu_request: "500m",
            memory_request: "512Mi",
            cpu_limit: "2",
            memory_limit: "1Gi",
            cpu_request_millis: 500,
        },
        Size::XL => SizeResources {
            cpu_request: "1",
            memory_request: "1Gi",
            cpu_limit: "4",
            memory_limit: "2Gi",
            cpu_request_millis: 1000,
        },
    }
}

/// Why an amount was refused; the message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("{0:?} is not a CPU amount; use cores (2, 0.5) or millicores (500m)")]
    NotCpu(String),
    #[error("{0:?} is finer than a millicore; use at most 3 decimals or millicores (500m)")]
    FinerThanMillicore(String),
    #[error(
        "{0:?} is not a memory amount; use a whole number with Ki, Mi, Gi or Ti (512Mi, 16Gi)"
    )]
    NotMemory(String),
    #[error("{0:?} is too large")]
    TooLarge(String),
    #[error("{0:?} is not a whole number")]
    NotWholeNumber(String),
}

/// An amount a quota limits: parsed from and shown as Kubernetes writes it.
pub trait Amount: Copy + Ord + std::fmt::Display + Sized {
    fn parse(raw: &str) -> Result<Self, AmountError>;
}

impl Amount for Cpu {
    fn parse(raw: &str) -> Result<Self, AmountError> {
        Cpu::parse(raw)
    }
}

impl Amount for Memory {
    fn parse(raw: &str) -> Result<Self, AmountError> {
        Memory::parse(raw)
    }
}

/// A number of pods.
impl Amount for u32 {
    fn parse(raw: &str) -> Result<Self, AmountError> {
        raw.trim()
            .parse()
            .map_err(|_| AmountError::NotWholeNumber(raw.to_owned()))
    }
}

/// A CPU amount in millicores, written the way Kubernetes does (`8`, `500m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cpu(pub u64);

impl Cpu {
    pub const fn cores(cores: u64) -> Self {
        Self(cores * 1000)
    }

    /// Parses `2`, `0.5` or `500m` (at most millicore precision), with the agent's parser
    /// (`canopy_protocol::quantity`).
    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        use canopy_protocol::quantity::{cpu_millicores, CpuQuantityError};
        cpu_millicores(raw).map(Self).map_err(|error| match error {
            CpuQuantityError::NotCpu(raw) => AmountError::NotCpu(raw),
            CpuQuantityError::FinerThanMillicore(raw) => AmountError::FinerThanMillicore(raw),
        })
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

/// A memory amount in bytes, written with the largest binary suffix that divides it (`16Gi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Memory(pub u64);

const MEMORY_SUFFIXES: [(&str, u64); 8] = [
    ("Ti", 1 << 40),
    ("Gi", 1 << 30),
    ("Mi", 1 << 20),
    ("Ki", 1 << 10),
    ("T", 1_000_000_000_000),
    ("G", 1_000_000_000),
    ("M", 1_000_000),
    ("k", 1_000),
];

impl Memory {
    pub const fn gibibytes(gib: u64) -> Self {
        Self(gib << 30)
    }

    pub const fn mebibytes(mib: u64) -> Self {
        Self(mib << 20)
    }

    /// Parses `16Gi`, `512Mi`, `2G` or a number of bytes; whole numbers only.
    pub fn parse(raw: &str) -> Result<Self, AmountError> {
        let raw = raw.trim();
        let (number, unit) = MEMORY_SUFFIXES
            .iter()
            .find_map(|(suffix, unit)| raw.strip_suffix(suffix).map(|n| (n, *unit)))
            .unwrap_or((raw, 1));
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotMemory(raw.to_owned()));
        }
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .map(Self)
            .ok_or_else(|| AmountError::TooLarge(raw.to_owned()))
    }
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (suffix, unit) in &MEMORY_SUFFIXES[..4] {
            if self.0 > 0 && self.0.is_multiple_of(*unit) {
                return write!(f, "{}{suffix}", self.0 / unit);
            }
        }
        write!(f, "{}", self.0)
    }
}

/// Per-team namespace quota, the same in each of the team's environments (`<team>-<env>`).
/// The default applies to teams without one of their own (`server/src/deploy/quota.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamQuota {
    pub requests_cpu: Cpu,
    pub requests_memory: Memory,
    pub limits_cpu: Cpu,
    pub limits_memory: Memory,
    pub pods: u32,
}

impl Default for TeamQuota {
    fn default() -> Self {
        Self {
            requests_cpu: Cpu::cores(8),
            requests_memory: Memory::gibibytes(16),
            limits_cpu: Cpu::cores(32),
            limits_memory: Memory::gibibytes(32),
            pods: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_amounts_parse_and_print_the_kubernetes_way() {
        for (raw, millis, shown) in [
            ("8", 8000, "8"),
            ("500m", 500, "500m"),
            ("0.5", 500, "500m"),
            (".25", 250, "250m"),
            ("1.5", 1500, "1500m"),
            ("2.000", 2000, "2"),
        ] {
            let cpu = Cpu::parse(raw).unwrap();
            assert_eq!(cpu, Cpu(millis), "{raw}");
            assert_eq!(cpu.to_string(), shown, "{raw}");
        }
        for bad in ["", "m", "two", "-1", "1.2.3", "0.0005", "5 m", "1e3"] {
            let err = Cpu::parse(bad).unwrap_err().to_string();
            assert!(err.contains(&format!("{:?}", bad.trim())), "{bad}: {err}");
        }
    }

    #[test]
    fn memory_amounts_parse_and_print_the_kubernetes_way() {
        for (raw, bytes, shown) in [
            ("16Gi", 16 << 30, "16Gi"),
            ("512Mi", 512 << 20, "512Mi"),
            ("1024Mi", 1 << 30, "1Gi"),
            ("2G", 2_000_000_000, "1953125Ki"),
            ("1000001", 1_000_001, "1000001"),
            ("1000", 1000, "1000"),
        ] {
            let memory = Memory::parse(raw).unwrap();
            assert_eq!(memory, Memory(bytes), "{raw}");
            assert_eq!(memory.to_string(), shown, "{raw}");
        }
        for bad in ["", "Gi", "1.5Gi", "16GB", "-1Gi", "lots"] {
            assert!(Memory::parse(bad).is_err(), "{bad}");
        }
        assert!(Memory::parse("99999999999Ti")
            .unwrap_err()
            .to_string()
            .contains("too large"));
    }

    #[test]
    fn the_default_quota_renders_as_before() {
        let quota = TeamQuota::default();
        assert_eq!(quota.requests_cpu.to_string(), "8");
        assert_eq!(quota.requests_memory.to_string(), "16Gi");
        assert_eq!(quota.limits_cpu.to_string(), "32");
        assert_eq!(quota.limits_memory.to_string(), "32Gi");
    }
}
