//! The workspace's architecture invariants, checked on the source tree.
//!
//! The pure crates (model, catalog, placement, sim, commit) do no I/O and never depend on an async
//! runtime, a database or an HTTP client. This reads their manifests and sources, so a change
//! that breaks the rule fails here with the file and line that broke it.

use std::path::{Path, PathBuf};

const PURE: [&str; 5] = [
    "skyfleet-model",
    "skyfleet-catalog",
    "skyfleet-placement",
    "skyfleet-sim",
    "skyfleet-commit",
];

/// Dependencies a pure crate may never have (normal or build dependencies).
const FORBIDDEN_DEPS: [&str; 9] = [
    "tokio",
    "sqlx",
    "reqwest",
    "hyper",
    "axum",
    "async-std",
    "rusqlite",
    "ureq",
    "anyhow",
];

/// Source patterns that mean I/O, a clock or the environment.
const FORBIDDEN_CODE: [&str; 11] = [
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::io::stdin",
    "File::open",
    "File::create",
    "SystemTime::now",
    "Instant::now",
    "println!",
    "eprintln!",
];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    let mut problems = Vec::new();
    for krate in PURE {
        let manifest = crates_dir().join(krate).join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("manifest");
        let mut section = String::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            let normal = section == "[dependencies]" || section == "[build-dependencies]";
            let name = line.split(['=', ' ', '.']).next().unwrap_or("");
            if normal && FORBIDDEN_DEPS.contains(&name) {
                problems.push(format!(
                    "{}:{}: {krate} depends on {name}",
                    manifest.display(),
                    n + 1
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "pure crates must not do I/O:\n{}",
        problems.join("\n")
    );
}

#[test]
fn pure_crates_do_no_io_in_their_library_code() {
    let mut problems = Vec::new();
    for krate in PURE {
        let mut files = Vec::new();
        rust_files(&crates_dir().join(krate).join("src"), &mut files);
        assert!(!files.is_empty(), "{krate} has no sources?");
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source");
            // Unit tests at the bottom of a file may read fixtures; library code may not.
            let library = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in library.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for pat in FORBIDDEN_CODE {
                    if code.contains(pat) {
                        problems.push(format!(
                            "{}:{}: `{pat}` in a pure crate",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "pure crates must not do I/O:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_itself_catches_io() {
    // Guard against a checker that can never fail: the patterns must match real I/O code.
    let sample = "let f = std::fs::read_to_string(p); println!(\"x\");";
    assert!(
        FORBIDDEN_CODE
            .iter()
            .filter(|p| sample.contains(*p))
            .count()
            >= 2
    );
}
