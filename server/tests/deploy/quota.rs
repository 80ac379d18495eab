//! Per-team quotas: stored in Postgres, rendered into every deploy of the team, and applied
//! at once to the team's existing namespaces when changed.

use app::api::{deploys::DeployStatus, TeamName};
use canopy_server::deploy::{
    quota::{QuotaChange, QuotaSource},
    records::DeployRecords,
};
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::Api;

use crate::{
    app_support::fresh_database,
    resume::{canopy, finished, pool_for, request},
    support::{simulator_logs, wait_until, with_team},
};

fn hard(quota: &ResourceQuota, key: &str) -> String {
    quota
        .spec
        .as_ref()
        .and_then(|s| s.hard.as_ref())
        .and_then(|h| h.get(key))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_teams_own_quota_is_applied_at_once_and_kept_by_later_deploys() {
    simulator_logs();
    with_team("quota", |team| async move {
        let (_db, options) = fresh_database().await;
        let service = canopy(options.clone()).await;
        let quota_admin = canopy_server::startup::quota_admin(
            pool_for(options.clone()).await,
            Some(team.client.clone()),
        );
        let records = DeployRecords::new(pool_for(options).await);
        let name = TeamName::parse(&team.team).unwrap();
        let quotas: Api<ResourceQuota> = team.api();

        // Before any quota of its own, the team gets the default.
        let first = service.deploy(request(&team, "web")).await.unwrap();
        assert_eq!(
            finished(&records, first.id).await.status,
            DeployStatus::Succeeded
        );
        let default = quotas.get("canopy-team-quota").await.unwrap();
        assert_eq!(hard(&default, "requests.cpu"), "8");
        assert_eq!(
            quota_admin.team_quota(&name).await.unwrap().1,
            QuotaSource::Default
        );

        // Changing it reaches the existing namespace without a deploy.
        let update = quota_admin
            .set_team_quota(
                &name,
                &QuotaChange {
                    requests_cpu: Some("2".to_owned()),
                    pods: Some(10),
                    ..QuotaChange::default()
                },
                "quota-test",
            )
            .await
            .unwrap();
        assert_eq!(update.applied_to, [team.namespace()]);
        assert_eq!(update.source, QuotaSource::Team);
        assert_eq!(update.quota.requests_cpu, "2");
        assert_eq!(
            update.quota.limits_cpu, "32",
            "fields left out keep their value"
        );
        let changed = quotas.get("canopy-team-quota").await.unwrap();
        assert_eq!(hard(&changed, "requests.cpu"), "2");
        assert_eq!(hard(&changed, "pods"), "10");
        assert_eq!(hard(&changed, "limits.memory"), "32Gi");

        // A later deploy renders the team's quota, not the default.
        let second = service.deploy(request(&team, "api")).await.unwrap();
        assert_eq!(
            finished(&records, second.id).await.status,
            DeployStatus::Succeeded
        );
        let kept = quotas.get("canopy-team-quota").await.unwrap();
        assert_eq!(hard(&kept, "requests.cpu"), "2");

        // Going below what the running pods use is allowed, with a plain warning: 4 size-S
        // pods request 400m, the quota controller records that first.
        wait_until(
            &quotas,
            "canopy-team-quota",
            "the quota controller records 400m of CPU requests",
            |q: Option<&ResourceQuota>| {
                q.and_then(|q| q.status.as_ref())
                    .and_then(|s| s.used.as_ref())
                    .and_then(|u| u.get("requests.cpu"))
                    .is_some_and(|cpu| cpu.0 == "400m")
            },
        )
        .await;
        let tight = quota_admin
            .set_team_quota(
                &name,
                &QuotaChange {
                    requests_cpu: Some("300m".to_owned()),
                    ..QuotaChange::default()
                },
                "quota-test",
            )
            .await
            .unwrap();
        assert_eq!(tight.warnings.len(), 1, "{:?}", tight.warnings);
        assert!(
            tight.warnings[0].contains("CPU requests: 400m in use, above the new 300m"),
            "{:?}",
            tight.warnings
        );

        // Back to the default.
        let reset = quota_admin.reset_team_quota(&name).await.unwrap();
        assert_eq!(reset.source, QuotaSource::Default);
        assert_eq!(reset.quota.requests_cpu, "8");
        let restored = quotas.get("canopy-team-quota").await.unwrap();
        assert_eq!(hard(&restored, "requests.cpu"), "8");
        assert_eq!(hard(&restored, "pods"), "100");
    })
    .await;
}

#[tokio::test]
async fn a_quota_for_a_team_without_namespaces_is_stored_for_its_first_deploy() {
    simulator_logs();
    with_team("quota-new", |team| async move {
        let (_db, options) = fresh_database().await;
        let service = canopy(options.clone()).await;
        let quota_admin = canopy_server::startup::quota_admin(
            pool_for(options.clone()).await,
            Some(team.client.clone()),
        );
        let records = DeployRecords::new(pool_for(options).await);
        let name = TeamName::parse(&team.team).unwrap();
        let update = quota_admin
            .set_team_quota(
                &name,
                &QuotaChange {
                    requests_memory: Some("4Gi".to_owned()),
                    limits_memory: Some("8Gi".to_owned()),
                    ..QuotaChange::default()
                },
                "quota-test",
            )
            .await
            .unwrap();
        assert!(update.applied_to.is_empty(), "{update:?}");
        let deploy = service.deploy(request(&team, "web")).await.unwrap();
        assert_eq!(
            finished(&records, deploy.id).await.status,
            DeployStatus::Succeeded
        );
        let quota = team
            .api::<ResourceQuota>()
            .get("canopy-team-quota")
            .await
            .unwrap();
        assert_eq!(hard(&quota, "requests.memory"), "4Gi");
        assert_eq!(hard(&quota, "limits.memory"), "8Gi");
    })
    .await;
}
