//! Property tests: no input makes a parser (or the lookup rules) panic.

use std::path::PathBuf;

use canopy_drift::{
    judge, scan_files, Dependency, DependencyKind, Ecosystem, Release, Releases, SourceFile,
};
use proptest::prelude::*;

const FILES: [&str; 11] = [
    "Cargo.toml",
    "Cargo.lock",
    "package.json",
    "package-lock.json",
    "requirements.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "go.mod",
    "Dockerfile",
    ".github/workflows/ci.yml",
];

/// Text that looks a little like manifests, so the parsers get past their first checks.
fn manifest_like() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("[dependencies]\n".to_owned()),
        Just("[workspace.dependencies]\n".to_owned()),
        Just("serde = { version = \"1\" }\n".to_owned()),
        Just("{\"dependencies\": {\"a\": \"^1\"".to_owned()),
        Just("requests[x]>=1; python_version<'3'\n".to_owned()),
        Just("require (\n".to_owned()),
        Just("FROM ${A:-node}:$B AS x\n".to_owned()),
        Just("ARG A=1\\\n".to_owned()),
        Just("jobs:\n  a:\n    steps:\n      - uses: a/b@v1 # v1\n".to_owned()),
        Just("[[package]]\nname = \"a\"\nversion = \"1\"\n".to_owned()),
        "[ -~\n\t]{0,40}",
        "\\PC{0,10}",
    ];
    prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_input_panics_a_parser(index in 0..FILES.len(), text in manifest_like()) {
        let file = SourceFile { path: PathBuf::from(FILES[index]), contents: text };
        let _ = scan_files(&[file]);
    }

    #[test]
    fn arbitrary_text_panics_no_parser(index in 0..FILES.len(), text in "\\PC*") {
        let file = SourceFile { path: PathBuf::from(FILES[index]), contents: text };
        let _ = scan_files(&[file]);
    }

    #[test]
    fn no_version_panics_the_lookup(
        ecosystem in 0..Ecosystem::ALL.len(),
        declared in "[~^=<>v0-9.*|, a-z-]{0,16}",
        locked in proptest::option::of("[v0-9.a-z-]{0,10}"),
        versions in prop::collection::vec("[v0-9.a-z+-]{0,10}", 0..12),
    ) {
        let mut dependency = Dependency::new(
            Ecosystem::ALL[ecosystem], "pkg", declared, "manifest", 1, DependencyKind::Normal,
        );
        dependency.locked = locked;
        let releases = Releases {
            versions: versions.into_iter().map(Release::new).collect(),
            latest: None,
        };
        let _ = judge(&dependency, &releases);
    }
}
