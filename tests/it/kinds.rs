//! A new file kind plugs in by implementing `FileKind` and being listed once: this test defines
//! a tiny kind of its own (`*.images` files, one `image: REF` per line) and runs it through the
//! engine's scan, offline plan, JSON report and online pin against the emulator, with the
//! engine, the reports and the rewriter untouched.

use crate::support::emulator;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use digestpin::engine::{self, PinMode, PinOptions, Scope, Status};
use digestpin::found::{FoundRef, RefState, Scan, Site};
use digestpin::kinds::{FileKind, Kinds};
use digestpin::reference::Reference;
use digestpin::registry::credentials::CredentialStore;
use digestpin::registry::{Client, ClientOptions, Endpoints};
use digestpin::resolve::When;

/// `image: REF` lines; anything else is ignored.
struct Lines;

impl FileKind for Lines {
    fn name(&self) -> &'static str {
        "lines"
    }

    fn claims(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "images")
    }

    fn scan(&self, reader: &mut dyn Read) -> io::Result<Scan> {
        let mut text = String::new();
        reader.read_to_string(&mut text)?;
        let mut refs = Vec::new();
        let mut offset = 0;
        for (n, line) in text.split_inclusive('\n').enumerate() {
            if let Some(value) = line.strip_prefix("image: ") {
                let value = value.trim_end();
                let start = offset + "image: ".len();
                let reference = Reference::parse(value).ok().map(Arc::new);
                let state = match &reference {
                    Some(r) if r.digest().is_some() => RefState::Pinned,
                    Some(_) => RefState::Unpinned,
                    None => RefState::Invalid,
                };
                refs.push(FoundRef {
                    site: Site::fixed("image"),
                    original: value.into(),
                    span: Some(start..start + value.len()),
                    line: n + 1,
                    column: "image: ".len() + 1,
                    end_line: n + 1,
                    state,
                    reference,
                    problem: None,
                });
            }
            offset += line.len();
        }
        Ok(Scan { refs, error: None })
    }
}

static LINES: Lines = Lines;

fn scope() -> Scope {
    Scope {
        kinds: Kinds::new(vec![&LINES]),
        ..Scope::default()
    }
}

fn tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.images");
    std::fs::write(
        &file,
        "# images this app pulls\nimage: cgr.dev/chainguard/go:latest\r\nother: x\nimage: cgr.dev/chainguard/static:latest\n",
    )
    .unwrap();
    // Not claimed by the kind: never read.
    std::fs::write(dir.path().join("Dockerfile"), "FROM alpine\n").unwrap();
    (dir, file)
}

#[test]
fn a_new_kind_is_walked_scanned_planned_and_reported() {
    let (dir, file) = tree();
    let report = engine::scan_paths(&[dir.path().to_path_buf()], &scope());
    assert_eq!(report.files.len(), 1);
    assert_eq!(report.files[0].path, file);
    let plan = engine::plan_offline(report);
    let mut json = Vec::new();
    digestpin::report::pin_json(&plan, &mut json).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    let refs = &doc["files"][0]["refs"];
    assert_eq!(refs[0]["instruction"], "image");
    assert_eq!(refs[0]["original"], "cgr.dev/chainguard/go:latest");
    assert_eq!(refs[0]["line"], 2);
    assert_eq!(refs[1]["line"], 4);
    assert_eq!(doc["summary"]["pinned"], 2);
}

#[test]
fn a_new_kind_is_pinned_byte_exactly_by_the_engine() {
    let emu = emulator::Emulator::start();
    let go = emu.generate_history(
        "chainguard/go",
        "latest",
        2,
        "2024-05-30T12:00:00Z",
        std::time::Duration::from_secs(3600),
    );
    let st = emu.generate_history(
        "chainguard/static",
        "latest",
        2,
        "2024-05-30T12:00:00Z",
        std::time::Duration::from_secs(3600),
    );
    let (dir, file) = tree();
    let mut endpoints = Endpoints::default();
    endpoints.add(&format!("cgr.dev={}", emu.url())).unwrap();
    let client = Client::new(
        ClientOptions {
            endpoints,
            ..ClientOptions::default()
        },
        CredentialStore::default(),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = PinOptions {
        mode: PinMode::Write,
        when: When::Now,
        min_age: None,
        enforce_min_age: false,
        digest_only: false,
        keep_pinned: false,
        now: jiff::Timestamp::now(),
        jobs: 4,
    };
    let report = engine::pin(
        &[dir.path().to_path_buf()],
        &scope(),
        &client,
        &opts,
        None,
        &runtime,
        &|_, _| {},
    );
    let statuses: Vec<Status> = report.files[0].refs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Status::Pinned, Status::Pinned]);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!(
            "# images this app pulls\nimage: cgr.dev/chainguard/go:latest@{}\r\nother: x\nimage: cgr.dev/chainguard/static:latest@{}\n",
            go[1].digest, st[1].digest
        )
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        "FROM alpine\n"
    );
}
