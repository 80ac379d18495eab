//! Validated names used across Canopy: services and teams are DNS-1123 labels.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a proposed name was refused. The message says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("is required")]
    Empty,
    #[error("is {len} characters long; at most {max} are allowed")]
    TooLong { len: usize, max: usize },
    #[error("may contain only lowercase letters (a-z), digits (0-9) and '-'; found {found:?}")]
    InvalidCharacter { found: char },
    #[error("must start and end with a lowercase letter or digit")]
    BadEdge,
    /// Kubernetes Service names are DNS-1035 labels: a leading digit is refused by the API server.
    #[error("must start with a lowercase letter (a-z); found {found:?}")]
    MustStartWithLetter { found: char },
}

fn check_dns_label(raw: &str, max: usize) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty);
    }
    let len = raw.chars().count();
    if len > max {
        return Err(NameError::TooLong { len, max });
    }
    if let Some(found) = raw
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(NameError::InvalidCharacter { found });
    }
    if raw.starts_with('-') || raw.ends_with('-') {
        return Err(NameError::BadEdge);
    }
    Ok(())
}

macro_rules! dns_label_newtype {
    ($(#[$doc:meta])* $name:ident, $max:expr, $pattern:expr, $rule:expr) => {
        dns_label_newtype!($(#[$doc])* $name, $max, $pattern, $rule, |_raw: &str| Ok(()));
    };
    ($(#[$doc:meta])* $name:ident, $max:expr, $pattern:expr, $rule:expr, $extra:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The longest name allowed.
            pub const MAX_LEN: usize = $max;

            /// Accepts `raw` only if it is a DNS-1123 label of at most `MAX_LEN` characters.
            pub fn parse(raw: &str) -> Result<Self, NameError> {
                check_dns_label(raw, Self::MAX_LEN)?;
                let extra: fn(&str) -> Result<(), NameError> = $extra;
                extra(raw)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// The REST API's description (docs/openapi.json): the same rules as `parse`.
        #[cfg(feature = "ssr")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some(Self::MAX_LEN))
                    .pattern(Some($pattern))
                    .description(Some($rule))
                    .into()
            }
        }

        #[cfg(feature = "ssr")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
        }
    };
}

dns_label_newtype!(
    /// A service's name: a DNS-1035 label (it becomes Kubernetes object names, the Service's
    /// among them, so it starts with a letter).
    ServiceName,
    63,
    SERVICE_NAME_PATTERN,
    "A DNS-1035 label: 1-63 lowercase letters, digits and '-', starting with a letter and \
     ending with a letter or digit.",
    |raw: &str| match raw.chars().next() {
        Some(first) if !first.is_ascii_lowercase() => {
            Err(NameError::MustStartWithLetter { found: first })
        }
        _ => Ok(()),
    }
);

dns_label_newtype!(
    /// A team's name: a DNS-1123 label short enough that `<team>-<environment>`
    /// is still a valid namespace name.
    TeamName,
    40,
    TEAM_NAME_PATTERN,
    "A DNS-1123 label of at most 40 characters (so that `<team>-<environment>` is a namespace \
     name): lowercase letters, digits and '-', starting and ending with a letter or digit."
);

/// [`ServiceName`]'s rules as a regular expression (the API description states them).
pub const SERVICE_NAME_PATTERN: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";
/// [`TeamName`]'s rules as a regular expression (the API description states them).
pub const TEAM_NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dns_labels() {
        for ok in ["a", "web", "api-2", "lives9", &"a".repeat(63)] {
            assert_eq!(
                ServiceName::parse(ok).map(|n| n.to_string()).as_deref(),
                Ok(ok)
            );
        }
    }

    #[test]
    fn refuses_each_kind_of_bad_name_with_its_reason() {
        assert_eq!(ServiceName::parse(""), Err(NameError::Empty));
        assert_eq!(
            ServiceName::parse(&"a".repeat(64)),
            Err(NameError::TooLong { len: 64, max: 63 })
        );
        assert_eq!(
            ServiceName::parse("My_Service"),
            Err(NameError::InvalidCharacter { found: 'M' })
        );
        assert_eq!(
            ServiceName::parse("web.api"),
            Err(NameError::InvalidCharacter { found: '.' })
        );
        assert_eq!(ServiceName::parse("-web"), Err(NameError::BadEdge));
        assert_eq!(
            ServiceName::parse("9lives"),
            Err(NameError::MustStartWithLetter { found: '9' }),
            "a Kubernetes Service may not be named 9lives"
        );
        assert!(
            TeamName::parse("9lives").is_ok(),
            "namespaces (<team>-<env>) may start with a digit"
        );
        assert_eq!(ServiceName::parse("web-"), Err(NameError::BadEdge));
        assert_eq!(
            ServiceName::parse("café"),
            Err(NameError::InvalidCharacter { found: 'é' })
        );
    }

    /// The patterns the API description states accept exactly what `parse` accepts.
    #[test]
    fn the_stated_patterns_agree_with_parse() {
        let service = regex::Regex::new(SERVICE_NAME_PATTERN).expect("pattern");
        let team = regex::Regex::new(TEAM_NAME_PATTERN).expect("pattern");
        let samples = [
            "",
            "a",
            "9",
            "web",
            "api-2",
            "9lives",
            "-web",
            "web-",
            "a--b",
            "My_Service",
            "web.api",
            "café",
            "x y",
            &"a".repeat(40),
            &"a".repeat(41),
            &"a".repeat(63),
            &"a".repeat(64),
        ];
        for raw in samples {
            let stated = |re: &regex::Regex, max: usize| re.is_match(raw) && raw.len() <= max;
            assert_eq!(
                stated(&service, ServiceName::MAX_LEN),
                ServiceName::parse(raw).is_ok(),
                "service name {raw:?}"
            );
            assert_eq!(
                stated(&team, TeamName::MAX_LEN),
                TeamName::parse(raw).is_ok(),
                "team name {raw:?}"
            );
        }
    }

    #[test]
    fn team_names_are_shorter() {
        assert!(TeamName::parse(&"t".repeat(40)).is_ok());
        assert_eq!(
            TeamName::parse(&"t".repeat(41)),
            Err(NameError::TooLong { len: 41, max: 40 })
        );
    }

    #[test]
    fn deserializing_validates() {
        let bad: Result<ServiceName, _> = serde_json::from_str("\"Bad Name\"");
        assert!(bad.is_err());
        let good: ServiceName = serde_json::from_str("\"good\"").expect("valid name");
        assert_eq!(good.as_str(), "good");
    }

    #[test]
    fn error_messages_say_what_is_allowed() {
        let msg = ServiceName::parse("Bad")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("lowercase letters"), "{msg}");
    }
}
