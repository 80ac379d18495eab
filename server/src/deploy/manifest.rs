//! The `canopy.yaml` file: a service spec as YAML (format in docs/CANOPY_YAML.md).

use app::api::spec::{RawServiceSpec, ServiceSpec, SpecError, SpecErrors};

/// Parses and validates a `canopy.yaml` document. Unknown fields and type errors name the
/// field and where it is; validation lists every bad field.
pub fn parse(yaml: &str) -> Result<ServiceSpec, SpecErrors> {
    let raw: RawServiceSpec = serde_norway::from_str(yaml).map_err(|error| {
        let message = error.to_string();
        let field = message
            .split('`')
            .nth(1)
            .filter(|_| {
                message.starts_with("unknown field") || message.starts_with("missing field")
            })
            .unwrap_or("canopy.yaml")
            .to_owned();
        SpecErrors(vec![SpecError { field, message }])
    })?;
    raw.validate()
}

/// Writes a spec as a `canopy.yaml` document.
pub fn to_yaml(spec: &ServiceSpec) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(&spec.to_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
team: payments
name: checkout
environment: staging
image: ghcr.io/acme/checkout:1.4.2
port: 8080
size: M
autoscaling:
  min: 2
  max: 6
  target_cpu_percent: 70
env:
  LOG_LEVEL: info
secrets: [DATABASE_PASSWORD]
route:
  host: checkout.example.com
  path: /
health_check: /healthz
"#;

    #[test]
    fn parses_the_documented_example_and_round_trips() {
        let spec = parse(EXAMPLE).expect("valid example");
        assert_eq!(spec.namespace(), "payments-staging");
        let yaml = to_yaml(&spec).expect("yaml");
        assert_eq!(parse(&yaml).expect("round trip"), spec);
    }

    #[test]
    fn unknown_fields_are_named_with_what_is_allowed() {
        let errors = parse(&format!("{EXAMPLE}replica: 3\n")).expect_err("unknown field");
        assert_eq!(errors.0[0].field, "replica");
        assert!(
            errors.0[0].message.contains("expected one of"),
            "{}",
            errors.0[0].message
        );
    }

    #[test]
    fn wrong_types_and_missing_fields_say_where() {
        let errors =
            parse("team: payments\nname: web\nenvironment: dev\nimage: a:1\nport: eighty\n")
                .expect_err("bad port");
        assert!(
            errors.0[0].message.contains("port"),
            "{}",
            errors.0[0].message
        );
        let errors = parse("team: payments\n").expect_err("missing");
        assert_eq!(errors.0[0].field, "name");
    }

    #[test]
    fn invalid_values_are_listed_by_field() {
        let errors = parse(
            &EXAMPLE
                .replace("port: 8080", "port: 0")
                .replace("size: M", "size: XXL"),
        )
        .expect_err("invalid");
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["port", "size"]);
    }
}
