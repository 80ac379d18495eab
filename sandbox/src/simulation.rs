//! The failure-simulation rules: which outcome a simulated container gets, chosen by a pod
//! annotation or by the container's image.
//!
//! Rules, first match wins, per container:
//! 1. The pod annotation `canopy.dev/simulate: <outcome>` applies to every container of the pod
//!    (set it on a Deployment's pod template). An unknown value is ignored with a warning.
//! 2. The image tag `doesnotexist` (`nginx:doesnotexist`) gives `image-pull-backoff`.
//! 3. An image whose registry host ends in `.invalid` (`registry.invalid/app:1`) gives
//!    `err-image-pull` (the registry cannot be reached).
//! 4. An image tag that is an outcome's name (`app:crash-loop`, `app:oom-killed`) gives it.
//! 5. Otherwise the container starts and becomes ready.

use std::fmt;

use k8s_openapi::api::core::v1::Pod;

/// The pod annotation that selects a simulated outcome for all containers of a pod.
pub const SIMULATE_ANNOTATION: &str = "canopy.dev/simulate";

/// The image tag that simulates an image that does not exist.
pub const MISSING_IMAGE_TAG: &str = "doesnotexist";

/// What happens to a simulated container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Starts, runs and is ready.
    Healthy,
    /// The image cannot be pulled; the kubelet backs off (`ImagePullBackOff`, phase Pending).
    ImagePullBackOff,
    /// The image pull fails (`ErrImagePull`, phase Pending).
    ErrImagePull,
    /// Starts, exits with code 1 soon after, and is restarted with back-off (`CrashLoopBackOff`,
    /// `lastState.terminated` with the exit code and the last log lines, `restartCount` rising).
    CrashLoop,
    /// Killed for exceeding its memory limit (`lastState.terminated.reason = OOMKilled`, exit code
    /// 137), then restarted with back-off like a crash loop.
    OomKilled,
    /// Runs, but its readiness probe fails: phase Running, not Ready.
    ReadinessFail,
}

impl Outcome {
    /// Every outcome, healthy first.
    pub const ALL: [Outcome; 6] = [
        Outcome::Healthy,
        Outcome::ImagePullBackOff,
        Outcome::ErrImagePull,
        Outcome::CrashLoop,
        Outcome::OomKilled,
        Outcome::ReadinessFail,
    ];

    /// The name used in the annotation and in image tags.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Healthy => "healthy",
            Outcome::ImagePullBackOff => "image-pull-backoff",
            Outcome::ErrImagePull => "err-image-pull",
            Outcome::CrashLoop => "crash-loop",
            Outcome::OomKilled => "oom-killed",
            Outcome::ReadinessFail => "readiness-fail",
        }
    }

    /// Parses an outcome name; `None` for anything else.
    pub fn parse(value: &str) -> Option<Outcome> {
        let value = value.trim();
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == value)
    }

    /// True when the container never starts because its image cannot be pulled.
    pub fn is_pull_failure(self) -> bool {
        matches!(self, Outcome::ImagePullBackOff | Outcome::ErrImagePull)
    }

    /// True when the container keeps exiting and being restarted.
    pub fn is_restarting(self) -> bool {
        matches!(self, Outcome::CrashLoop | Outcome::OomKilled)
    }

    /// The outcome for a container with this image, when the pod has no annotation.
    pub fn for_image(image: &str) -> Outcome {
        let reference = ImageParts::parse(image);
        if reference.tag == Some(MISSING_IMAGE_TAG) {
            Outcome::ImagePullBackOff
        } else if reference
            .host
            .is_some_and(|host| host.ends_with(".invalid"))
        {
            Outcome::ErrImagePull
        } else {
            reference
                .tag
                .and_then(Outcome::parse)
                .unwrap_or(Outcome::Healthy)
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of each (non-init) container of a pod, in spec order, and the annotation value
/// that was not understood, if any.
pub fn outcomes_for_pod(pod: &Pod) -> (Vec<(String, String, Outcome)>, Option<String>) {
    let annotation = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(SIMULATE_ANNOTATION));
    let forced = annotation.and_then(|value| Outcome::parse(value));
    let unknown = annotation.filter(|_| forced.is_none()).cloned();
    let containers = pod.spec.iter().flat_map(|spec| spec.containers.iter());
    let outcomes = containers
        .map(|container| {
            let image = container.image.clone().unwrap_or_default();
            let outcome = forced.unwrap_or_else(|| Outcome::for_image(&image));
            (container.name.clone(), image, outcome)
        })
        .collect();
    (outcomes, unknown)
}

/// The parts of an image reference the rules look at.
#[derive(Debug, PartialEq, Eq)]
struct ImageParts<'a> {
    /// The registry host, when the first path component looks like one (has `.` or `:`, or is
    /// `localhost`).
    host: Option<&'a str>,
    tag: Option<&'a str>,
}

