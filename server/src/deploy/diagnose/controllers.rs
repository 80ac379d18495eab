//! Problems the controllers report: a ReplicaSet that may not create pods (quota, other
//! refusals) and a Deployment past its progress deadline.

use super::{with_words, Diagnosis, Evidence, ProblemKind};
use crate::deploy::kube_words::PROGRESS_DEADLINE_EXCEEDED;

/// Pods Kubernetes refused to create: the quota is used up, or something else.
pub(super) fn replica_problems(evidence: &Evidence) -> Vec<Diagnosis> {
    let deployment_failure = evidence
        .deployment
        .status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        .and_then(|c| c.message.clone());
    let newest = evidence.newest_replica_set();
    let rs_failure = newest
        .and_then(|rs| rs.status.as_ref())
        .into_iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        .and_then(|c| c.message.clone());
    let rs_event = newest
        .and_then(|rs| rs.metadata.name.as_deref())
        .and_then(|name| {
            evidence
                .events_about("ReplicaSet", name)
                .into_iter()
                .rev()
                .find(|e| e.reason.as_deref() == Some("FailedCreate"))
                .and_then(|e| e.message.clone())
        });
    let Some(message) = rs_failure.or(deployment_failure).or(rs_event) else {
        return Vec::new();
    };
    let namespace = evidence
        .deployment
        .metadata
        .namespace
        .clone()
        .unwrap_or_default();
    vec![quota_or_refusal_problem(&namespace, &message)]
}

pub(super) fn quota_or_refusal_problem(namespace: &str, message: &str) -> Diagnosis {
    if message.contains("exceeded quota") {
        Diagnosis {
            kind: ProblemKind::QuotaExceeded,
            title: "The team's quota is used up".to_owned(),
            detail: with_words(
                &format!(
                    "Kubernetes refuses to start more pods in {namespace}: together they would \
                     ask for more CPU, memory or pods than the team's quota allows."
                ),
                message,
            ),
            hint: format!(
                "Lower the size or replica count of this service, or of another one in \
                 {namespace}, or ask the platform team for a bigger quota."
            ),
        }
    } else {
        Diagnosis {
            kind: ProblemKind::PodsRefused,
            title: "Kubernetes refuses to create the pods".to_owned(),
            detail: with_words(&format!("Creating pods in {namespace} fails."), message),
            hint: "Kubernetes' words above say which rule refused them; ask the platform team \
                   if it is not something the service settings can change."
                .to_owned(),
        }
    }
}

/// The rollout passed its progress deadline; `explained` when other problems say why.
pub(super) fn deadline_problem(evidence: &Evidence, explained: bool) -> Option<Diagnosis> {
    let condition = evidence
        .deployment
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some(PROGRESS_DEADLINE_EXCEEDED)
        })?;
    let deadline = evidence
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    let hint = if explained {
        "Fix the problem shown above and deploy again, or roll back to the last version that \
         worked. Pods of the previous version, if any, keep serving meanwhile."
    } else {
        "Look at the pods' events and logs for why they do not become ready, then deploy \
         again or roll back. Pods of the previous version, if any, keep serving meanwhile."
    };
    Some(Diagnosis {
        kind: ProblemKind::ProgressDeadline,
        title: "The rollout timed out".to_owned(),
        detail: with_words(
            &format!(
                "The new version made no progress for {deadline} seconds, so Kubernetes stopped \
                 waiting for it."
            ),
            condition.message.as_deref().unwrap_or_default(),
        ),
        hint: hint.to_owned(),
    })
}
