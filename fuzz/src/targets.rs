//! The fuzz targets: each feeds one input to the parsers as Canopy runs them and returns a short
//! outcome signature (which result or refusal it got). A panic anywhere is a bug.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use canopy_agent::sensors::{
    cgroup::{parse_cgroup_file, parse_cgroup_path},
    cgroup_cpu::{parse_cpu_stat_usage_usec, pod_cpu_deltas, CgroupCpuReader},
    powercap::{counter_delta_uj, PowercapSensor},
    procfs::{parse_pid_stat, parse_proc_stat, ProcSnapshot, ProcfsReader},
    EnergySensor,
};
use canopy_protocol::{IngestBatch, SCHEMA_VERSION};
use canopy_server::{
    energy::{buckets::buckets, mapping::Owner},
    github::canopy_file::{line_of, CanopyFile},
};
use time::Duration;

/// The targets `scripts/fuzz.sh` runs, by name.
pub const TARGETS: &[&str] = &["canopy-yaml", "ingest", "procfs", "sysfs"];

/// Tokens the mutator inserts, per target.
pub fn dictionary(target: &str) -> &'static [&'static str] {
    match target {
        "canopy-yaml" => &[
            "team: ",
            "name: ",
            "environment: ",
            "image: ",
            "port: ",
            "size: ",
            "replicas: ",
            "autoscaling:\n  min: ",
            "\n  max: ",
            "\n  target_cpu_percent: ",
            "env:\n  ",
            "secrets:\n  - ",
            "route:\n  host: ",
            "\n  path: ",
            "health_check: ",
            "prod",
            "XL",
            "@sha256:",
            ":latest",
            "&a ",
            "*a",
            "!!binary ",
            "!!int ",
            "<<: ",
            "---\n",
            "...\n",
            "? ",
            "|\n  ",
            ">-\n  ",
            "[",
            "]",
            "{",
            "}",
            "~",
            "null",
            "\"\\u0000\"",
            "'",
            "\t",
        ],
        "ingest" => &[
            "\"schema_version\":",
            "\"samples\":[",
            "\"pods\":[",
            "\"zones\":[",
            "\"labels\":{",
            "\"namespace\":",
            "\"energy_joules\":",
            "\"host_energy_joules\":",
            "\"start\":\"",
            "\"end\":\"",
            "\"source\":\"simulated\"",
            "9999-12-31T23:59:59-23:59",
            "-9999-01-01T00:00:00+23:59",
            "0000-01-01T00:00:00+23:59",
            "2026-01-01T00:00:00.999999999Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-12-31T23:59:60Z",
            "+01:00",
            "null",
            "true",
            "[]",
            "{}",
            "\"\"",
            "\\u0000",
            "\\ud800",
            "canopy.dev/team",
            "app.kubernetes.io/name",
        ],
        "procfs" => &[
            "cpu  ",
            "cpu0 ",
            "cpu1 ",
            "\n---\n",
            ") ",
            " (",
            "((",
            "))",
            "0::/",
            "/kubepods.slice/",
            "kubepods-burstable-pod",
            "kubepods-besteffort-pod",
            ".slice",
            "cri-containerd-",
            "docker-",
            "crio-",
            ".scope",
            "_",
            "MemTotal: ",
            "MemAvailable: ",
            " kB",
            "usage_usec ",
            "user_usec ",
        ],
        "sysfs" => &[
            "intel-rapl:0 ",
            "intel-rapl:0:0 ",
            "intel-rapl:1 ",
            "amd-rapl:0 ",
            "intel-rapl:0:0:0 ",
            "intel-rapl: ",
            "package-0 ",
            "dram ",
            "psys ",
            "core ",
            "\n---\n",
            "dt ",
            "usage_usec ",
            "\n",
        ],
        _ => &[],
    }
}

/// Per-target scratch state (the temporary trees the file-reading parsers read).
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
        })
    }

    /// An empty directory `name` inside the scratch directory.
    fn fresh(&self, name: &str) -> std::io::Result<PathBuf> {
        let path = self.dir.path().join(name);
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        std::fs::create_dir_all(&path)?;
        Ok(path)
    }
}

