//! Which service a pod's energy belongs to: the labels Canopy sets on the pods it creates.

use std::collections::BTreeMap;

/// The label naming the team that owns a pod (set by Canopy's deploy engine).
pub const TEAM_LABEL: &str = "canopy.dev/team";
/// The label naming the service a pod belongs to.
pub const SERVICE_LABEL: &str = "canopy.dev/service";

/// Who a pod's energy is attributed to. Pods without both labels (not created by Canopy), and
/// pods whose labels name a team that does not own their namespace (`<team>-<environment>`:
/// anyone can put a `canopy.dev/team` label on a pod elsewhere), have empty team and service
/// and are counted under their namespace only: unattributed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    pub namespace: String,
    pub team: String,
    pub service: String,
}

impl Owner {
    pub fn of(namespace: Option<&str>, labels: &BTreeMap<String, String>) -> Self {
        let team = labels.get(TEAM_LABEL).map(|v| v.trim()).unwrap_or("");
        let service = labels.get(SERVICE_LABEL).map(|v| v.trim()).unwrap_or("");
        let namespace_is_the_teams = namespace
            .and_then(|ns| ns.strip_prefix(team))
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|environment| app::api::spec::Environment::parse(environment).is_some());
        let (team, service) = if team.is_empty() || service.is_empty() || !namespace_is_the_teams {
            ("", "")
        } else {
            (team, service)
        };
        Self {
            namespace: namespace.unwrap_or("").to_owned(),
            team: team.to_owned(),
            service: service.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn canopy_pods_map_to_their_service() {
        let owner = Owner::of(
            Some("payments-prod"),
            &labels(&[(TEAM_LABEL, "payments"), (SERVICE_LABEL, "checkout")]),
        );
        assert_eq!(owner.team, "payments");
        assert_eq!(owner.service, "checkout");
        assert_eq!(owner.namespace, "payments-prod");
    }

    #[test]
    fn other_pods_stay_under_their_namespace() {
        let owner = Owner::of(Some("kube-system"), &labels(&[("app", "coredns")]));
        assert_eq!((owner.team.as_str(), owner.service.as_str()), ("", ""));
        assert_eq!(owner.namespace, "kube-system");
        // Half-labelled pods are not guessed at.
        let owner = Owner::of(Some("x"), &labels(&[(TEAM_LABEL, "payments")]));
        assert_eq!(owner.team, "");
    }

    #[test]
    fn labels_count_only_in_the_teams_own_namespaces() {
        let claimed = labels(&[(TEAM_LABEL, "payments"), (SERVICE_LABEL, "checkout")]);
        for namespace in [
            "payments-dev",
            "payments-staging",
            "payments-prod",
            "payments-pr-12",
        ] {
            let owner = Owner::of(Some(namespace), &claimed);
            assert_eq!(owner.team, "payments", "{namespace}");
        }
        // Another team's namespace, a look-alike, no namespace: unattributed.
        for namespace in [
            Some("search-prod"),
            Some("payments-x-prod"),
            Some("payments"),
            Some("pay-prod"),
            None,
        ] {
            let owner = Owner::of(namespace, &claimed);
            assert_eq!(
                (owner.team.as_str(), owner.service.as_str()),
                ("", ""),
                "{namespace:?}"
            );
        }
    }
}
