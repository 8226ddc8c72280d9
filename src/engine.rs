//! The pipeline behind the commands: discover files → read → scan → plan what `pin` would do.
//! Never prints; returns structured outcomes that `report` renders.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;

use crate::ExitStatus;
use crate::cache::{Cache, HistoryRecord};
use crate::digest::Digest;
use crate::files;
use crate::found::{FoundRef, RefState};
use crate::kinds::Kinds;
use crate::registry::Client;
use crate::resolve::{
    self, Existence, HistoryAnswer, Query, Resolution, Resolutions, Target, TimeSource, When,
};
use crate::rewrite::{self, Edit};

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
    /// The name of its kind (`dockerfile`, `compose`, …); `None` when it could not be told.
    pub kind: Option<&'static str>,
    pub refs: Vec<FoundRef>,
    pub error: Option<FileError>,
    /// What the file held when it was scanned (a file read whole without error): it is
    /// written only if it still holds exactly that.
    pub scanned: Option<files::Fingerprint>,
}

impl FileScan {
    /// Whether the file failed or holds an invalid reference.
    pub fn has_errors(&self) -> bool {
        self.error.is_some() || self.refs.iter().any(|r| r.state == RefState::Invalid)
    }
}

/// Every file found under the given paths, sorted by path.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub files: Vec<FileScan>,
    /// Directories given on the command line that held no Dockerfile.
    pub empty_dirs: Vec<PathBuf>,
    /// Files found by walking that are not read, with why (notices, not errors).
    pub skipped: Vec<files::Skipped>,
}

/// What walking found besides files.
#[derive(Debug, Default)]
pub struct Walk {
    /// Directories given on the command line that held no Dockerfile.
    pub empty_dirs: Vec<PathBuf>,
    /// Files found by walking that are not read, with why (notices, not errors).
    pub skipped: Vec<files::Skipped>,
}

/// What a run reads and what it leaves alone on purpose (the config file's `exclude`, `kinds`
/// and `[[ignore]]`). The default reads everything.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Paths a walk leaves out.
    pub exclude: files::PathPatterns,
    /// The file kinds to read (all of them by default).
    pub kinds: Kinds,
    /// References skipped on purpose.
    pub ignore: Vec<IgnoreRule>,
}

/// An `[[ignore]]` rule: references whose image matches `image`, in files matching `path`
/// when given, are `ignored` (as by a `# digestpin: ignore` comment), with `reason`.
#[derive(Debug, Clone)]
pub struct IgnoreRule {
    pub image: globset::GlobMatcher,
    pub path: Option<files::PathPatterns>,
    pub reason: Option<String>,
}

impl IgnoreRule {
    /// Whether the rule covers `found` in the file at `path`. The glob is tried on the text as
    /// written and on the normalised `REGISTRY/REPOSITORY` and `REGISTRY/REPOSITORY:TAG`, so
    /// `python:*` and `docker.io/library/python:*` both match `python:3.12`.
    pub fn covers(&self, path: &std::path::Path, found: &FoundRef) -> bool {
        if self.path.as_ref().is_some_and(|p| !p.covers(path)) {
            return false;
        }
        if self.image.is_match(&*found.original) {
            return true;
        }
        found.reference.as_ref().is_some_and(|r| {
            let name = format!("{}/{}", r.registry(), r.repository());
            self.image.is_match(&name)
                || r.lookup_tag()
                    .is_some_and(|tag| self.image.is_match(format!("{name}:{tag}")))
        })
    }
}

impl Scope {
    /// Marks the references the `[[ignore]]` rules cover as `ignored`, the rule's reason kept
    /// in `problem`.
    pub fn apply(&self, file: &mut FileScan) {
        if self.ignore.is_empty() {
            return;
        }
        for found in &mut file.refs {
            if !matches!(
                found.state,
                RefState::Pinned | RefState::Unpinned | RefState::Invalid
            ) {
                continue;
            }
            if let Some(rule) = self.ignore.iter().find(|r| r.covers(&file.path, found)) {
                found.state = RefState::Ignored;
                found.problem = rule.reason.clone();
            }
        }
    }
}

/// A file to scan, or a path that could not be read and why.
type Job = (PathBuf, Option<String>);

/// Walks `paths` (with none, the current directory), reads and scans every Dockerfile on all
/// cores, and hands each file's result to `each` in sorted path order as soon as it is ready.
/// Nothing is kept, so memory does not grow with the size of the tree. For reading only: no
/// [`FileScan::scanned`] fingerprints.
pub fn scan_each(
    paths: &[PathBuf],
    scope: &Scope,
    each: &mut dyn FnMut(FileScan) -> std::io::Result<()>,
) -> std::io::Result<Walk> {
    scan_each_with(paths, scope, false, each)
}

