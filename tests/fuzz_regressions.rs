//! Every saved fuzz input (`fuzz/seeds/<target>/`, the starting corpus, and
//! `fuzz/regressions/<target>/`, inputs that once broke a property) replayed through the same
//! checks the fuzz targets run. The fuzzing itself runs in `scripts/fuzz.sh`.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn inputs(target: &str) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(kind)
            .join(target);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
    }
    files.sort();
    files
}

#[test]
fn every_saved_fuzz_input_keeps_its_property() {
    let mut broken = Vec::new();
    for (target, check) in checks::TARGETS {
        let files = inputs(target);
        assert!(!files.is_empty(), "no saved inputs for {target}");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                broken.push(format!("{target}: {}", file.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "properties broken by:\n{}",
        broken.join("\n")
    );
}
