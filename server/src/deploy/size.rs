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

/// Per-team, per-environment namespace quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamQuota {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub pods: String,
}

impl Default for TeamQuota {
    fn default() -> Self {
        Self {
            requests_cpu: "8".to_owned(),
            requests_memory: "16Gi".to_owned(),
            limits_cpu: "32".to_owned(),
            limits_memory: "32Gi".to_owned(),
            pods: "100".to_owned(),
        }
    }
}
