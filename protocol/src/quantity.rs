//! Kubernetes CPU quantities (`2`, `0.5`, `500m`) in millicores: one parser for the server
//! (quotas, sizes) and the agent (pods' CPU requests for the simulated energy model).

/// Why a CPU quantity was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuQuantityError {
    #[error("{0:?} is not a CPU amount; use cores (2, 0.5) or millicores (500m)")]
    NotCpu(String),
    #[error("{0:?} is finer than a millicore; use at most 3 decimals or millicores (500m)")]
    FinerThanMillicore(String),
}

/// Parses `2`, `0.5` or `500m` into millicores (at most millicore precision, as the API
/// server's canonical form).
pub fn cpu_millicores(raw: &str) -> Result<u64, CpuQuantityError> {
    let raw = raw.trim();
    let bad = || CpuQuantityError::NotCpu(raw.to_owned());
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if let Some(millis) = raw.strip_suffix('m') {
        return millis
            .parse::<u64>()
            .ok()
            .filter(|_| digits(millis))
            .ok_or_else(bad);
    }
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    if fraction.len() > 3 {
        return Err(CpuQuantityError::FinerThanMillicore(raw.to_owned()));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let fraction: u64 = format!("{fraction:0<3}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(1000)
        .and_then(|m| m.checked_add(fraction))
        .ok_or_else(bad)
}

/// A pod's CPU request in millicores, for weighing pods in the power model: an unreadable
/// quantity counts as none (the pod then weighs nothing), a huge one is capped.
pub fn requested_cpu_millis(quantity: &str) -> u32 {
    cpu_millicores(quantity).map_or(0, |m| u32::try_from(m).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_and_millicores() {
        assert_eq!(cpu_millicores("250m"), Ok(250));
        assert_eq!(cpu_millicores("0.5"), Ok(500));
        assert_eq!(cpu_millicores(".25"), Ok(250));
        assert_eq!(cpu_millicores("2"), Ok(2000));
        assert_eq!(
            cpu_millicores("0.0005"),
            Err(CpuQuantityError::FinerThanMillicore("0.0005".to_owned()))
        );
        for bad in ["lots", "", ".", "-1", "1.5m", "1e3"] {
            assert!(cpu_millicores(bad).is_err(), "{bad}");
        }
    }
}
