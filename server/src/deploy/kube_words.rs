//! Kubernetes' own words that Canopy reads from objects (a leaf: the rollout judgement and the
//! diagnosis both read them, and neither depends on the other for them).

/// The annotation the Deployment controller puts on a Deployment and its ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The Progressing condition's reason once the progress deadline has passed.
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
