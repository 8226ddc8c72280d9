//! The 46 conformance cases: `digestpin list` on each must print exactly the expected output
//! stored beside it (`list.json`, `list.txt`). Set `DIGESTPIN_BLESS=1` to rewrite the expected
//! files after a deliberate change, then review the diff.

use crate::support::cli;
use std::path::Path;

fn run(dir: &Path, format: &str) -> (i32, String) {
    let out = cli::process(dir)
        .args(["list", "--format", format, "Dockerfile"])
        .output()
        .expect("run digestpin");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
    )
}

#[test]
fn every_conformance_case_lists_as_expected() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/conformance");
    let bless = std::env::var_os("DIGESTPIN_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures/conformance")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 46, "all 46 conformance cases are present");
    let mut failures = Vec::new();
    for case in &cases {
        for (format, file) in [("json", "list.json"), ("text", "list.txt")] {
            let (code, stdout) = run(case, format);
            let actual = format!("exit {code}\n{stdout}");
            let expected_path = case.join(file);
            if bless {
                std::fs::write(&expected_path, &actual).expect("write expected");
                continue;
            }
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            if actual != expected {
                failures.push(format!(
                    "{}: {format} output differs\n--- expected\n{expected}\n+++ actual\n{actual}",
                    case.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