/// Runs `target` on `input`; the outcome signature, or an error of the harness itself (a
/// scratch file that could not be written), never of the input.
pub fn run(target: &str, input: &[u8], scratch: &Scratch) -> anyhow::Result<String> {
    match target {
        "canopy-yaml" => Ok(canopy_yaml(input)),
        "ingest" => Ok(ingest(input)),
        "procfs" => procfs(input, scratch),
        "sysfs" => sysfs(input, scratch),
        other => anyhow::bail!("unknown target {other} (known: {})", TARGETS.join(", ")),
    }
}

/// A signature from a message: digits and quoted parts dropped, so "line 7" and "line 9" are
/// one outcome.
fn shape(message: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in message.chars().take(80) {
        match c {
            '`' | '"' => quoted = !quoted,
            _ if quoted || c.is_ascii_digit() => {}
            _ => out.push(c),
        }
    }
    out
}

/// `canopy.yaml` as the REST API reads it (`deploy::manifest::parse`) and as a push or deploy
/// button reads it (`CanopyFile::parse`, which applies the portal's spec validation and ties
/// problems to lines), then what the deploy uses of it.
fn canopy_yaml(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(input);
    // The REST API's `{"canopy_yaml": ...}` (POST /api/v1/deploys and .../preview).
    let api = match canopy_server::deploy::manifest::parse(&text) {
        Ok(_) => "api ok".to_owned(),
        Err(errors) => format!("api {}", errors.0.len().min(3)),
    };
    let file = CanopyFile::parse(&text, "payments", "staging");
    let spec = file.spec();
    let form = file.form();
    for problem in &file.problems {
        let _ = line_of(&text, &problem.field);
    }
    match (file.problems.first(), spec, form) {
        (Some(p), _, _) => {
            // The field and the first words of the message: which rule refused it.
            let words: Vec<&str> = p.message.split_whitespace().take(3).collect();
            format!("{api}; problem {} {}", p.field, shape(&words.join(" ")))
        }
        (None, Some(spec), Some(_)) => format!("{api}; ok ns={}", spec.namespace().len().min(8)),
        (None, spec, form) => format!("{api}; ok spec={} form={}", spec.is_some(), form.is_some()),
    }
}

#[derive(serde::Deserialize)]
struct VersionOnly {
    schema_version: Option<u32>,
}

/// The ingest body as the server takes it (`energy::ingest::Ingest::parse` then `ingest` up to
/// the database): the version probe, the typed batch, validation, the retention window, the
/// rollup buckets and each pod's owner. A valid batch must also round-trip through JSON.
fn ingest(input: &[u8]) -> String {
    let version: VersionOnly = match serde_json::from_slice(input) {
        Ok(v) => v,
        Err(e) => return format!("not json {:?}", e.classify()),
    };
    if version.schema_version != Some(SCHEMA_VERSION) {
        return format!("version {:?}", version.schema_version.map(|_| "other"));
    }
    let batch: IngestBatch = match serde_json::from_slice(input) {
        Ok(b) => b,
        Err(e) => return format!("shape {}", shape(&e.to_string())),
    };
    if let Err(e) = batch.validate() {
        return format!("refused {}", shape(&e.to_string()));
    }
    // The retention window (`check_window`: 30 days back by default, an hour ahead), then
    // what the server computes from each sample of a batch inside it (partitions by day,
    // rollups by hour and day, each pod's owner).
    // As of a fixed moment just after the corpus's batches, so they stay inside the window.
    let now = time::macros::datetime!(2026-01-02 00:00:00 UTC);
    let oldest = now - Duration::days(30);
    let in_window = batch
        .samples
        .iter()
        .all(|s| s.start >= oldest && s.end <= now + Duration::hours(1));
    if in_window {
        for sample in &batch.samples {
            let (hour, day) = buckets(sample.start);
            let _ = (
                sample.start.to_offset(time::UtcOffset::UTC).date(),
                hour,
                day,
            );
            let _ = (sample.interval_secs(), sample.pods_energy_joules());
            for pod in &sample.pods {
                let _ = Owner::of(pod.namespace.as_deref(), &pod.labels);
            }
        }
    }
    match serde_json::to_vec(&batch) {
        Ok(json) => {
            let back: IngestBatch = serde_json::from_slice(&json)
                .unwrap_or_else(|e| panic!("a valid batch did not read back: {e}"));
            assert_eq!(back, batch, "a valid batch changed through JSON");
        }
        Err(e) => return format!("valid, not serialisable {}", shape(&e.to_string())),
    }
    format!("valid window={in_window}")
}

