//! Canopy's lookup on one directory, as JSON on stdout (for `scripts/compare-renovate.sh`):
//! `cargo run -p canopy-drift --example lookup -- <dir> [--only npm,pypi]`.
//! Asks the public registries (or `CANOPY_DRIFT_REGISTRY_URL`, every registry under one base).
//! After the first (cold-cache) scan and lookup it scans and looks up again with the same
//! registries (warm in-memory cache), and prints to stderr one line for scripts:
//! `canopy-timing cold_ms=.. warm_ms=.. requests=.. warm_requests=..` (requests as
//! `npm:30,pypi:24`).

use std::time::Instant;

use canopy_drift::{scan_directory, Outcome, Registries, RegistrySettings, UpdateType};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: lookup <dir> [--only npm,pypi]")?;
    let only: Option<Vec<String>> = match (args.next().as_deref(), args.next()) {
        (Some("--only"), Some(list)) => Some(list.split(',').map(str::to_owned).collect()),
        _ => None,
    };
    let settings = match std::env::var("CANOPY_DRIFT_REGISTRY_URL") {
        Ok(base) if !base.is_empty() => RegistrySettings::all_at(&url::Url::parse(&base)?)?,
        _ => RegistrySettings::default(),
    };
    let registries = Registries::new(settings)?;
    let scan_and_lookup = || async {
        let mut scan = scan_directory(std::path::Path::new(&dir));
        if let Some(only) = &only {
            scan.dependencies
                .retain(|d| only.iter().any(|o| o == d.ecosystem.as_str()));
        }
        registries.lookup_all(&scan.dependencies).await
    };
    let counts = |registries: &Registries| {
        registries
            .request_counts()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(e, n)| (e.as_str().to_owned(), n))
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    let reports = scan_and_lookup().await;
    let cold = started.elapsed();
    let cold_counts = counts(&registries);
    let started = Instant::now();
    let _ = scan_and_lookup().await;
    let warm = started.elapsed();
    let warm_counts = counts(&registries);
    let total = |c: &[(String, u64)]| c.iter().map(|(_, n)| n).sum::<u64>();
    let requests = cold_counts
        .iter()
        .map(|(e, n)| format!("{e}:{n}"))
        .collect::<Vec<_>>()
        .join(",");
    let rows: Vec<_> = reports
        .iter()
        .map(|r| {
            let d = &r.dependency;
            let reason = match &r.outcome {
                Outcome::Unknown(why) | Outcome::Skipped(why) => Some(why.clone()),
                _ => None,
            };
            let (status, current, newest, update) = match &r.outcome {
                Outcome::UpToDate(up) => ("up_to_date", Some(up.current.clone()), None, None),
                Outcome::Outdated(o) => (
                    "outdated",
                    Some(o.current.clone()),
                    Some(o.newest_stable.clone()),
                    Some(match o.update_type {
                        UpdateType::Major => "major",
                        UpdateType::Minor => "minor",
                        UpdateType::Patch => "patch",
                        UpdateType::Pin => "pin",
                        UpdateType::Digest => "digest",
                    }),
                ),
                Outcome::Unknown(_) => ("unknown", None, None, None),
                Outcome::Skipped(_) => ("skipped", None, None, None),
            };
            json!({
                "ecosystem": d.ecosystem.as_str(),
                "name": d.name,
                "file": d.file,
                "line": d.line,
                "declared": d.declared,
                "status": status,
                "current": current,
                "newest": newest,
                "update_type": update,
                "reason": reason,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&rows)?);
    eprintln!(
        "canopy-timing cold_ms={:.0} warm_ms={:.1} requests={} warm_requests={}",
        cold.as_secs_f64() * 1000.0,
        warm.as_secs_f64() * 1000.0,
        if requests.is_empty() {
            "none"
        } else {
            &requests
        },
        total(&warm_counts) - total(&cold_counts),
    );
    Ok(())
}