impl<'a> ImageParts<'a> {
    fn parse(image: &'a str) -> Self {
        let without_digest = image.split('@').next().unwrap_or(image);
        let (first, rest) = without_digest
            .split_once('/')
            .unwrap_or(("", without_digest));
        let host = (first.contains('.') || first.contains(':') || first == "localhost")
            .then_some(first)
            .map(|host| host.split(':').next().unwrap_or(host));
        let last_component = rest.rsplit('/').next().unwrap_or(rest);
        let tag = last_component.split_once(':').map(|(_, tag)| tag);
        ImageParts { host, tag }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    #[test]
    fn every_outcome_round_trips_through_its_name() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("crashloop"), None);
    }

    #[test]
    fn image_rules() {
        let cases = [
            ("nginx:1.25", Outcome::Healthy),
            ("nginx", Outcome::Healthy),
            ("nginx:doesnotexist", Outcome::ImagePullBackOff),
            ("ghcr.io/acme/api:doesnotexist", Outcome::ImagePullBackOff),
            ("registry.invalid/acme/api:1.0", Outcome::ErrImagePull),
            ("registry.invalid:5000/api", Outcome::ErrImagePull),
            ("acme/api:crash-loop", Outcome::CrashLoop),
            ("localhost:5000/api:oom-killed", Outcome::OomKilled),
            ("api:readiness-fail", Outcome::ReadinessFail),
            ("api:err-image-pull", Outcome::ErrImagePull),
            ("localhost:5000/api", Outcome::Healthy),
            ("api@sha256:0123", Outcome::Healthy),
            ("doesnotexist/api:1", Outcome::Healthy),
        ];
        for (image, expected) in cases {
            assert_eq!(Outcome::for_image(image), expected, "{image}");
        }
    }

    fn pod(annotation: Option<&str>, images: &[&str]) -> Pod {
        let mut pod = Pod::default();
        if let Some(value) = annotation {
            pod.metadata.annotations =
                Some([(SIMULATE_ANNOTATION.to_owned(), value.to_owned())].into());
        }
        pod.spec = Some(PodSpec {
            containers: images
                .iter()
                .enumerate()
                .map(|(i, image)| Container {
                    name: format!("c{i}"),
                    image: Some((*image).to_owned()),
                    ..Container::default()
                })
                .collect(),
            ..PodSpec::default()
        });
        pod
    }

    #[test]
    fn the_annotation_wins_over_the_image_for_every_container() {
        let (outcomes, unknown) =
            outcomes_for_pod(&pod(Some("crash-loop"), &["a:1", "b:doesnotexist"]));
        assert_eq!(unknown, None);
        let kinds: Vec<_> = outcomes.iter().map(|(_, _, outcome)| *outcome).collect();
        assert_eq!(kinds, [Outcome::CrashLoop, Outcome::CrashLoop]);
    }

    #[test]
    fn without_annotation_each_container_follows_its_image() {
        let (outcomes, _) = outcomes_for_pod(&pod(None, &["a:1", "b:doesnotexist"]));
        assert_eq!(outcomes[0], ("c0".into(), "a:1".into(), Outcome::Healthy));
        assert_eq!(outcomes[1].2, Outcome::ImagePullBackOff);
    }

    #[test]
    fn an_unknown_annotation_is_reported_and_ignored() {
        let (outcomes, unknown) = outcomes_for_pod(&pod(Some("explode"), &["a:1"]));
        assert_eq!(unknown.as_deref(), Some("explode"));
        assert_eq!(outcomes[0].2, Outcome::Healthy);
    }
}
