//! The built site bundle: where it is, and how its files are served and cached.
//!
//! `scripts/build.sh` writes the wasm, its JS glue and the stylesheet to
//! `<site root>/pkg/<build hash>/` and records that folder in `<site root>/manifest.json`.
//! Everything under a hashed folder never changes, so it is cached for a year (`immutable`).

use std::path::{Path, PathBuf};

use axum::{
    body::Body,
    http::{header, HeaderValue, Request},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

#[derive(Debug, Clone)]
pub struct SiteBundle {
    pub site_root: PathBuf,
    /// Relative to the site root, e.g. `pkg/3f9a1c…`; `pkg` when no bundle was built.
    pub pkg_dir: String,
    pub built: bool,
}

#[derive(Deserialize)]
struct Manifest {
    pkg_dir: String,
}

impl SiteBundle {
    pub fn load(site_root: &Path) -> Self {
        let manifest = std::fs::read_to_string(site_root.join("manifest.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<Manifest>(&text).ok())
            .filter(|m| {
                m.pkg_dir.starts_with("pkg/")
                    && !m.pkg_dir.contains("..")
                    && site_root.join(&m.pkg_dir).is_dir()
            });
        match manifest {
            Some(manifest) => Self {
                site_root: site_root.to_path_buf(),
                pkg_dir: manifest.pkg_dir,
                built: true,
            },
            None => {
                tracing::warn!(
                    site_root = %site_root.display(),
                    "no built site bundle found: pages render on the server but will not hydrate \
                     (run scripts/build.sh or set CANOPY_SITE_ROOT)"
                );
                Self {
                    site_root: site_root.to_path_buf(),
                    pkg_dir: "pkg".to_owned(),
                    built: false,
                }
            }
        }
    }
}

/// Sets Cache-Control by what a response is: hashed assets forever, everything else revalidated.
/// `/favicon.ico`, which browsers ask for on pages that name no icon (the e-mail preview, JSON):
/// the bundle's icon.
pub async fn favicon(
    axum::extract::State(state): axum::extract::State<super::AppState>,
) -> Response {
    axum::response::Redirect::permanent(&format!(
        "/{}/favicon.svg",
        state.leptos_options.site_pkg_dir
    ))
    .into_response()
}

pub async fn cache_control(request: Request<Body>, next: Next) -> Response {
    let hashed = is_hashed_asset(request.uri().path());
    let mut response = next.run(request).await;
    if response.headers().contains_key(header::CACHE_CONTROL) {
        return response;
    }
    let value = if hashed && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

/// `/pkg/<hex hash of at least 16 digits>/<file>`.
fn is_hashed_asset(path: &str) -> bool {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("pkg"), Some(hash), Some(file))
            if hash.len() >= 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) && !file.is_empty()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_under_a_hash_folder_are_immutable() {
        assert!(is_hashed_asset("/pkg/0123456789abcdef0123/canopy_bg.wasm"));
        assert!(!is_hashed_asset("/pkg/canopy.js"));
        assert!(!is_hashed_asset("/pkg/not-a-hash-folder-x/canopy.js"));
        assert!(!is_hashed_asset("/services"));
    }
}