/// [`scan_each`], with fingerprints for writing when `fingerprint`.
fn scan_each_with(
    paths: &[PathBuf],
    scope: &Scope,
    fingerprint: bool,
    each: &mut dyn FnMut(FileScan) -> std::io::Result<()>,
) -> std::io::Result<Walk> {
    let (paths, implicit) = if paths.is_empty() {
        (vec![PathBuf::from(".")], true)
    } else {
        (paths.to_vec(), false)
    };
    let claims = |path: &std::path::Path| scope.kinds.claim(path).is_some();
    let mut discovery = files::discover(&paths, implicit, &scope.exclude, &claims);
    if scope.kinds.is_empty() {
        discovery.files.clear();
    }
    let mut jobs: Vec<Job> = discovery
        .errors
        .into_iter()
        .map(|(path, message)| (path, Some(message)))
        .chain(discovery.files.into_iter().map(|path| (path, None)))
        .collect();
    files::sort_paths(&mut jobs, |job| &job.0);
    // A file found by walking whose kind claims it only tentatively, and which turns out not
    // to be of that kind (does not parse, holds nothing of it), is left out quietly.
    let named: std::collections::HashSet<&PathBuf> = paths.iter().collect();
    let run = |job: Job| match job {
        (path, Some(message)) => Some(FileScan {
            kind: scope.kinds.claim(&path).map(|k| k.name()),
            path,
            refs: Vec::new(),
            error: Some(FileError {
                line: None,
                message,
            }),
            scanned: None,
        }),
        (path, None) => {
            let named = named.contains(&path);
            let tentative = !named && scope.kinds.claim(&path).is_some_and(|k| k.tentative(&path));
            let mut file = scan_file_with(path, &scope.kinds, fingerprint, named);
            let scan_error = file.error.as_ref().is_some_and(|e| e.line.is_some());
            if tentative && (scan_error || (file.error.is_none() && file.refs.is_empty())) {
                return None;
            }
            scope.apply(&mut file);
            Some(file)
        }
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(jobs.len().max(1));
    if workers <= 1 {
        for file in jobs.into_iter().filter_map(run) {
            each(file)?;
        }
        return Ok(Walk {
            empty_dirs: discovery.empty_dirs,
            skipped: discovery.skipped,
        });
    }
    // Workers take contiguous batches of the sorted list, so a file costs its open, read and
    // scan, not a hand-off: one claim, one send and at most one wake-up per batch. Batches are
    // small enough that output starts at once and every core stays busy to the end.
    let batch = (jobs.len() / (workers * 16)).clamp(1, 256);
    let mut batches: Vec<std::sync::Mutex<Vec<Job>>> = Vec::new();
    let mut jobs = jobs.into_iter().peekable();
    while jobs.peek().is_some() {
        batches.push(std::sync::Mutex::new(jobs.by_ref().take(batch).collect()));
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // A bounded channel keeps workers from racing far ahead of a slow writer.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<FileScan>)>(workers * 4);
        for _ in 0..workers {
            let tx = tx.clone();
            let (batches, next, stop, run) = (&batches, &next, &stop, &run);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= batches.len() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let jobs = std::mem::take(
                        &mut *batches[i]
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                    );
                    let scanned: Vec<FileScan> = jobs.into_iter().filter_map(run).collect();
                    if tx.send((i, scanned)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Hand batches over in order; out-of-order ones wait in a small buffer.
        let mut pending = std::collections::BTreeMap::new();
        let mut expected = 0;
        for (i, scanned) in rx {
            pending.insert(i, scanned);
            while let Some(scanned) = pending.remove(&expected) {
                expected += 1;
                for file in scanned {
                    if let Err(e) = each(file) {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(Walk {
        empty_dirs: discovery.empty_dirs,
        skipped: discovery.skipped,
    })
}

/// Walks `paths`, reads and scans every Dockerfile, keeping every result (with the
/// fingerprints that writing needs).
pub fn scan_paths(paths: &[PathBuf], scope: &Scope) -> ScanReport {
    scan_all(paths, scope, true)
}

fn scan_all(paths: &[PathBuf], scope: &Scope, fingerprint: bool) -> ScanReport {
    let mut files = Vec::new();
    let walk = scan_each_with(paths, scope, fingerprint, &mut |file| {
        files.push(file);
        Ok(())
    })
    .unwrap_or_default();
    ScanReport {
        files,
        empty_dirs: walk.empty_dirs,
        skipped: walk.skipped,
    }
}

/// Reads and scans one file as its kind (from its name, else its first bytes), a chunk at a
/// time (a regular file of at most [`files::MAX_FILE_SIZE`] bytes), taking its fingerprint as
/// it goes.
pub fn scan_file(path: PathBuf, kinds: &Kinds) -> FileScan {
    scan_file_with(path, kinds, true, true)
}

/// How much of a file whose name does not settle its kind is looked at to tell it: enough for
/// the `x-` blocks a Compose file may open with.
const SNIFF: u64 = 64 * 1024;

/// Scans one file (`named` explicitly, or found by walking) as its kind: the one claiming
/// its name, unless the name alone does not settle it ([`Kinds::needs_head`]).
fn scan_file_with(path: PathBuf, kinds: &Kinds, fingerprint: bool, named: bool) -> FileScan {
    let mut kind_name = kinds.claim(&path).map(|k| k.name());
    let scanned = files::open_regular(&path).and_then(|(file, meta)| {
        let mut reader = files::Fingerprinting::new(file, &meta, fingerprint);
        let mut head = Vec::new();
        if kinds.needs_head(&path, named) {
            std::io::Read::read_to_end(&mut std::io::Read::take(&mut reader, SNIFF), &mut head)?;
        }
        let Some(kind) = kinds.of_file(&path, named, &head) else {
            return Ok((crate::found::Scan::default(), None));
        };
        kind_name = Some(kind.name());
        let scan = kind.scan(&mut std::io::Read::chain(&head[..], &mut reader))?;
        // A file with an error is never written: no need to read the rest of it.
        let fingerprint = match scan.error {
            None => reader.finish()?,
            Some(_) => None,
        };
        Ok((scan, fingerprint))
    });
    match scanned {
        Err(e) => FileScan {
            path,
            kind: kind_name,
            refs: Vec::new(),
            error: Some(FileError {
                line: None,
                message: files::describe_io(&e),
            }),
            scanned: None,
        },
        Ok((scan, scanned)) => FileScan {
            path,
            kind: kind_name,
            refs: scan.refs,
            error: scan.error.map(|e| FileError {
                line: Some(e.line),
                message: e.message,
            }),
            scanned,
        },
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
    /// Pinned to a digest younger than `--min-age`: kept (a cooldown never moves a pin back).
    Young,
    /// The pinned digest does not exist in the registry.
    Missing,
    Skipped,
    Error,
}

/// Why a reference was skipped or failed (`reason` in JSON, as its text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// What the scan found it to be: `variable`, `split`, `ignored` (by a comment).
    State(RefState),
    /// Ignored by a config rule that says why.
    IgnoredBecause(String),
    /// Not a valid reference (why, when the grammar says).
    InvalidReference(Option<String>),
    /// `--as-of` on a registry that keeps no tag history.
    NoHistory,
    /// `--min-age`: no digest old enough.
    TooNew,
    /// `--min-age` on a registry without tag history: the image has no creation time.
    NoPublishTime,
    /// Its file was not written because of another reference or a write failure.
    NotWritten,
    /// The registry does not hold the pinned digest.
    DigestNotFound,
    /// The registry could not answer (boxed: a plan per reference stays small).
    Registry(Box<crate::registry::RegistryError>),
    /// No answer was asked for (a bug if ever seen).
    NotResolved,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::State(state) => f.write_str(state.as_str()),
            Reason::IgnoredBecause(why) => f.write_str(why),
            Reason::InvalidReference(why) => write!(
                f,
                "invalid reference: {}",
                why.as_deref().unwrap_or("invalid reference format")
            ),
            Reason::NoHistory => f.write_str("no-history"),
            Reason::TooNew => f.write_str("too-new"),
            Reason::NoPublishTime => f.write_str("no-publish-time"),
            Reason::NotWritten => f.write_str("not-written"),
            Reason::DigestNotFound => f.write_str("digest not found in registry"),
            Reason::Registry(e) => e.fmt(f),
            Reason::NotResolved => f.write_str("not resolved"),
        }
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One image reference and what happens to it.
#[derive(Debug, Clone)]
pub struct RefPlan {
    pub found: FoundRef,
    pub status: Status,
    /// Why it was skipped or failed.
    pub reason: Option<Reason>,
    /// What a person needs to know besides the status: how far behind a stale pin is (`3
    /// rebuilds behind, replaced 12 days ago`), how young a young one is, why one was skipped.
    pub detail: Option<String>,
    pub digest_before: Option<Digest>,
    pub digest_after: Option<Digest>,
    /// When `digest_after` was published, when the registry says.
    pub updated_at: Option<String>,
    /// Where `updated_at` came from.
    pub time_source: Option<TimeSource>,
    /// A young pin that a cooldown pull policy would deny (`--enforce-min-age`): a finding.
    pub denied: bool,
}

impl RefPlan {
    /// Whether `--check` reports it: a reference to pin or update, a missing digest, or a pin a
    /// cooldown policy would deny.
    pub fn is_finding(&self) -> bool {
        matches!(
            self.status,
            Status::Pinned | Status::Updated | Status::Missing
        ) || self.denied
    }
}

/// One file's plan.
#[derive(Debug)]
pub struct FilePlan {
    pub path: PathBuf,
    /// The name of its kind, as in [`FileScan::kind`].
    pub kind: Option<&'static str>,
    /// The file was (or, in `--check`/`--diff`, would be) rewritten.
    pub changed: bool,
    pub error: Option<FileError>,
    pub refs: Vec<RefPlan>,
    /// Byte edits that pin this file; empty when any of its references failed.
    pub edits: Vec<Edit>,
    /// The unified diff of the change, without colour.
    pub diff: String,
}

/// Counts over a whole run, as in the JSON `summary`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub refs: usize,
    pub pinned: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub young: usize,
    pub missing: usize,
    pub skipped: usize,
    pub errors: usize,
}

/// Counts over the files seen so far, for summaries written after streamed output.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub summary: Summary,
    /// Files with a finding (a reference to pin or update, a missing digest, a denied pin).
    pub files_with_findings: usize,
    /// References `--check` reports.
    pub findings: usize,
    /// Files rewritten (or that would be).
    pub changed: usize,
}

impl Tally {
    pub fn add(&mut self, file: &FilePlan) {
        let s = &mut self.summary;
        s.files += 1;
        if file.error.is_some() {
            s.errors += 1;
        }
        if file.changed {
            self.changed += 1;
        }
        let mut finding = false;
        for r in &file.refs {
            s.refs += 1;
            match r.status {
                Status::Pinned => s.pinned += 1,
                Status::Updated => s.updated += 1,
                Status::Unchanged => s.unchanged += 1,
                Status::Young => s.young += 1,
                Status::Missing => s.missing += 1,
                Status::Skipped => s.skipped += 1,
                Status::Error => s.errors += 1,
            }
            if r.is_finding() {
                self.findings += 1;
                finding = true;
            }
        }
        if finding {
            self.files_with_findings += 1;
        }
    }

    /// The exit status: errors outrank findings (`--check`: a reference to pin or update, a
    /// missing digest, a denied pin; `--diff`: a file that would change).
    pub fn exit_status(&self, mode: PinMode) -> ExitStatus {
        let findings = match mode {
            PinMode::Check => self.findings > 0,
            PinMode::Diff => self.changed > 0,
            PinMode::Write => false,
        };
        if self.summary.errors > 0 {
            ExitStatus::Error
        } else if findings {
            ExitStatus::Findings
        } else {
            ExitStatus::Success
        }
    }
}

/// The outcome of a `pin` run.
#[derive(Debug, Default)]
pub struct PinReport {
    pub files: Vec<FilePlan>,
    pub empty_dirs: Vec<PathBuf>,
    /// Files found by walking that are not read, with why (notices, not errors).
    pub skipped: Vec<files::Skipped>,
}

impl PinReport {
    pub fn summary(&self) -> Summary {
        self.tally().summary
    }

    pub fn tally(&self) -> Tally {
        let mut tally = Tally::default();
        for file in &self.files {
            tally.add(file);
        }
        tally
    }
}

/// `pin --check --offline`: no network. A reference without a digest would be pinned; one with
/// a digest is taken as it is.
pub fn plan_offline(scan: ScanReport) -> PinReport {
    PinReport {
        files: scan.files.into_iter().map(plan_offline_file).collect(),
        empty_dirs: scan.empty_dirs,
        skipped: scan.skipped,
    }
}

/// One file's offline plan.
pub fn plan_offline_file(file: FileScan) -> FilePlan {
    FilePlan {
        path: file.path,
        kind: file.kind,
        changed: false,
        error: file.error,
        refs: file
            .refs
            .into_iter()
            .filter(|r| r.state.is_image())
            .map(plan_offline_ref)
            .collect(),
        edits: Vec::new(),
        diff: String::new(),
    }
}

fn plan_offline_ref(found: FoundRef) -> RefPlan {
    let (status, reason) = match found.state {
        RefState::Unpinned => (Status::Pinned, None),
        RefState::Pinned => (Status::Unchanged, None),
        RefState::Invalid => (
            Status::Error,
            Some(Reason::InvalidReference(found.problem.clone())),
        ),
        // A config `[[ignore]]` rule's reason, else `ignored`.
        RefState::Ignored => (
            Status::Skipped,
            Some(match &found.problem {
                Some(why) => Reason::IgnoredBecause(why.clone()),
                None => Reason::State(RefState::Ignored),
            }),
        ),
        other => (Status::Skipped, Some(Reason::State(other))),
    };
    let digest_before = found.reference.as_ref().and_then(|r| r.digest().cloned());
    let digest_after = digest_before
        .clone()
        .filter(|_| status == Status::Unchanged);
    RefPlan {
        found,
        status,
        reason,
        detail: None,
        digest_before,
        digest_after,
        updated_at: None,
        time_source: None,
        denied: false,
    }
}

/// What `pin` does with the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    /// Rewrite files atomically.
    Write,
    /// Compute the diff only.
    Diff,
    /// Report unpinned and stale references only.
    Check,
}

/// Options of an online `pin` run.
#[derive(Debug, Clone)]
pub struct PinOptions {
    pub mode: PinMode,
    /// Which digest of each tag (`--as-of`, `--min-age`).
    pub when: When,
    /// `--min-age`, for messages about young pins.
    pub min_age: Option<jiff::SignedDuration>,
    /// A pin younger than `--min-age` is a finding and is moved back (`--enforce-min-age`).
    pub enforce_min_age: bool,
    /// Write `IMAGE@DIGEST`, dropping the tag.
    pub digest_only: bool,
    /// Leave references that already carry a digest untouched.
    pub keep_pinned: bool,
    /// The run's notion of "now", for `--min-age` and ages in messages.
    pub now: Timestamp,
    pub jobs: usize,
}

/// What planning a reference needs.
enum Need {
    /// Nothing from the network: its offline plan stands.
    Nothing,
    /// Nothing can be asked: `--as-of` on a registry without tag history, for a reference
    /// without a digest.
    NoHistory,
    Ask(Query),
}

/// The question a reference needs answered, if any.
fn need(found: &FoundRef, opts: &PinOptions) -> Need {
    if !matches!(found.state, RefState::Pinned | RefState::Unpinned) || found.span.is_none() {
        return Need::Nothing;
    }
    let Some(reference) = found.reference.as_ref() else {
        return Need::Nothing;
    };
    if found.state == RefState::Pinned && opts.keep_pinned {
        return Need::Nothing;
    }
    let (registry, repository) = (reference.registry(), reference.repository());
    let Some(tag) = reference.lookup_tag() else {
        // A digest and no tag: nothing to follow, but it must exist.
        return match reference.digest() {
            Some(digest) => Need::Ask(Query {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                target: Target::Digest(digest.clone()),
            }),
            None => Need::Nothing,
        };
    };
    if matches!(opts.when, When::AsOf(_)) && !resolve::has_tag_history(registry) {
        return match reference.digest() {
            // Already reproducible: unchanged.
            Some(_) => Need::Nothing,
            None => Need::NoHistory,
        };
    }
    Need::Ask(Query::tag(registry, repository, tag, opts.when))
}

/// The query a reference needs answered, if any.
fn query_for(found: &FoundRef, opts: &PinOptions) -> Option<Query> {
    match need(found, opts) {
        Need::Ask(query) => Some(query),
        _ => None,
    }
}

/// Decides, from the answers, what happens to every reference of a file, and its edits. A file
/// gets edits only if every reference in it resolved. Pure: no I/O; needs the answers to the
/// file's own queries only.
pub fn plan_file(file: FileScan, answers: &Resolutions, opts: &PinOptions) -> FilePlan {
    if file.error.is_some() {
        return FilePlan {
            path: file.path,
            kind: file.kind,
            changed: false,
            error: file.error,
            refs: Vec::new(),
            edits: Vec::new(),
            diff: String::new(),
        };
    }
    let mut edits = Vec::new();
    let refs: Vec<RefPlan> = file
        .refs
        .into_iter()
        .filter(|r| r.state.is_image())
        .map(|found| plan_ref(found, answers, opts, &mut edits))
        .collect();
    let mut plan = FilePlan {
        path: file.path,
        kind: file.kind,
        changed: false,
        error: None,
        refs,
        edits,
        diff: String::new(),
    };
    if plan.refs.iter().any(|r| r.status == Status::Error) {
        plan.not_written("another reference in this file failed");
    }
    plan
}

impl FilePlan {
    /// The file is not (or would not be) written: no edits, and none of its references is
    /// reported as pinned or updated.
    pub fn not_written(&mut self, why: &str) {
        self.edits.clear();
        self.changed = false;
        self.diff.clear();
        for r in &mut self.refs {
            if matches!(r.status, Status::Pinned | Status::Updated) {
                r.status = Status::Skipped;
                r.reason = Some(Reason::NotWritten);
                r.detail = Some(format!("file not written: {why}"));
            }
        }
    }
}

fn plan_ref(
    found: FoundRef,
    answers: &Resolutions,
    opts: &PinOptions,
    edits: &mut Vec<Edit>,
) -> RefPlan {
    let mut plan = plan_offline_ref(found);
    let query = match need(&plan.found, opts) {
        Need::Nothing => return plan,
        Need::NoHistory => {
            let registry = plan.found.reference.as_ref().map_or("", |r| r.registry());
            plan.status = Status::Skipped;
            plan.reason = Some(Reason::NoHistory);
            plan.detail = Some(format!(
                "registry {registry} keeps no tag history, so --as-of cannot apply; left unpinned"
            ));
            return plan;
        }
        Need::Ask(query) => query,
    };
    let (Some(reference), Some(span)) = (plan.found.reference.clone(), plan.found.span.clone())
    else {
        return plan;
    };
    let answer = match answers.get(&query) {
        None => Err(Reason::NotResolved),
        Some(Err(e)) => Err(Reason::Registry(Box::new(e.clone()))),
        Some(Ok(answer)) => Ok(answer),
    };
    let decision = match answer {
        Err(reason) => Decision::Error(reason),
        Ok(Resolution::Digest(existence)) => match existence {
            Existence::Exists => Decision::Keep,
            Existence::Missing => Decision::Missing,
            Existence::Failed(e) => Decision::Error(Reason::Registry(Box::new(e.clone()))),
        },
        Ok(Resolution::History(history)) => decide_history(history, &query, &mut plan, opts),
        Ok(Resolution::Current { digest, published }) => {
            decide_current(digest, published.as_ref(), &mut plan, opts)
        }
    };
    match decision {
        Decision::Keep => {
            plan.status = Status::Unchanged;
            plan.digest_after = plan.digest_before.clone();
        }
        Decision::Young { denied } => {
            plan.status = Status::Young;
            plan.digest_after = plan.digest_before.clone();
            plan.denied = denied;
        }
        Decision::Missing => {
            plan.status = Status::Missing;
            plan.reason = Some(Reason::DigestNotFound);
            plan.digest_after = None;
        }
        Decision::Skip(reason) => {
            plan.status = Status::Skipped;
            plan.reason = Some(reason);
            plan.digest_after = plan.digest_before.clone();
        }
        Decision::Error(reason) => {
            plan.status = Status::Error;
            plan.reason = Some(reason);
        }
        Decision::PinTo(digest) => {
            plan.status = match plan.digest_before {
                None => Status::Pinned,
                Some(_) => Status::Updated,
            };
            // A reference without a tag follows `latest` and gains it, so it can be refreshed.
            let keep_tag = !opts.digest_only;
            let replacement = match (reference.tag(), keep_tag) {
                (None, true) => format!("{}:latest@{digest}", reference.name()),
                _ => reference.pinned_to(&digest, keep_tag),
            };
            edits.push(Edit { span, replacement });
            plan.digest_after = Some(digest);
        }
    }
    plan
}

/// What happens to one reference, once its question is answered.
enum Decision {
    /// It stays as it is, rightly: `unchanged`.
    Keep,
    /// Pinned to a digest younger than `--min-age`; kept unless enforced.
    Young {
        denied: bool,
    },
    Missing,
    Skip(Reason),
    Error(Reason),
    /// Write this digest.
    PinTo(Digest),
}

/// Decides from a tag history. Fills in the plan's publish time and detail.
fn decide_history(
    history: &HistoryAnswer,
    query: &Query,
    plan: &mut RefPlan,
    opts: &PinOptions,
) -> Decision {
    let tag = match &query.target {
        Target::Tag { tag, .. } => tag.as_str(),
        Target::Digest(_) => "",
    };
    let candidate = history.answer();
    let publish = |plan: &mut RefPlan, entry: &crate::registry::history::HistoryEntry| {
        plan.updated_at = Some(entry.timestamp_text.clone());
        plan.time_source = Some(TimeSource::TagHistory);
    };
    let Some(old) = plan.digest_before.clone() else {
        return match candidate {
            Some(entry) => {
                publish(plan, entry);
                Decision::PinTo(entry.digest.clone())
            }
            None => {
                plan.detail = Some(too_new_detail(history, opts));
                Decision::Skip(Reason::TooNew)
            }
        };
    };
    if let Some(entry) = candidate.filter(|e| e.digest == old) {
        publish(plan, entry);
        return Decision::Keep;
    }
    // Pinned to a digest published after the cut-off: young. A cooldown delays updates; it
    // never moves a pin back in time, unless a pull policy would deny the young image.
    if let (When::MinAge(cutoff), Some(seen)) = (opts.when, history.first_seen(&old)) {
        if seen.updated_at > cutoff {
            publish(plan, seen);
            plan.detail = Some(young_detail(seen.updated_at, opts));
            return match candidate {
                Some(entry) if opts.enforce_min_age && opts.mode != PinMode::Check => {
                    publish(plan, entry);
                    Decision::PinTo(entry.digest.clone())
                }
                _ => Decision::Young {
                    denied: opts.enforce_min_age,
                },
            };
        }
    }
    match history.checked.get(&old) {
        Some(Existence::Missing) if candidate.is_none() => return Decision::Missing,
        Some(Existence::Failed(e)) => {
            return Decision::Error(Reason::Registry(Box::new(e.clone())));
        }
        _ => {}
    }
    let Some(entry) = candidate else {
        plan.detail = Some(too_new_detail(history, opts));
        return Decision::Skip(Reason::TooNew);
    };
    publish(plan, entry);
    plan.detail = match history.checked.get(&old) {
        Some(Existence::Missing) => Some("pinned digest not found in registry".into()),
        _ => history.behind(&old, tag, opts.now),
    };
    Decision::PinTo(entry.digest.clone())
}

/// Decides from a registry without tag history: its current digest and, under `--min-age`,
/// its image's creation time.
fn decide_current(
    digest: &Digest,
    published: Option<&crate::registry::Published>,
    plan: &mut RefPlan,
    opts: &PinOptions,
) -> Decision {
    let When::MinAge(cutoff) = opts.when else {
        return match &plan.digest_before {
            Some(old) if old == digest => Decision::Keep,
            _ => Decision::PinTo(digest.clone()),
        };
    };
    let Some(published) = published else {
        if plan.digest_before.as_ref() == Some(digest) {
            return Decision::Keep;
        }
        plan.detail = Some(
            "the image config has no creation time (or the Unix epoch), so its age is unknown"
                .into(),
        );
        return Decision::Skip(Reason::NoPublishTime);
    };
    plan.updated_at = Some(published.text.clone());
    plan.time_source = Some(TimeSource::ImageConfig);
    let current = plan.digest_before.as_ref() == Some(digest);
    if published.at <= cutoff {
        return if current {
            Decision::Keep
        } else {
            Decision::PinTo(digest.clone())
        };
    }
    plan.detail = Some(young_detail(published.at, opts));
    if current {
        // No older digest is known on this registry: a young pin stays, enforced or not.
        Decision::Young {
            denied: opts.enforce_min_age,
        }
    } else {
        Decision::Skip(Reason::TooNew)
    }
}

/// `young: 1 day old, 6 days to go` (and what a cooldown policy would do, when enforced).
fn young_detail(published: Timestamp, opts: &PinOptions) -> String {
    let age = opts.now.as_second() - published.as_second();
    let min_age = opts.min_age.map_or(0, |d| d.as_secs());
    let text = format!(
        "young: {} old, {} to go",
        crate::timespec::human_age(age),
        crate::timespec::human_age(min_age - age)
    );
    if opts.enforce_min_age {
        format!(
            "{text}; younger than {}: a cooldown policy would deny it",
            crate::timespec::human_age(min_age)
        )
    } else {
        text
    }
}

/// Why nothing is old enough under `--min-age`.
fn too_new_detail(history: &HistoryAnswer, opts: &PinOptions) -> String {
    let min_age = opts.min_age.map_or(0, |d| d.as_secs());
    match history.window.entries.first() {
        Some(first) => format!(
            "every digest of the tag is younger than {} (the oldest known is {} old)",
            crate::timespec::human_age(min_age),
            crate::timespec::human_age(opts.now.as_second() - first.updated_at.as_second())
        ),
        None => format!(
            "no digest of the tag is older than {}",
            crate::timespec::human_age(min_age)
        ),
    }
}

/// Threads that read, diff and write files.
const WRITERS: usize = 4;

/// Applies one file's edits: reads it again, checks it is still exactly what was `scanned`,
/// computes the diff and, in [`PinMode::Write`], writes it atomically. A failure (a file
/// changed since it was read: another run, an editor) becomes the file's error.
pub fn apply_one(file: &mut FilePlan, scanned: Option<&files::Fingerprint>, mode: PinMode) {
    if file.edits.is_empty() {
        return;
    }
    if mode == PinMode::Check {
        file.changed = true;
        return;
    }
    if let Err(message) = apply_file(file, scanned, mode) {
        file.not_written(&message);
        file.error = Some(FileError {
            line: None,
            message,
        });
    }
}

fn apply_file(
    file: &mut FilePlan,
    scanned: Option<&files::Fingerprint>,
    mode: PinMode,
) -> Result<(), String> {
    let scanned = scanned.ok_or_else(|| files::WriteError::Changed.to_string())?;
    // Read, verify, compute, write the temporary file, rename: as late as possible.
    let verified = files::read_verified(&file.path, scanned).map_err(|e| e.to_string())?;
    let before = &verified.bytes;
    let after = rewrite::apply(before, &file.edits).map_err(|e| e.to_string())?;
    if after == *before {
        return Ok(());
    }
    let (old, new) = (
        String::from_utf8_lossy(before),
        String::from_utf8_lossy(&after),
    );
    file.diff = crate::diff::unified(&crate::display::display_path(&file.path), &old, &new, false);
    file.changed = true;
    if mode == PinMode::Write {
        files::replace(&verified, &after).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `pin` end to end: scan, resolve every distinct reference (on `runtime`, the only async
/// part), plan, then diff or write. With a `cache`, earlier runs' tag histories and anonymous
/// tokens are used and the new ones kept; cache files are read before and written after the
/// network work.
pub fn pin(
    paths: &[PathBuf],
    scope: &Scope,
    client: &Client,
    opts: &PinOptions,
    cache: Option<&Cache>,
    runtime: &tokio::runtime::Runtime,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> PinReport {
    let ScanReport {
        files,
        empty_dirs,
        skipped,
    } = scan_all(paths, scope, opts.mode != PinMode::Check);
    // Each file is planned and written as soon as the last of its queries is answered, on
    // writer threads, while the other queries are still on the network.
    let (mut unanswered, waiting, verify) = waiting_files(&files, opts);
    let queries: Vec<Query> = waiting.keys().cloned().collect();
    let registries: BTreeSet<String> = queries.iter().map(|q| q.registry.clone()).collect();
    let cached = cache.map(|c| load_cache(c, client, &queries, &registries, opts.now));
    let known = resolve::Known {
        cached: cached.unwrap_or_default(),
        verify,
    };
    let mut files: Vec<Option<FileScan>> = files.into_iter().map(Some).collect();
    let (queue, receiver) = std::sync::mpsc::channel::<Queued>();
    let receiver = std::sync::Mutex::new(receiver);
    let (mut planned, records) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| scope.spawn(|| write_queued(&receiver, opts.mode)))
            .collect();
        let mut send = |i: usize, answers: &Resolutions| {
            if let Some(mut file) = files[i].take() {
                let scanned = file.scanned.take();
                // A send fails only when every writer is gone, i.e. has panicked: joined below.
                let _ = queue.send((i, plan_file(file, answers, opts), scanned));
            }
        };
        let no_answers = Resolutions::new();
        for i in (0..unanswered.len()).filter(|i| unanswered[*i] == 0) {
            send(i, &no_answers);
        }
        let (answers, records) = runtime.block_on(resolve::resolve_all(
            client,
            queries,
            opts.jobs,
            opts.now,
            &known,
            progress,
            &mut |query, answers| {
                for &i in waiting.get(query).into_iter().flatten() {
                    unanswered[i] -= 1;
                    if unanswered[i] == 0 {
                        send(i, answers);
                    }
                }
            },
        ));
        for i in 0..unanswered.len() {
            send(i, &answers);
        }
        drop(queue);
        let planned: Vec<(usize, FilePlan)> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (planned, records)
    });
    if let Some(cache) = cache {
        save_cache(cache, client, &records, &registries, opts.now);
    }
    planned.sort_unstable_by_key(|(i, _)| *i);
    PinReport {
        files: planned.into_iter().map(|(_, plan)| plan).collect(),
        empty_dirs,
        skipped,
    }
}

/// Pinned digests to verify, by the tag query that may or may not vouch for them.
type Verify = BTreeMap<Query, BTreeSet<Digest>>;

/// For each file, how many distinct queries it needs; for each distinct query (in a stable
/// order), the files that need it; and the pinned digests of each tag query. Files that could
/// not be scanned need none.
fn waiting_files(
    files: &[FileScan],
    opts: &PinOptions,
) -> (Vec<usize>, BTreeMap<Query, Vec<usize>>, Verify) {
    let mut unanswered = vec![0; files.len()];
    let mut waiting: BTreeMap<Query, Vec<usize>> = BTreeMap::new();
    let mut verify = Verify::new();
    for (i, file) in files.iter().enumerate().filter(|(_, f)| f.error.is_none()) {
        let mut mine = BTreeSet::new();
        for r in &file.refs {
            let Some(query) = query_for(r, opts) else {
                continue;
            };
            let pinned = r.reference.as_ref().and_then(|r| r.digest());
            if let (Target::Tag { .. }, Some(digest)) = (&query.target, pinned) {
                verify
                    .entry(query.clone())
                    .or_default()
                    .insert(digest.clone());
            }
            mine.insert(query);
        }
        unanswered[i] = mine.len();
        for query in mine {
            waiting.entry(query).or_default().push(i);
        }
    }
    (unanswered, waiting, verify)
}

/// Seeds the client with cached tokens and returns the cached tag histories.
fn load_cache(
    cache: &Cache,
    client: &Client,
    queries: &[Query],
    registries: &BTreeSet<String>,
    now: Timestamp,
) -> HashMap<resolve::TagKey, HistoryRecord> {
    for registry in registries {
        if let Some(auth) = cache.auth(&client.base_url(registry), now) {
            client.seed_auth(registry, &auth, now);
        }
    }
    queries
        .iter()
        .filter(|q| resolve::has_tag_history(&q.registry))
        .filter_map(|q| {
            let key = q.tag_key()?;
            let record = cache.history(&client.base_url(&key.0), &key.1, &key.2)?;
            Some((key, record))
        })
        .collect()
}

/// Keeps this run's new tag histories and tokens for the next run.
fn save_cache(
    cache: &Cache,
    client: &Client,
    records: &[(resolve::TagKey, HistoryRecord)],
    registries: &BTreeSet<String>,
    now: Timestamp,
) {
    for ((registry, repository, tag), record) in records {
        cache.store_history(&client.base_url(registry), repository, tag, record);
    }
    for registry in registries {
        if let Some(auth) = client.export_auth(registry, now) {
            cache.store_auth(&client.base_url(registry), &auth);
        }
    }
}

/// A file's plan on its way to a writer thread: its index, its plan, what it held when scanned.
type Queued = (usize, FilePlan, Option<files::Fingerprint>);

/// A writer thread: applies queued file plans until the queue closes.
fn write_queued(
    queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Queued>>,
    mode: PinMode,
) -> Vec<(usize, FilePlan)> {
    let mut done = Vec::new();
    loop {
        let next = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok((i, mut plan, scanned)) = next else {
            return done;
        };
        apply_one(&mut plan, scanned.as_ref(), mode);
        done.push((i, plan));
    }
}