/// Splits an input into `n` text sections at `\n---\n`.
fn sections(input: &[u8], n: usize) -> Vec<String> {
    let text = String::from_utf8_lossy(input);
    let mut parts: Vec<String> = text.splitn(n, "\n---\n").map(str::to_owned).collect();
    parts.resize(n, String::new());
    parts
}

/// procfs as the agent reads it. Sections: `/proc/stat`, `/proc/PID/stat`, `/proc/PID/cgroup`,
/// `/proc/meminfo`, a cgroup v2 `cpu.stat`. Each pure parser first, then a procfs tree of
/// those files through `ProcfsReader::snapshot`.
fn procfs(input: &[u8], scratch: &Scratch) -> anyhow::Result<String> {
    let s = sections(input, 5);
    let node = parse_proc_stat(&s[0]);
    let stat = parse_pid_stat(&s[1]);
    let owner = parse_cgroup_file(&s[2]);
    for line in s[2].lines() {
        if let Some(path) = line.splitn(3, ':').nth(2) {
            let _ = parse_cgroup_path(path);
        }
    }
    let usage = parse_cpu_stat_usage_usec(&s[4]);

    let root = scratch.fresh("proc")?;
    std::fs::write(root.join("stat"), &s[0])?;
    std::fs::write(root.join("meminfo"), &s[3])?;
    std::fs::create_dir_all(root.join("42"))?;
    std::fs::write(root.join("42/stat"), &s[1])?;
    std::fs::write(root.join("42/cgroup"), &s[2])?;
    let snapshot = ProcfsReader::new(&root).snapshot();
    Ok(format!(
        "node={} stat={} owner={} usage={} snapshot={}",
        node.is_some(),
        stat.is_some(),
        matches!(owner, canopy_agent::sensors::cgroup::Owner::Container(_)),
        usage.is_some(),
        match snapshot {
            Ok(s) => format!("ok procs={}", s.processes.len()),
            Err(e) => format!(
                "err {}",
                shape(&e.to_string()).rsplit(':').next().unwrap_or("")
            ),
        }
    ))
}

