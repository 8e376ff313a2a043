//! The operator docs are checked against the code: every setting in `--help` is documented (and
//! nothing documented is missing from `--help`), and every route is in the API reference.

use clap::CommandFactory;
use workspace_server::config::Config;
use workspace_server::http::ROUTES;

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The environment variable of every setting, as `--help` shows it.
fn settings() -> Vec<String> {
    Config::command()
        .get_arguments()
        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn every_setting_in_help_is_documented_and_nothing_else_is() {
    let doc = read("docs/configuration.md");
    let help = Config::command().render_long_help().to_string();
    let mut missing = Vec::new();
    for env in settings() {
        assert!(
            help.contains(&format!("[env: {env}")),
            "{env} is not in --help"
        );
        if !doc.contains(&format!("`{env}`")) {
            missing.push(env);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
    // Every variable named in the table's first column is a real setting.
    let known = settings();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap();
        for name in first.split('`').skip(1).step_by(2) {
            assert!(
                known.iter().any(|k| k == name),
                "docs/configuration.md documents unknown {name}"
            );
        }
    }
}

#[test]
fn every_route_is_in_the_api_reference() {
    let doc = read("docs/api.md");
    let mut missing = Vec::new();
    for (path, methods) in ROUTES {
        for method in *methods {
            let heading = format!("`{method} {path}`");
            if !doc.contains(&heading) {
                missing.push(heading);
            }
        }
    }
    assert!(missing.is_empty(), "docs/api.md lacks {missing:?}");
}
