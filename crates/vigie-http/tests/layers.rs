//! The crate's dependency rule, checked on its source: `shared` uses nothing else of the
//! crate; `actions` uses `shared`; `api` and `pages` use `shared` and `actions`, never each
//! other (see ARCHITECTURE.md beside the manifest). A `use` that breaks it fails here, naming
//! the file and the line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "a test")]

use std::path::{Path, PathBuf};

/// The layers, each with the ones it must not name.
const RULES: &[(&str, &[&str])] = &[
    ("shared", &["actions", "api", "pages"]),
    ("actions", &["api", "pages"]),
    ("api", &["pages"]),
    ("pages", &["api"]),
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::<module>` a line names, with the line.
fn named_layers(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            out.push((n + 1, name));
        }
    }
    out
}

#[test]
fn dependencies_flow_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut broken = Vec::new();
    let mut checked = 0;
    for (layer, forbidden) in RULES {
        let mut files = Vec::new();
        sources(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no source under src/{layer}");
        for file in files {
            checked += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for (line, name) in named_layers(&text) {
                if forbidden.contains(&name.as_str()) {
                    broken.push(format!("{}:{line}: {layer} names crate::{name}", file.display()));
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked");
    assert!(broken.is_empty(), "the dependency rule is broken:\n{}", broken.join("\n"));
}

#[test]
fn the_check_sees_a_forbidden_use() {
    let named = named_layers("use crate::shared::problem::Problem;\nuse crate::api::persons::record_json;");
    assert_eq!(named, vec![(1, "shared".to_owned()), (2, "api".to_owned())]);
}