/// sysfs as the agent reads it: powercap zones and cgroup CPU usage. Sections: zones, one a
/// line (`<dir> <name> <max_energy_range_uj> <constraint_0_max_power_uw>`); three readings,
/// one a line (`<dir> <energy_uj>`, or `dt <seconds>` for the interval); a pod's cgroup v2
/// `cpu.stat`, its container's, and a v1 `cpuacct.usage`.
///
/// Zones are discovered, sampled three times (the first is the baseline), and counter deltas
/// checked against their definition; cgroup trees (v2 and v1) are read twice and differenced.
fn sysfs(input: &[u8], scratch: &Scratch) -> anyhow::Result<String> {
    let s = sections(input, 7);
    let root = scratch.fresh("sys")?;
    let powercap = root.join("class/powercap");
    std::fs::create_dir_all(&powercap)?;
    let mut dirs = Vec::new();
    for line in s[0].lines().take(16) {
        let mut f = line.split(' ');
        let (Some(dir), Some(name)) = (f.next(), f.next()) else {
            continue;
        };
        if !safe_name(dir) {
            continue;
        }
        let zone = powercap.join(dir);
        std::fs::create_dir_all(&zone)?;
        std::fs::write(zone.join("name"), format!("{name}\n"))?;
        std::fs::write(zone.join("energy_uj"), "0\n")?;
        if let Some(range) = f.next() {
            std::fs::write(zone.join("max_energy_range_uj"), format!("{range}\n"))?;
        }
        if let Some(power) = f.next() {
            std::fs::write(zone.join("constraint_0_max_power_uw"), format!("{power}\n"))?;
        }
        dirs.push(dir.to_owned());
    }
    let mut outcome = String::new();
    match PowercapSensor::discover(&root) {
        Err(e) => outcome.push_str(&format!("discover err {}", shape(&e.to_string()).len())),
        Ok(mut sensor) => {
            outcome.push_str(&format!("zones={}", sensor.zones().len()));
            let procs = ProcSnapshot::default();
            for reading in &s[1..4] {
                let mut dt = 1.0;
                for line in reading.lines().take(32) {
                    let Some((dir, value)) = line.split_once(' ') else {
                        continue;
                    };
                    if dir == "dt" {
                        dt = value.trim().parse().unwrap_or(1.0);
                    } else if safe_name(dir) && dirs.iter().any(|d| d == dir) {
                        std::fs::write(powercap.join(dir).join("energy_uj"), value)?;
                    }
                }
                match sensor.sample(&procs, dt) {
                    Ok(Some(host)) => {
                        assert!(
                            host.host_energy_joules.is_finite() && host.host_energy_joules >= 0.0,
                            "host energy {} J",
                            host.host_energy_joules
                        );
                        outcome.push_str(" some");
                    }
                    Ok(None) => outcome.push_str(" none"),
                    Err(e) => outcome.push_str(&format!(" err{}", shape(&e.to_string()).len())),
                }
            }
        }
    }
    // Counter deltas against their definition, for the numbers of the readings.
    let numbers: Vec<u64> = s[1..4]
        .iter()
        .flat_map(|r| r.split_whitespace().filter_map(|w| w.parse().ok()))
        .take(6)
        .collect();
    if let [prev, cur, rest @ ..] = numbers.as_slice() {
        let max = rest.first().copied();
        match counter_delta_uj(*prev, *cur, max) {
            Some(d) if cur >= prev => assert_eq!(d, cur - prev),
            Some(d) => {
                let max = max.unwrap_or_default();
                assert!(
                    *prev <= max && d <= max,
                    "wrapped delta {d} over range {max}"
                );
            }
            None => assert!(cur < prev),
        }
    }

    outcome.push_str(&cgroups(&root, &s[4], &s[5], &s[6])?);
    Ok(outcome)
}

fn cgroups(root: &Path, pod: &str, container: &str, v1: &str) -> anyhow::Result<String> {
    const POD: &str = "kubepods-burstable-pod0b5f0a8c_2a43_4c34_9a8e_1b2c3d4e5f60.slice";
    const CONTAINER: &str =
        "cri-containerd-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.scope";
    let v2 = root.join("fs/cgroup2");
    let pod_dir = v2.join("kubepods.slice/kubepods-burstable.slice").join(POD);
    std::fs::create_dir_all(pod_dir.join(CONTAINER))?;
    std::fs::write(v2.join("cgroup.controllers"), "cpu memory\n")?;
    std::fs::write(pod_dir.join("cpu.stat"), pod)?;
    std::fs::write(pod_dir.join(CONTAINER).join("cpu.stat"), container)?;
    let v1_root = root.join("fs/cgroup1/cpu,cpuacct/kubepods/burstable");
    let v1_pod = v1_root.join("pod0b5f0a8c-2a43-4c34-9a8e-1b2c3d4e5f60");
    std::fs::create_dir_all(&v1_pod)?;
    std::fs::write(v1_pod.join("cpuacct.usage"), v1)?;
    let mut out = String::new();
    for mount in [v2, root.join("fs/cgroup1")] {
        let mut reader = CgroupCpuReader::new(&mount);
        let first = reader.snapshot();
        let second = reader.snapshot();
        let deltas: BTreeMap<_, _> = pod_cpu_deltas(&first, &second);
        out.push_str(&format!(
            " cg complete={} pods={} deltas={}",
            second.complete,
            second.pods.len(),
            deltas.len()
        ));
    }
    Ok(out)
}

/// A zone directory name the harness may create (no path separators or dot-dirs).
fn safe_name(dir: &str) -> bool {
    !dir.is_empty()
        && dir.len() < 64
        && !dir.starts_with('.')
        && dir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '-' || c == '_')
}
