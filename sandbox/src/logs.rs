//! Simulated container logs: the API server has no kubelet to ask, so it answers an empty body
//! for simulated pods. The simulator writes a few plausible lines per container here instead,
//! and keeps the previous container's lines after a crash, as `kubectl logs --previous` would.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use k8s_openapi::jiff::Timestamp;

use crate::simulation::Outcome;

/// Which container's log: namespace, pod name and container name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogKey {
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

impl LogKey {
    pub fn new(namespace: &str, pod: &str, container: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            container: container.to_owned(),
        }
    }
}

/// At most this many lines are kept per container instance (the oldest go first).
pub const MAX_LINES_PER_INSTANCE: usize = 1000;

/// The lines of one container: the running (or last) instance and the one before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerLogs {
    pub current: Vec<String>,
    pub previous: Option<Vec<String>>,
    /// Counts the instances (restarts) of the container; 0 for the first.
    pub instance: u32,
    /// Lines written by the current instance so far, including any dropped past the cap.
    pub written: u64,
    /// The current instance has exited (a crash, waiting in back-off to restart): it is now
    /// the previous terminated container, as a kubelet's `--previous` sees it.
    pub ended: bool,
}

/// A container instance's log at one moment, for following it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSnapshot {
    pub instance: u32,
    pub written: u64,
    pub lines: Vec<String>,
}

/// A shared, cheaply cloned store of simulated logs.
#[derive(Debug, Clone, Default)]
pub struct LogStore {
    inner: Arc<RwLock<HashMap<LogKey, ContainerLogs>>>,
}

impl LogStore {
    /// The lines of a container (`previous`: of the last terminated instance: the one that
    /// exited while the container waits to restart, else the one before the last restart), or
    /// `None` when the simulator has no such log (unknown pod, container never started, or no
    /// previous instance).
    pub fn lines(&self, key: &LogKey, previous: bool) -> Option<Vec<String>> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let logs = map.get(key)?;
        if previous && logs.ended {
            Some(logs.current.clone())
        } else if previous {
            logs.previous.clone()
        } else {
            Some(logs.current.clone())
        }
    }

    /// The current instance's lines with its identity and line count, to follow it.
    pub fn snapshot(&self, key: &LogKey) -> Option<LogSnapshot> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let logs = map.get(key)?;
        Some(LogSnapshot {
            instance: logs.instance,
            written: logs.written,
            lines: logs.current.clone(),
        })
    }

    /// The log as the API would return it: lines joined, each ending with a newline.
    pub fn text(&self, key: &LogKey, previous: bool) -> Option<String> {
        self.lines(key, previous)
            .map(|lines| lines.iter().map(|line| format!("{line}\n")).collect())
    }

    /// The names of the containers of a pod that have logs, sorted.
    pub fn containers(&self, namespace: &str, pod: &str) -> Vec<String> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = map
            .keys()
            .filter(|key| key.namespace == namespace && key.pod == pod)
            .map(|key| key.container.clone())
            .collect();
        names.sort();
        names
    }

    /// Replaces the current log of a container (a new instance started).
    pub(crate) fn start_instance(&self, key: LogKey, lines: Vec<String>) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let logs = map.entry(key).or_default();
        if !logs.current.is_empty() {
            logs.previous = Some(std::mem::take(&mut logs.current));
            logs.instance += 1;
        }
        logs.written = lines.len() as u64;
        logs.current = lines;
        logs.ended = false;
    }

    /// Marks the current instance as exited (crashed or killed, in back-off until restarted).
    pub(crate) fn end_instance(&self, key: &LogKey) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(logs) = map.get_mut(key) {
            logs.ended = true;
        }
    }

    /// Adds a line to the current instance's log, dropping the oldest past the cap.
    pub(crate) fn append(&self, key: &LogKey, line: String) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(logs) = map.get_mut(key) {
            logs.current.push(line);
            logs.written += 1;
            let excess = logs.current.len().saturating_sub(MAX_LINES_PER_INSTANCE);
            logs.current.drain(..excess);
        }
    }

    /// Sets a container's logs as a whole (used when taking over a pod after a restart).
    pub(crate) fn set(&self, key: LogKey, mut logs: ContainerLogs) {
        logs.written = logs.written.max(logs.current.len() as u64);
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(key, logs);
    }

    /// Whether the store holds anything for this container.
    pub(crate) fn contains(&self, key: &LogKey) -> bool {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.contains_key(key)
    }

    /// Forgets every container of a pod (the pod was deleted).
    pub(crate) fn remove_pod(&self, namespace: &str, pod: &str) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        map.retain(|key, _| !(key.namespace == namespace && key.pod == pod));
    }
}

