//! The pipeline behind the commands: discover files → read → scan → plan what `pin` would do.
//! Never prints; returns structured outcomes that `report` renders.

use std::fmt;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::dockerfile::{self, ImageRef, RefState};
use crate::files;

/// A problem with a whole file: unreadable, not text, or a Dockerfile BuildKit would reject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// One file's references, in file order.
#[derive(Debug)]
pub struct FileScan {
    pub path: PathBuf,
    pub refs: Vec<ImageRef>,
    pub error: Option<FileError>,
}

/// Every file found under the given paths, sorted by path.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub files: Vec<FileScan>,
    /// Directories given on the command line that held no Dockerfile.
    pub empty_dirs: Vec<PathBuf>,
}

impl ScanReport {
    /// Whether any file failed or any reference is invalid.
    pub fn has_errors(&self) -> bool {
        self.files
            .iter()
            .any(|f| f.error.is_some() || f.refs.iter().any(|r| r.state == RefState::Invalid))
    }
}

/// Walks `paths`, reads and scans every Dockerfile. With no paths, the current directory.
pub fn scan_paths(paths: &[PathBuf]) -> ScanReport {
    let (paths, implicit) = if paths.is_empty() {
        (vec![PathBuf::from(".")], true)
    } else {
        (paths.to_vec(), false)
    };
    let discovery = files::discover(&paths, implicit);
    let mut report = ScanReport {
        files: Vec::with_capacity(discovery.files.len() + discovery.errors.len()),
        empty_dirs: discovery.empty_dirs,
    };
    for (path, message) in discovery.errors {
        report.files.push(FileScan {
            path,
            refs: Vec::new(),
            error: Some(FileError {
                line: None,
                message,
            }),
        });
    }
    for path in discovery.files {
        report.files.push(scan_file(path));
    }
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    report
}

/// Reads and scans one file.
pub fn scan_file(path: PathBuf) -> FileScan {
    match std::fs::read(&path) {
        Err(e) => FileScan {
            path,
            refs: Vec::new(),
            error: Some(FileError {
                line: None,
                message: files::describe_io(&e),
            }),
        },
        Ok(bytes) => {
            let scan = dockerfile::scan(&bytes);
            FileScan {
                path,
                refs: scan.refs,
                error: scan.error.map(|e| FileError {
                    line: Some(e.line),
                    message: e.message,
                }),
            }
        }
    }
}

/// What `pin` did, or would do, to one reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A digest was (or would be) added.
    Pinned,
    /// A stale digest was (or would be) replaced.
    Updated,
    Unchanged,
    Skipped,
    Error,
}

/// One image reference and what happens to it.
#[derive(Debug, Clone)]
pub struct RefPlan {
    pub found: ImageRef,
    pub status: Status,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
    pub digest_before: Option<Digest>,
    pub digest_after: Option<Digest>,
    /// When `digest_after` was published, when the registry says.
    pub updated_at: Option<String>,
}

/// One file's plan.
#[derive(Debug)]
pub struct FilePlan {
    pub path: PathBuf,
    pub changed: bool,
    pub error: Option<FileError>,
    pub refs: Vec<RefPlan>,
}

/// Counts over a whole run, as in the JSON `summary`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub refs: usize,
    pub pinned: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub errors: usize,
}

/// The outcome of a `pin` run.
#[derive(Debug, Default)]
pub struct PinReport {
    pub files: Vec<FilePlan>,
    pub empty_dirs: Vec<PathBuf>,
}

impl PinReport {
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            files: self.files.len(),
            ..Summary::default()
        };
        for file in &self.files {
            if file.error.is_some() {
                s.errors += 1;
            }
            for r in &file.refs {
                s.refs += 1;
                match r.status {
                    Status::Pinned => s.pinned += 1,
                    Status::Updated => s.updated += 1,
                    Status::Unchanged => s.unchanged += 1,
                    Status::Skipped => s.skipped += 1,
                    Status::Error => s.errors += 1,
                }
            }
        }
        s
    }

    /// References that would change: the findings of `--check`.
    pub fn findings(&self) -> impl Iterator<Item = (&FilePlan, &RefPlan)> {
        self.files.iter().flat_map(|f| {
            f.refs
                .iter()
                .filter(|r| matches!(r.status, Status::Pinned | Status::Updated))
                .map(move |r| (f, r))
        })
    }
}

/// `pin --check --offline`: no network. A reference without a digest would be pinned; one with
/// a digest is taken as it is.
pub fn plan_offline(scan: ScanReport) -> PinReport {
    let files = scan
        .files
        .into_iter()
        .map(|file| FilePlan {
            path: file.path,
            changed: false,
            error: file.error,
            refs: file
                .refs
                .into_iter()
                .filter(|r| r.state.is_image())
                .map(plan_offline_ref)
                .collect(),
        })
        .collect();
    PinReport {
        files,
        empty_dirs: scan.empty_dirs,
    }
}

fn plan_offline_ref(found: ImageRef) -> RefPlan {
    let (status, reason) = match found.state {
        RefState::Unpinned => (Status::Pinned, None),
        RefState::Pinned => (Status::Unchanged, None),
        RefState::Invalid => (
            Status::Error,
            Some(format!(
                "invalid reference: {}",
                found
                    .problem
                    .as_deref()
                    .unwrap_or("invalid reference format")
            )),
        ),
        other => (Status::Skipped, Some(other.as_str().to_owned())),
    };
    let digest_before = found.reference.as_ref().and_then(|r| r.digest().cloned());
    let digest_after = digest_before
        .clone()
        .filter(|_| status == Status::Unchanged);
    RefPlan {
        found,
        status,
        reason,
        digest_before,
        digest_after,
        updated_at: None,
    }
}
