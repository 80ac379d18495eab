use std::collections::BTreeMap;

use app::api::spec::{RawAutoscaling, RawRoute, RawServiceSpec, ServiceSpec};

use super::*;

fn spec(mutate: impl FnOnce(&mut RawServiceSpec)) -> ServiceSpec {
    let mut raw = RawServiceSpec {
        team: "payments".into(),
        name: "checkout".into(),
        environment: "prod".into(),
        image: "ghcr.io/acme/checkout:1.4.2".into(),
        port: 8080,
        size: "M".into(),
        replicas: Some(3),
        env: BTreeMap::from([("LOG_LEVEL".to_owned(), "info".to_owned())]),
        secrets: vec!["DATABASE_PASSWORD".into()],
        route: Some(RawRoute {
            host: "checkout.example.com".into(),
            path: Some("/api".into()),
        }),
        health_check: Some("/healthz".into()),
        ..RawServiceSpec::default()
    };
    mutate(&mut raw);
    raw.validate().expect("valid spec")
}

fn secrets() -> BTreeMap<String, String> {
    BTreeMap::from([("DATABASE_PASSWORD".to_owned(), "s3cret".to_owned())])
}

#[test]
fn full_service_snapshot() {
    let rendered = render(
        &spec(|_| {}),
        7,
        &secrets(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    insta::assert_json_snapshot!("deployment", rendered.deployment);
    insta::assert_json_snapshot!("service", rendered.service);
    insta::assert_json_snapshot!("ingress", rendered.ingress);
    insta::assert_json_snapshot!("network_policy", rendered.network_policy);
    insta::assert_json_snapshot!("disruption_budget", rendered.disruption_budget);
    insta::assert_json_snapshot!(
        "namespace",
        (rendered.namespace, rendered.quota, rendered.limit_range)
    );
    assert!(rendered.skipped.is_empty());
}

#[test]
fn pods_are_hardened() {
    let rendered = render(
        &spec(|_| {}),
        1,
        &secrets(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    let pod = rendered
        .deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    assert_eq!(pod.automount_service_account_token, Some(false));
    let psc = pod.security_context.expect("pod security context");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(
        psc.seccomp_profile.map(|p| p.type_).as_deref(),
        Some("RuntimeDefault")
    );
    let container = &pod.containers[0];
    let sc = container
        .security_context
        .clone()
        .expect("container security context");
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.and_then(|c| c.drop),
        Some(vec!["ALL".to_owned()])
    );
    assert_eq!(
        container
            .volume_mounts
            .as_ref()
            .map(|m| m[0].mount_path.as_str()),
        Some("/tmp")
    );
    assert!(pod
        .volumes
        .as_ref()
        .is_some_and(|v| v[0].empty_dir.is_some()));
}

#[test]
fn secret_values_only_reach_the_secret() {
    let spec = spec(|_| {});
    let rendered = render(
        &spec,
        1,
        &secrets(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    let deployment = serde_json::to_string(&rendered.deployment).expect("json");
    assert!(!deployment.contains("s3cret"));
    assert!(deployment.contains("secretKeyRef"));
    let secret = rendered
        .secret
        .expect("secret rendered when values are given");
    assert_eq!(
        secret
            .string_data
            .and_then(|d| d.get("DATABASE_PASSWORD").cloned())
            .as_deref(),
        Some("s3cret")
    );
    // Without values (a redeploy), the Secret is left alone.
    let again = render(
        &spec,
        2,
        &BTreeMap::new(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    assert!(again.secret.is_none());
}

#[test]
fn probes_use_tcp_without_a_health_path() {
    let rendered = render(
        &spec(|r| r.health_check = None),
        1,
        &BTreeMap::new(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    let container = rendered
        .deployment
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers[0].clone())
        .expect("container");
    let readiness = container.readiness_probe.expect("readiness");
    assert!(readiness.http_get.is_none());
    assert!(readiness.tcp_socket.is_some());
}

#[test]
fn autoscaling_renders_an_hpa_and_leaves_replicas_to_it() {
    let auto = spec(|r| {
        r.replicas = None;
        r.autoscaling = Some(RawAutoscaling {
            min: 2,
            max: 6,
            target_cpu_percent: 70,
        });
    });
    let rendered = render(
        &auto,
        1,
        &BTreeMap::new(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    insta::assert_json_snapshot!("autoscaler", rendered.autoscaler);
    assert_eq!(rendered.deployment.spec.and_then(|s| s.replicas), None);
    assert!(rendered.disruption_budget.is_some());
}

#[test]
fn an_old_cluster_skips_optional_kinds_with_reasons() {
    let auto = spec(|r| {
        r.replicas = None;
        r.autoscaling = Some(RawAutoscaling {
            min: 2,
            max: 6,
            target_cpu_percent: 70,
        });
    });
    let old = Capabilities {
        autoscaling_v2: false,
        policy_v1: false,
    };
    let rendered = render(&auto, 1, &BTreeMap::new(), old, &RenderSettings::default());
    assert!(rendered.autoscaler.is_none() && rendered.disruption_budget.is_none());
    assert_eq!(
        rendered.deployment.spec.and_then(|s| s.replicas),
        Some(2),
        "falls back to min replicas"
    );
    let kinds: Vec<_> = rendered.skipped.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec!["HorizontalPodAutoscaler", "PodDisruptionBudget"]
    );
    assert!(rendered.skipped[0].reason.contains("autoscaling/v2"));
}

#[test]
fn single_replica_gets_no_disruption_budget() {
    let rendered = render(
        &spec(|r| r.replicas = Some(1)),
        1,
        &BTreeMap::new(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    assert!(rendered.disruption_budget.is_none());
    assert!(rendered.skipped.is_empty());
}

#[test]
fn every_object_carries_the_ownership_labels() {
    let spec = spec(|_| {});
    let rendered = render(
        &spec,
        3,
        &secrets(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    let selector = ownership_selector(&spec);
    let metas = [
        rendered.deployment.metadata,
        rendered.service.metadata,
        rendered.service_account.metadata,
        rendered.network_policy.metadata,
        rendered.ingress.expect("ingress").metadata,
        rendered.disruption_budget.expect("pdb").metadata,
        rendered.secret.expect("secret").metadata,
    ];
    for meta in metas {
        let labels = meta.labels.expect("labels");
        for pair in selector.split(',') {
            let (k, v) = pair.split_once('=').expect("k=v");
            assert_eq!(
                labels.get(k).map(String::as_str),
                Some(v),
                "{:?} lacks {k}",
                meta.name
            );
        }
        assert_eq!(
            meta.annotations
                .and_then(|a| a.get(ANNOTATION_REVISION).cloned())
                .as_deref(),
            Some("3")
        );
    }
}

#[test]
fn rendering_is_deterministic() {
    let spec = spec(|_| {});
    let a = render(
        &spec,
        4,
        &secrets(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    let b = render(
        &spec,
        4,
        &secrets(),
        Capabilities::ALL,
        &RenderSettings::default(),
    );
    assert_eq!(
        serde_json::to_value(a.deployment).ok(),
        serde_json::to_value(b.deployment).ok()
    );
}

/// Label values the API server accepts: at most 63 of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
fn is_valid_label_value(value: &str) -> bool {
    value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

#[test]
fn the_instance_label_fits_for_the_longest_names_and_stays_as_it_was_for_short_ones() {
    assert_eq!(super::instance_label("web", "staging"), "web-staging");
    let longest = "a".repeat(63);
    for environment in ["dev", "staging", "prod"] {
        let value = super::instance_label(&longest, environment);
        assert!(
            is_valid_label_value(&value),
            "{value} ({} chars)",
            value.len()
        );
        assert!(value.ends_with(&format!("-{environment}")), "{value}");
    }
    // Two long names that share their first 50 characters still get different values.
    let (one, two) = (
        format!("{}-one", "b".repeat(56)),
        format!("{}-two", "b".repeat(56)),
    );
    assert_ne!(
        super::instance_label(&one, "prod"),
        super::instance_label(&two, "prod")
    );
}

#[test]
fn image_tags_become_valid_version_labels_or_none() {
    assert_eq!(super::label_value("1.4.2").as_deref(), Some("1.4.2"));
    assert_eq!(super::label_value("1.0-").as_deref(), Some("1.0"));
    assert_eq!(super::label_value("_build.").as_deref(), Some("build"));
    assert_eq!(super::label_value("---").as_deref(), None);
    let long = format!("v{}-", "1".repeat(70));
    let value = super::label_value(&long).expect("a value");
    assert!(is_valid_label_value(&value), "{value}");
    for tag in ["1.0-", "v2_", "_x.", "a.b-c_d"] {
        if let Some(value) = super::label_value(tag) {
            assert!(is_valid_label_value(&value), "{tag} -> {value}");
        }
    }
}