/// What the log lines of one container instance talk about.
#[derive(Debug, Clone)]
pub struct LogContext<'a> {
    pub container: &'a str,
    pub image: &'a str,
    pub port: Option<i32>,
    pub outcome: Outcome,
    pub started_at: Timestamp,
}

/// The lines a container instance writes before it exits, is killed, or settles down.
/// Empty for containers that never start.
pub fn instance_lines(ctx: &LogContext<'_>) -> Vec<String> {
    if ctx.outcome.is_pull_failure() {
        return Vec::new();
    }
    let port = ctx.port.unwrap_or(8080);
    let mut clock = LogClock::new(ctx.started_at);
    let mut lines = vec![
        clock.line(
            "INFO",
            &format!("starting {} (image {})", ctx.container, ctx.image),
        ),
        clock.line("INFO", "configuration loaded from environment"),
    ];
    match ctx.outcome {
        Outcome::CrashLoop => {
            lines.push(clock.line("INFO", "connecting to database at db:5432"));
            lines.push(clock.line(
                "ERROR",
                "database connection failed: connection refused (db:5432)",
            ));
            lines.push(clock.line(
                "ERROR",
                "fatal: cannot start without a database, exiting with status 1",
            ));
        }
        Outcome::OomKilled => {
            lines.push(clock.line(
                "INFO",
                "warming cache: loading 2.1 GiB of fixtures into memory",
            ));
            lines.push(clock.line("INFO", "cache warm-up 61% done"));
        }
        Outcome::ReadinessFail => {
            lines.push(clock.line("INFO", &format!("listening on 0.0.0.0:{port}")));
            lines.push(clock.line(
                "WARN",
                "dependency check failed: upstream http://payments:8080 unreachable",
            ));
            lines.push(clock.line("WARN", "GET /healthz 503 Service Unavailable (2 ms)"));
        }
        Outcome::Healthy | Outcome::ImagePullBackOff | Outcome::ErrImagePull => {
            lines.push(clock.line("INFO", &format!("listening on 0.0.0.0:{port}")));
            lines.push(clock.line("INFO", "ready to serve requests"));
        }
    }
    lines
}

/// A line a running container writes now and then (its health checks being served), so that
/// following a log shows it alive. `None` for containers that do not run.
pub fn periodic_line(outcome: Outcome, at: Timestamp) -> Option<String> {
    let (level, message) = match outcome {
        Outcome::Healthy => ("INFO", "GET /healthz 200 OK (1 ms)"),
        Outcome::ReadinessFail => ("WARN", "GET /healthz 503 Service Unavailable (2 ms)"),
        _ => return None,
    };
    Some(LogClock::new(at).line(level, message))
}

/// The termination message the kubelet would record for a crashing instance: its last lines.
pub fn termination_message(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(2);
    lines[start..].join("\n")
}

/// Timestamps log lines a few milliseconds apart, from the instance's start.
struct LogClock {
    now: Timestamp,
}

impl LogClock {
    fn new(started_at: Timestamp) -> Self {
        Self { now: started_at }
    }

