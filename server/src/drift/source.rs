//! Checking a source path at the boundary: absolute, an existing directory, under one of the
//! allowed roots when `CANOPY_DRIFT_SOURCE_ROOTS` is set; stored in its canonical form.

use std::path::{Path, PathBuf};

use super::{DriftError, Result};

const FIELD: &str = "source_path";
const MAX_LEN: usize = 4096;

fn invalid(message: impl Into<String>) -> DriftError {
    DriftError::InvalidInput {
        field: FIELD,
        message: message.into(),
    }
}

/// The canonical path of the directory `raw` names, or why it cannot be a source.
pub async fn validate_source_path(raw: &str, roots: &[PathBuf]) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(
            "is required: the absolute path of a local directory or git checkout",
        ));
    }
    if trimmed.len() > MAX_LEN || trimmed.contains('\0') {
        return Err(invalid(format!(
            "must be a path of at most {MAX_LEN} characters"
        )));
    }
    if !Path::new(trimmed).is_absolute() {
        return Err(invalid(format!(
            "{trimmed:?} is not an absolute path (it must start with /)"
        )));
    }
    let canonical = tokio::fs::canonicalize(trimmed)
        .await
        .map_err(|e| invalid(format!("{trimmed:?} cannot be read on Canopy's host ({e})")))?;
    let metadata = tokio::fs::metadata(&canonical)
        .await
        .map_err(|e| invalid(format!("{trimmed:?} cannot be read on Canopy's host ({e})")))?;
    if !metadata.is_dir() {
        return Err(invalid(format!("{trimmed:?} is not a directory")));
    }
    if !roots.is_empty() {
        let mut allowed = false;
        for root in roots {
            if let Ok(root) = tokio::fs::canonicalize(root).await {
                allowed |= canonical.starts_with(&root);
            }
        }
        if !allowed {
            let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
            return Err(invalid(format!(
                "{trimmed:?} is not under a directory Canopy may read (CANOPY_DRIFT_SOURCE_ROOTS: {})",
                list.join(", ")
            )));
        }
    }
    canonical
        .to_str()
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("{trimmed:?} is not valid UTF-8")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn message(error: DriftError) -> String {
        match error {
            DriftError::InvalidInput { field, message } => {
                assert_eq!(field, "source_path");
                message
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn source_paths_are_checked_and_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("repo");
        std::fs::create_dir(&sub).unwrap();
        let file = dir.path().join("file.txt");
        std::fs::write(&file, "x").unwrap();

        let raw = format!("{}/repo/../repo", dir.path().display());
        let ok = validate_source_path(&raw, &[]).await.unwrap();
        assert_eq!(ok, std::fs::canonicalize(&sub).unwrap().to_str().unwrap());

        assert!(message(validate_source_path("  ", &[]).await.unwrap_err()).contains("required"));
        assert!(
            message(validate_source_path("relative/dir", &[]).await.unwrap_err())
                .contains("not an absolute path")
        );
        assert!(message(
            validate_source_path("/no/such/canopy/dir", &[])
                .await
                .unwrap_err()
        )
        .contains("cannot be read"));
        assert!(message(
            validate_source_path(file.to_str().unwrap(), &[])
                .await
                .unwrap_err()
        )
        .contains("not a directory"));
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(message(
            validate_source_path(sub.to_str().unwrap(), &[elsewhere.path().to_path_buf()])
                .await
                .unwrap_err()
        )
        .contains("CANOPY_DRIFT_SOURCE_ROOTS"));
        assert!(
            validate_source_path(sub.to_str().unwrap(), &[dir.path().to_path_buf()])
                .await
                .is_ok()
        );
    }
}
