//! Container image references: `[registry[:port]/]path[:tag][@sha256:digest]`, tag or digest required.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::Refusal;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

impl ImageRef {
    /// Accepts an image reference with an explicit tag or digest, following the grammar of
    /// the OCI distribution reference (lowercase repository path, tag `[\w][\w.-]{0,127}`,
    /// digest `sha256:` + 64 hex digits). The message says what is wrong.
    pub fn parse(raw: &str) -> Result<Self, Refusal> {
        if raw.is_empty() {
            return Err(Refusal(
                "is required, e.g. ghcr.io/acme/shop:1.4.2".to_owned(),
            ));
        }
        if raw.len() > 255 {
            return Err(Refusal(format!(
                "is {} characters long; at most 255 are allowed",
                raw.len()
            )));
        }
        if raw.chars().any(char::is_whitespace) {
            return Err(Refusal("must not contain spaces".to_owned()));
        }
        let (name_and_tag, digest) = match raw.split_once('@') {
            Some((left, digest)) => (left, Some(digest)),
            None => (raw, None),
        };
        if let Some(digest) = digest {
            let hex = digest.strip_prefix("sha256:").ok_or_else(|| {
                Refusal(format!(
                    "digest {digest:?} must be sha256: followed by 64 hex digits"
                ))
            })?;
            if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(Refusal(format!(
                    "digest {digest:?} must be sha256: followed by 64 lowercase hex digits"
                )));
            }
        }
        // A tag is what follows the last ':' after the last '/', so registry ports are not tags.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(&name_and_tag[last_slash + i + 1..]),
            ),
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !valid {
                return Err(Refusal(format!(
                    "tag {tag:?} may contain letters, digits, '_', '.' and '-' (up to 128, not starting with '.' or '-')"
                )));
            }
        }
        if tag.is_none() && digest.is_none() {
            return Err(Refusal(format!(
                "needs a tag or a digest so deploys are repeatable, e.g. {name}:1.0.0"
            )));
        }
        check_name(name)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the last ':' of the last path segment, if any.
    pub fn tag(&self) -> Option<&str> {
        let without_digest = self.0.split('@').next().unwrap_or_default();
        let last = without_digest.rsplit('/').next().unwrap_or_default();
        last.split_once(':').map(|(_, tag)| tag)
    }
}

fn check_name(name: &str) -> Result<(), Refusal> {
    let mut components: Vec<&str> = name.split('/').collect();
    if components.iter().any(|c| c.is_empty()) {
        return Err(Refusal(format!(
            "repository {name:?} has an empty path segment"
        )));
    }
    // The first component is a registry host when it has a '.', a ':' or is localhost.
    if components.len() > 1 {
        let first = components[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            let (host, port) = first.split_once(':').unwrap_or((first, ""));
            if host.is_empty()
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                return Err(Refusal(format!(
                    "registry {first:?} is not a valid host name"
                )));
            }
            if !port.is_empty() && port.parse::<u16>().is_err() {
                return Err(Refusal(format!(
                    "registry port in {first:?} must be a number"
                )));
            }
            components.remove(0);
        }
    }
    for component in components {
        let valid = component
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !valid {
            return Err(Refusal(format!(
                "repository path segment {component:?} may contain lowercase letters, digits and '.', '_', '-' (starting and ending with a letter or digit)"
            )));
        }
    }
    Ok(())
}

impl TryFrom<String> for ImageRef {
    type Error = Refusal;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ImageRef> for String {
    fn from(value: ImageRef) -> Self {
        value.0
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_references() {
        for ok in [
            "nginx:1.27",
            "ghcr.io/acme/shop:1.4.2",
            "localhost:5000/team/app:dev_build-3",
            "registry.example.com:443/a/b/c:v1.0.0-rc.1",
            "busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111",
            "acme/app:1.0@sha256:abababababababababababababababababababababababababababababababab",
        ] {
            assert!(
                ImageRef::parse(ok).is_ok(),
                "{ok}: {:?}",
                ImageRef::parse(ok)
            );
        }
        assert_eq!(
            ImageRef::parse("ghcr.io/acme/shop:1.4.2")
                .ok()
                .and_then(|i| i.tag().map(str::to_owned)),
            Some("1.4.2".to_owned())
        );
    }

    #[test]
    fn refuses_with_a_reason() {
        let cases = [
            ("", "is required"),
            ("nginx", "needs a tag or a digest"),
            ("localhost:5000/app", "needs a tag or a digest"),
            ("Nginx:1", "lowercase"),
            ("acme//app:1", "empty path segment"),
            ("acme/app:", "tag \"\""),
            ("acme/app:-x", "tag \"-x\""),
            ("acme/app@md5:abc", "sha256"),
            ("acme/app@sha256:abc", "64"),
            ("acme/app :1", "spaces"),
        ];
        for (input, expected) in cases {
            let err = ImageRef::parse(input)
                .err()
                .map(|e| e.0)
                .unwrap_or_default();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
    }
}