    fn line(&mut self, level: &str, message: &str) -> String {
        let line = format!(
            "{} {level:<5} {message}",
            self.now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        );
        self.now = self
            .now
            .checked_add(k8s_openapi::jiff::SignedDuration::from_millis(37))
            .unwrap_or(self.now);
        line
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn ctx(outcome: Outcome) -> LogContext<'static> {
        LogContext {
            container: "api",
            image: "acme/api:1",
            port: Some(3000),
            outcome,
            started_at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn healthy_containers_say_where_they_listen() {
        let lines = instance_lines(&ctx(Outcome::Healthy));
        assert!(
            lines[0].starts_with("1970-01-01T00:00:00.000Z INFO  starting api"),
            "{lines:?}"
        );
        assert!(lines
            .iter()
            .any(|line| line.contains("listening on 0.0.0.0:3000")));
    }

    #[test]
    fn crash_loops_end_with_the_fatal_error() {
        let lines = instance_lines(&ctx(Outcome::CrashLoop));
        let message = termination_message(&lines);
        assert!(message.ends_with("exiting with status 1"), "{message}");
        assert_eq!(message.lines().count(), 2);
    }

    #[test]
    fn appending_keeps_at_most_the_cap() {
        let store = LogStore::default();
        let key = LogKey::new("ns", "pod", "api");
        store.start_instance(key.clone(), vec!["start".into()]);
        for i in 0..MAX_LINES_PER_INSTANCE + 5 {
            store.append(&key, format!("line {i}"));
        }
        let snapshot = store.snapshot(&key).unwrap();
        assert_eq!(snapshot.lines.len(), MAX_LINES_PER_INSTANCE);
        assert_eq!(snapshot.written, MAX_LINES_PER_INSTANCE as u64 + 6);
        assert_eq!(
            snapshot.lines.last().unwrap(),
            &format!("line {}", MAX_LINES_PER_INSTANCE + 4)
        );
    }

    #[test]
    fn only_running_containers_write_periodic_lines() {
        let line = periodic_line(Outcome::Healthy, Timestamp::UNIX_EPOCH).unwrap();
        assert!(line.ends_with("GET /healthz 200 OK (1 ms)"), "{line}");
        assert!(periodic_line(Outcome::ImagePullBackOff, Timestamp::UNIX_EPOCH).is_none());
    }

    #[test]
    fn pull_failures_have_no_logs() {
        assert!(instance_lines(&ctx(Outcome::ImagePullBackOff)).is_empty());
    }

    #[test]
    fn a_restart_keeps_the_previous_instance() {
        let store = LogStore::default();
        let key = LogKey::new("ns", "pod", "api");
        assert_eq!(store.lines(&key, false), None);
        store.start_instance(key.clone(), vec!["first".into()]);
        assert_eq!(store.lines(&key, true), None);
        store.start_instance(key.clone(), vec!["second".into()]);
        assert_eq!(store.text(&key, false).as_deref(), Some("second\n"));
        assert_eq!(store.text(&key, true).as_deref(), Some("first\n"));
        assert_eq!(store.containers("ns", "pod"), ["api"]);
        let snapshot = store.snapshot(&key).unwrap();
        assert_eq!((snapshot.instance, snapshot.written), (1, 1));
        store.append(&key, "third".into());
        assert_eq!(store.snapshot(&key).unwrap().written, 2);
        store.remove_pod("ns", "pod");
        assert!(!store.contains(&key));
    }

    #[test]
    fn an_exited_instance_is_the_previous_one_until_the_restart() {
        let store = LogStore::default();
        let key = LogKey::new("ns", "pod", "api");
        store.start_instance(key.clone(), vec!["first".into(), "fatal".into()]);
        assert_eq!(store.lines(&key, true), None);
        store.end_instance(&key);
        assert_eq!(store.text(&key, true).as_deref(), Some("first\nfatal\n"));
        store.start_instance(key.clone(), vec!["second".into()]);
        assert_eq!(store.text(&key, true).as_deref(), Some("first\nfatal\n"));
        assert_eq!(store.text(&key, false).as_deref(), Some("second\n"));
        store.end_instance(&key);
        assert_eq!(store.text(&key, true).as_deref(), Some("second\n"));
    }
}
