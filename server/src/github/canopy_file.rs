//! A repository's `canopy.yaml` read for a deploy button or a push: parsed with the same rules
//! as the portal's form (`app::api::spec`), and every problem tied to its YAML line so the page
//! can say "line 7, port: ...".

use app::api::{
    deploy_fns::DeployForm,
    github::FileProblem,
    spec::{RawServiceSpec, ServiceSpec},
};

/// The file as far as it could be read: the raw spec (when the YAML had the right shape) and
/// every problem.
#[derive(Debug, Clone)]
pub struct CanopyFile {
    pub raw: Option<RawServiceSpec>,
    pub problems: Vec<FileProblem>,
}

impl CanopyFile {
    /// Reads `yaml`. `defaults` fill `team` and `environment` when the file leaves them out (a
    /// deploy button lets the person choose them).
    pub fn parse(yaml: &str, default_team: &str, default_environment: &str) -> Self {
        let mut value: serde_norway::Value = match serde_norway::from_str(yaml) {
            Ok(value) => value,
            Err(error) => {
                return Self {
                    raw: None,
                    problems: vec![FileProblem {
                        field: "canopy.yaml".to_owned(),
                        line: error.location().map(|l| l.line() as u32),
                        message: format!("is not valid YAML: {error}"),
                    }],
                };
            }
        };
        let Some(map) = value.as_mapping_mut() else {
            return Self {
                raw: None,
                problems: vec![FileProblem {
                    field: "canopy.yaml".to_owned(),
                    line: Some(1),
                    message: "must be a mapping of fields (team, name, image, port, ...)"
                        .to_owned(),
                }],
            };
        };
        for (key, default) in [("team", default_team), ("environment", default_environment)] {
            if !map.contains_key(key) && !default.is_empty() {
                map.insert(key.into(), default.into());
            }
        }
        match serde_norway::from_value::<RawServiceSpec>(value) {
            Ok(raw) => {
                let problems = match raw.validate() {
                    Ok(_) => Vec::new(),
                    Err(errors) => errors
                        .0
                        .into_iter()
                        .map(|error| FileProblem {
                            line: line_of(yaml, &error.field),
                            field: error.field,
                            message: error.message,
                        })
                        .collect(),
                };
                Self {
                    raw: Some(raw),
                    problems,
                }
            }
            Err(error) => {
                let message = error.to_string();
                // serde names the field between backticks: "unknown field `prot`, expected ..."
                let field = message
                    .split('`')
                    .nth(1)
                    .filter(|_| message.contains("field"))
                    .unwrap_or("canopy.yaml")
                    .to_owned();
                Self {
                    raw: None,
                    problems: vec![FileProblem {
                        line: line_of(yaml, &field),
                        field,
                        message,
                    }],
                }
            }
        }
    }

    /// The valid spec, when the file has no problem.
    pub fn spec(&self) -> Option<ServiceSpec> {
        if !self.problems.is_empty() {
            return None;
        }
        self.raw.as_ref().and_then(|raw| raw.validate().ok())
    }

    /// The deploy form prefilled from the file; secret names become `NAME=` lines to fill in.
    pub fn form(&self) -> Option<DeployForm> {
        self.raw.as_ref().map(|raw| DeployForm {
            secrets: raw
                .secrets
                .iter()
                .map(|name| format!("{name}="))
                .collect::<Vec<_>>()
                .join("\n"),
            ..DeployForm::from_spec(raw)
        })
    }
}

/// The 1-based line of `field` (`port`, `autoscaling.max`, `env.LOG_LEVEL`, `secrets[1]`) in
/// `yaml`, found by its keys and their indentation.
pub fn line_of(yaml: &str, field: &str) -> Option<u32> {
    let mut keys = field
        .split('.')
        .map(|key| key.split('[').next().unwrap_or(key));
    let mut want = keys.next()?;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for (number, line) in yaml.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(parent) = parent_indent {
            if indent <= parent {
                // Left the parent's block without finding the child: the parent's line is
                // the best answer.
                break;
            }
        }
        let key = trimmed.trim_start_matches("- ");
        if key.starts_with(&format!("{want}:")) {
            found = Some(number as u32 + 1);
            match keys.next() {
                Some(next) => {
                    want = next;
                    parent_indent = Some(indent);
                }
                None => return found,
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# Deploy with Canopy\nname: checkout\nimage: ghcr.io/acme/checkout:1.4.2\nport: 99999\nautoscaling:\n  min: 2\n  max: 1\n  target_cpu_percent: 70\nenv:\n  LOG_LEVEL: info\n";

    #[test]
    fn problems_name_the_field_and_its_line() {
        let file = CanopyFile::parse(FILE, "payments", "dev");
        let lines: Vec<(String, Option<u32>)> = file
            .problems
            .iter()
            .map(|p| (p.field.clone(), p.line))
            .collect();
        assert!(lines.contains(&("port".to_owned(), Some(4))), "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|(f, l)| f.starts_with("autoscaling") && *l == Some(7)
                    || f.starts_with("autoscaling") && *l == Some(5)),
            "{lines:?}"
        );
        let form = file.form().expect("the form is still prefilled");
        assert_eq!(form.team, "payments");
        assert_eq!(form.port, "99999");
        assert!(file.spec().is_none());
    }

    #[test]
    fn a_good_file_gives_a_spec_and_secret_lines_to_fill() {
        let file = CanopyFile::parse(
            "team: search\nname: api\nenvironment: staging\nimage: ghcr.io/acme/api:2.0.0\nport: 8080\nsecrets: [DATABASE_PASSWORD]\n",
            "payments",
            "dev",
        );
        assert!(file.problems.is_empty(), "{:?}", file.problems);
        let spec = file.spec().expect("valid");
        assert_eq!(spec.team.as_str(), "search");
        assert_eq!(file.form().expect("form").secrets, "DATABASE_PASSWORD=");
    }

    #[test]
    fn broken_yaml_and_unknown_fields_name_their_line() {
        let broken = CanopyFile::parse("name: a\nport: [1,\n", "t", "dev");
        assert_eq!(broken.problems[0].field, "canopy.yaml");
        assert!(broken.problems[0].line.is_some());
        let unknown = CanopyFile::parse("name: a\nimage: x:1\nprot: 80\n", "t", "dev");
        assert_eq!(unknown.problems[0].field, "prot");
        assert_eq!(unknown.problems[0].line, Some(3));
        assert_eq!(line_of("env:\n  A: 1\n  B: 2\n", "env.B"), Some(3));
    }
}
