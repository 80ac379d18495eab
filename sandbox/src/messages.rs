//! What a kubelet and containerd say about simulated containers (pull errors, back-off
//! messages, how an instance ended) and how long things take.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    time::Duration,
};

use k8s_openapi::jiff::Timestamp;

use crate::{logs::termination_message, simulation::Outcome, status::Termination};

/// How an instance of a crashing container ended.
pub(crate) fn termination(
    outcome: Outcome,
    lines: &[String],
    started_at: Timestamp,
    finished_at: Timestamp,
) -> Termination {
    if outcome == Outcome::OomKilled {
        Termination {
            exit_code: 137,
            reason: "OOMKilled",
            message: String::new(),
            started_at,
            finished_at,
        }
    } else {
        Termination {
            exit_code: 1,
            reason: "Error",
            message: termination_message(lines),
            started_at,
            finished_at,
        }
    }
}

pub(crate) fn backoff_message(
    backoff: Duration,
    container: &str,
    pod: &str,
    namespace: &str,
    uid: &str,
) -> String {
    let secs = backoff.as_secs();
    let human = if secs >= 60 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    };
    format!("back-off {human} restarting failed container={container} pod={pod}_{namespace}({uid})")
}

/// The message containerd gives for an image that cannot be pulled.
pub(crate) fn pull_error(image: &str) -> String {
    let host = image
        .split('/')
        .next()
        .filter(|first| first.contains('.') && image.contains('/'));
    match host {
        Some(host) if host.split(':').next().is_some_and(|name| name.ends_with(".invalid")) => {
            let name = host.split(':').next().unwrap_or(host);
            format!("Failed to pull image \"{image}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": failed to do request: Head \"https://{host}/v2/\": dial tcp: lookup {name}: no such host")
        }
        _ => format!("Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"),
    }
}

/// Between 2/3 and 4/3 of `delay`, stable for a pod.
pub(crate) fn jittered(delay: Duration, uid: &str) -> Duration {
    let mut hasher = DefaultHasher::new();
    uid.hash(&mut hasher);
    let fraction = (hasher.finish() % 1000) as f64 / 1000.0;
    delay.mul_f64(2.0 / 3.0 + fraction * 2.0 / 3.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn jitter_stays_within_a_third_of_the_delay() {
        for uid in ["a", "b", "c", "0c6b0e8e-9d1f-4c6e-8f57-2a3f1f1d9c11"] {
            let delay = jittered(Duration::from_millis(1500), uid);
            assert!(
                delay >= Duration::from_millis(1000) && delay <= Duration::from_millis(2000),
                "{delay:?}"
            );
            assert_eq!(delay, jittered(Duration::from_millis(1500), uid));
        }
    }

    #[test]
    fn pull_errors_read_like_containerd() {
        assert!(pull_error("nginx:doesnotexist").ends_with("nginx:doesnotexist: not found"));
        assert!(
            pull_error("registry.invalid/app:1").contains("lookup registry.invalid: no such host")
        );
    }

    #[test]
    fn backoff_messages_name_the_container_and_pod() {
        let message = backoff_message(Duration::from_secs(80), "api", "web-1", "team-dev", "u1");
        assert_eq!(
            message,
            "back-off 1m20s restarting failed container=api pod=web-1_team-dev(u1)"
        );
    }

    #[test]
    fn oom_kills_exit_with_137() {
        let now = Timestamp::UNIX_EPOCH;
        let end = termination(Outcome::OomKilled, &[], now, now);
        assert_eq!((end.exit_code, end.reason), (137, "OOMKilled"));
        let end = termination(
            Outcome::CrashLoop,
            &["a".into(), "b".into(), "fatal".into()],
            now,
            now,
        );
        assert_eq!((end.exit_code, end.message.as_str()), (1, "b\nfatal"));
    }
}
