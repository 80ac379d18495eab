use super::*;

fn raw() -> RawServiceSpec {
    RawServiceSpec {
        team: "payments".into(),
        name: "checkout".into(),
        environment: "staging".into(),
        image: "ghcr.io/acme/checkout:1.4.2".into(),
        port: 8080,
        size: "M".into(),
        replicas: Some(2),
        env: BTreeMap::from([("LOG_LEVEL".to_owned(), "info".to_owned())]),
        secrets: vec!["DATABASE_PASSWORD".into()],
        route: Some(RawRoute {
            host: "checkout.example.com".into(),
            path: None,
        }),
        health_check: Some("/healthz".into()),
        ..RawServiceSpec::default()
    }
}

type Mutation = Box<dyn Fn(&mut RawServiceSpec)>;

fn fields(errors: SpecErrors) -> Vec<String> {
    errors.0.into_iter().map(|e| e.field).collect()
}

#[test]
fn a_good_spec_validates_and_round_trips() {
    let spec = raw().validate().expect("valid");
    assert_eq!(spec.namespace(), "payments-staging");
    assert_eq!(spec.scaling, Scaling::Fixed { replicas: 2 });
    assert_eq!(spec.route.as_ref().map(|r| r.path.as_str()), Some("/"));
    assert_eq!(spec.to_raw().validate().expect("round trip"), spec);
}

#[test]
fn each_bad_field_is_named() {
    let cases: Vec<(Mutation, &str)> = vec![
        (Box::new(|r| r.team = "Payments".into()), "team"),
        (Box::new(|r| r.name = "a_b".into()), "name"),
        (Box::new(|r| r.environment = "qa".into()), "environment"),
        (Box::new(|r| r.image = "nginx".into()), "image"),
        (Box::new(|r| r.port = 0), "port"),
        (Box::new(|r| r.port = 70000), "port"),
        (Box::new(|r| r.size = "XXL".into()), "size"),
        (Box::new(|r| r.replicas = Some(0)), "replicas"),
        (
            Box::new(|r| {
                r.autoscaling = Some(RawAutoscaling {
                    min: 1,
                    max: 2,
                    target_cpu_percent: 50,
                })
            }),
            "replicas",
        ),
        (
            Box::new(|r| {
                r.replicas = None;
                r.autoscaling = Some(RawAutoscaling {
                    min: 3,
                    max: 2,
                    target_cpu_percent: 50,
                })
            }),
            "autoscaling.max",
        ),
        (
            Box::new(|r| {
                r.replicas = None;
                r.autoscaling = Some(RawAutoscaling {
                    min: 1,
                    max: 2,
                    target_cpu_percent: 0,
                })
            }),
            "autoscaling.target_cpu_percent",
        ),
        (
            Box::new(|r| {
                r.env.insert("1BAD".into(), "x".into());
            }),
            "env.1BAD",
        ),
        (
            Box::new(|r| r.secrets.push("bad-name".into())),
            "secrets[1]",
        ),
        (
            Box::new(|r| r.secrets.push("LOG_LEVEL".into())),
            "secrets[1]",
        ),
        (
            Box::new(|r| {
                r.route = Some(RawRoute {
                    host: "Shop.Example.com".into(),
                    path: None,
                })
            }),
            "route.host",
        ),
        (
            Box::new(|r| {
                r.route = Some(RawRoute {
                    host: "shop.example.com".into(),
                    path: Some("no-slash".into()),
                })
            }),
            "route.path",
        ),
        (
            Box::new(|r| r.health_check = Some("/a b".into())),
            "health_check",
        ),
    ];
    for (mutate, field) in cases {
        let mut spec = raw();
        mutate(&mut spec);
        let errors = spec.validate().expect_err(field);
        assert_eq!(fields(errors), vec![field.to_owned()]);
    }
}

#[test]
fn all_problems_are_reported_together() {
    let mut spec = raw();
    spec.name = "Bad".into();
    spec.port = 0;
    spec.size = "huge".into();
    let errors = spec.validate().expect_err("invalid");
    assert_eq!(fields(errors.clone()), vec!["name", "port", "size"]);
    assert!(errors
        .to_string()
        .contains("size: \"huge\" is not one of S, M, L, XL"));
}

#[test]
fn replicas_default_to_one() {
    let mut spec = raw();
    spec.replicas = None;
    assert_eq!(
        spec.validate().map(|s| s.scaling),
        Ok(Scaling::Fixed { replicas: 1 })
    );
}

#[test]
fn preview_environments_are_pr_and_a_number_and_travel_as_their_name() {
    assert_eq!(Environment::parse("pr-7"), Some(Environment::Preview(7)));
    assert_eq!(
        Environment::parse("pr-999999"),
        Some(Environment::Preview(999_999))
    );
    for bad in [
        "pr-0",
        "pr-007",
        "pr-1000000",
        "pr-",
        "pr-x",
        "PR-7",
        "preview",
    ] {
        assert_eq!(Environment::parse(bad), None, "{bad}");
    }
    assert_eq!(Environment::Preview(12).to_string(), "pr-12");
    let json = serde_json::to_string(&Environment::Preview(12)).expect("json");
    assert_eq!(json, "\"pr-12\"");
    assert_eq!(
        serde_json::to_string(&Environment::Prod).expect("json"),
        "\"prod\""
    );
    let back: Environment = serde_json::from_str(&json).expect("back");
    assert_eq!(back, Environment::Preview(12));
    assert!(serde_json::from_str::<Environment>("\"qa\"").is_err());
}

/// The pattern the API description states accepts exactly what `Environment::parse` accepts.
#[test]
fn the_stated_environment_pattern_agrees_with_parse() {
    let pattern = regex::Regex::new(ENVIRONMENT_PATTERN).expect("pattern");
    for raw in [
        "dev",
        "staging",
        "prod",
        "pr-1",
        "pr-999999",
        "pr-1000000",
        "pr-0",
        "pr-01",
        "pr-",
        "qa",
        "Dev",
        "dev ",
        "pr-12a",
    ] {
        assert_eq!(
            pattern.is_match(raw),
            Environment::parse(raw).is_some(),
            "{raw:?}"
        );
    }
}
