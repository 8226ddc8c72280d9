//! The pipeline behind the commands: discover files → read → scan → plan what `pin` would do.
//! Never prints; returns structured outcomes that `report` renders.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;

use crate::ExitStatus;
use crate::cache::{Cache, HistoryRecord};
use crate::digest::Digest;
use crate::dockerfile::{self, ImageRef, RefState};
use crate::files;
use crate::registry::Client;
use crate::resolve::{self, Query, Resolutions};
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
    pub refs: Vec<ImageRef>,
    pub error: Option<FileError>,
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
}

/// What walking found besides files.
#[derive(Debug, Default)]
pub struct Walk {
    /// Directories given on the command line that held no Dockerfile.
    pub empty_dirs: Vec<PathBuf>,
}

/// What a run reads and what it leaves alone on purpose (the config file's `exclude`, `kinds`
/// and `[[ignore]]`). The default reads everything.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Paths a walk leaves out.
    pub exclude: files::PathPatterns,
    /// The file kinds to read; `None` reads every kind.
    pub kinds: Option<Vec<String>>,
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
    pub fn covers(&self, path: &std::path::Path, found: &ImageRef) -> bool {
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
    /// Whether files of `kind` are read.
    pub fn reads(&self, kind: &str) -> bool {
        self.kinds
            .as_ref()
            .is_none_or(|kinds| kinds.iter().any(|k| k == kind))
    }

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
/// Nothing is kept, so memory does not grow with the size of the tree.
pub fn scan_each(
    paths: &[PathBuf],
    scope: &Scope,
    each: &mut dyn FnMut(FileScan) -> std::io::Result<()>,
) -> std::io::Result<Walk> {
    let (paths, implicit) = if paths.is_empty() {
        (vec![PathBuf::from(".")], true)
    } else {
        (paths.to_vec(), false)
    };
    let mut discovery = files::discover(&paths, implicit, &scope.exclude);
    if !scope.reads("dockerfile") {
        discovery.files.clear();
    }
    let mut jobs: Vec<Job> = discovery
        .errors
        .into_iter()
        .map(|(path, message)| (path, Some(message)))
        .chain(discovery.files.into_iter().map(|path| (path, None)))
        .collect();
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    let run = |job: Job| match job {
        (path, Some(message)) => FileScan {
            path,
            refs: Vec::new(),
            error: Some(FileError {
                line: None,
                message,
            }),
        },
        (path, None) => {
            let mut file = scan_file(path);
            scope.apply(&mut file);
            file
        }
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(jobs.len().max(1));
    if workers <= 1 {
        for job in jobs {
            each(run(job))?;
        }
        return Ok(Walk {
            empty_dirs: discovery.empty_dirs,
        });
    }
    let slots: Vec<std::sync::Mutex<Option<Job>>> = jobs
        .into_iter()
        .map(|j| std::sync::Mutex::new(Some(j)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // A bounded channel keeps workers from racing far ahead of a slow writer.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, FileScan)>(256);
        for _ in 0..workers {
            let tx = tx.clone();
            let (slots, next, stop, run) = (&slots, &next, &stop, &run);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= slots.len() || stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let job = slots[i].lock().ok().and_then(|mut s| s.take());
                    if let Some(job) = job {
                        if tx.send((i, run(job))).is_err() {
                            break;
                        }
                    }
                }
            });
        }
        drop(tx);
        // Hand results over in order; out-of-order ones wait in a small buffer.
        let mut pending = std::collections::BTreeMap::new();
        let mut expected = 0;
        for (i, file) in rx {
            pending.insert(i, file);
            while let Some(file) = pending.remove(&expected) {
                expected += 1;
                if let Err(e) = each(file) {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(())
    })?;
    Ok(Walk {
        empty_dirs: discovery.empty_dirs,
    })
}

/// Walks `paths`, reads and scans every Dockerfile, keeping every result.
pub fn scan_paths(paths: &[PathBuf], scope: &Scope) -> ScanReport {
    let mut files = Vec::new();
    let walk = scan_each(paths, scope, &mut |file| {
        files.push(file);
        Ok(())
    })
    .unwrap_or_default();
    ScanReport {
        files,
        empty_dirs: walk.empty_dirs,
    }
}

/// Reads and scans one file, a chunk at a time.
pub fn scan_file(path: PathBuf) -> FileScan {
    let scanned = std::fs::File::open(&path).and_then(dockerfile::scan_reader);
    match scanned {
        Err(e) => FileScan {
            path,
            refs: Vec::new(),
            error: Some(FileError {
                line: None,
                message: files::describe_io(&e),
            }),
        },
        Ok(scan) => FileScan {
            path,
            refs: scan.refs,
            error: scan.error.map(|e| FileError {
                line: Some(e.line),
                message: e.message,
            }),
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
    /// For a stale pin, how far behind it is (`3 rebuilds behind, replaced 12 days ago`).
    pub behind: Option<String>,
    pub digest_before: Option<Digest>,
    pub digest_after: Option<Digest>,
    /// When `digest_after` was published, when the registry says.
    pub updated_at: Option<String>,
}

/// One file's plan.
#[derive(Debug)]
pub struct FilePlan {
    pub path: PathBuf,
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
    pub skipped: usize,
    pub errors: usize,
}

/// Counts over the files seen so far, for summaries written after streamed output.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub summary: Summary,
    /// Files with a reference to pin or update.
    pub files_with_findings: usize,
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
                Status::Skipped => s.skipped += 1,
                Status::Error => s.errors += 1,
            }
            finding |= matches!(r.status, Status::Pinned | Status::Updated);
        }
        if finding {
            self.files_with_findings += 1;
        }
    }

    /// The exit status: errors outrank findings (`--check`: a reference to pin or update;
    /// `--diff`: a file that would change).
    pub fn exit_status(&self, mode: PinMode) -> ExitStatus {
        let findings = match mode {
            PinMode::Check => self.summary.pinned + self.summary.updated > 0,
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
    }
}

/// One file's offline plan.
pub fn plan_offline_file(file: FileScan) -> FilePlan {
    FilePlan {
        path: file.path,
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
        // A config `[[ignore]]` rule's reason, else `ignored`.
        RefState::Ignored => (
            Status::Skipped,
            Some(found.problem.clone().unwrap_or_else(|| "ignored".into())),
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
        behind: None,
        digest_before,
        digest_after,
        updated_at: None,
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
    /// Pin to the digest current at this time (`--as-of`, `--min-age`).
    pub cutoff: Option<Timestamp>,
    /// Write `IMAGE@DIGEST`, dropping the tag.
    pub digest_only: bool,
    /// Leave references that already carry a digest untouched.
    pub keep_pinned: bool,
    /// The run's notion of "now", for `--min-age` and ages in messages.
    pub now: Timestamp,
    pub jobs: usize,
}

/// The query a reference needs answered, if any.
fn query_for(found: &ImageRef, opts: &PinOptions) -> Option<Query> {
    if !matches!(found.state, RefState::Pinned | RefState::Unpinned) || found.span.is_none() {
        return None;
    }
    let reference = found.reference.as_ref()?;
    if found.state == RefState::Pinned && opts.keep_pinned {
        return None;
    }
    Some(Query {
        registry: reference.registry().to_owned(),
        repository: reference.repository().to_owned(),
        tag: reference.lookup_tag()?.to_owned(),
        cutoff: opts.cutoff,
    })
}

/// Decides, from the answers, what happens to every reference of a file, and its edits. A file
/// gets edits only if every reference in it resolved. Pure: no I/O; needs the answers to the
/// file's own queries only.
pub fn plan_file(file: FileScan, answers: &Resolutions, opts: &PinOptions) -> FilePlan {
    if file.error.is_some() {
        return FilePlan {
            path: file.path,
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
    if refs.iter().any(|r| r.status == Status::Error) {
        edits.clear();
    }
    FilePlan {
        path: file.path,
        changed: false,
        error: None,
        refs,
        edits,
        diff: String::new(),
    }
}

fn plan_ref(
    found: ImageRef,
    answers: &Resolutions,
    opts: &PinOptions,
    edits: &mut Vec<Edit>,
) -> RefPlan {
    let mut plan = plan_offline_ref(found);
    let Some(query) = query_for(&plan.found, opts) else {
        return plan;
    };
    let (Some(reference), Some(span)) = (plan.found.reference.clone(), plan.found.span.clone())
    else {
        return plan;
    };
    match answers.get(&query) {
        None => {
            plan.status = Status::Error;
            plan.reason = Some("not resolved".into());
        }
        Some(Err(e)) => {
            plan.status = Status::Error;
            plan.reason = Some(e.to_string());
        }
        Some(Ok(answer)) => {
            plan.updated_at = answer.updated_at.clone();
            plan.digest_after = Some(answer.digest.clone());
            let status = match reference.digest() {
                Some(old) if *old == answer.digest => Status::Unchanged,
                Some(old) => {
                    plan.behind = answer.behind(old, opts.now);
                    Status::Updated
                }
                None => Status::Pinned,
            };
            plan.status = status;
            if status != Status::Unchanged {
                edits.push(Edit {
                    span,
                    replacement: reference.pinned_to(&answer.digest, !opts.digest_only),
                });
            }
        }
    }
    plan
}

/// Threads that read, diff and write files.
const WRITERS: usize = 4;

/// Applies one file's edits: reads it, checks the references are still where they were,
/// computes the diff and, in [`PinMode::Write`], writes it atomically. A failure becomes the
/// file's error.
pub fn apply_one(file: &mut FilePlan, mode: PinMode) {
    if file.edits.is_empty() {
        return;
    }
    if mode == PinMode::Check {
        file.changed = true;
        return;
    }
    if let Err(message) = apply_file(file, mode) {
        file.error = Some(FileError {
            line: None,
            message,
        });
        file.changed = false;
        file.diff.clear();
    }
}

fn apply_file(file: &mut FilePlan, mode: PinMode) -> Result<(), String> {
    let before = std::fs::read(&file.path).map_err(|e| files::describe_io(&e))?;
    let still_there = file.refs.iter().all(|r| match &r.found.span {
        Some(span) if file.edits.iter().any(|e| e.span == *span) => {
            before.get(span.clone()) == Some(r.found.original.as_bytes())
        }
        _ => true,
    });
    if !still_there {
        return Err("file changed while digestpin was running; not written".into());
    }
    let after = rewrite::apply(&before, &file.edits).map_err(|e| e.to_string())?;
    if after == before {
        return Ok(());
    }
    let (old, new) = (
        String::from_utf8_lossy(&before),
        String::from_utf8_lossy(&after),
    );
    file.diff = crate::diff::unified(&crate::report::display_path(&file.path), &old, &new, false);
    file.changed = true;
    if mode == PinMode::Write {
        files::write_atomic(&file.path, &after)
            .map_err(|e| format!("cannot write: {}", files::describe_io(&e)))?;
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
    let ScanReport { files, empty_dirs } = scan_paths(paths, scope);
    // Each file is planned and written as soon as the last of its queries is answered, on
    // writer threads, while the other queries are still on the network.
    let (mut unanswered, waiting) = waiting_files(&files, opts);
    let queries: Vec<Query> = waiting.keys().cloned().collect();
    let registries: BTreeSet<String> = queries.iter().map(|q| q.registry.clone()).collect();
    let cached = cache.map(|c| load_cache(c, client, &queries, &registries, opts.now));
    let cached = cached.unwrap_or_default();
    let mut files: Vec<Option<FileScan>> = files.into_iter().map(Some).collect();
    let (queue, receiver) = std::sync::mpsc::channel::<(usize, FilePlan)>();
    let receiver = std::sync::Mutex::new(receiver);
    let (mut planned, records) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| scope.spawn(|| write_queued(&receiver, opts.mode)))
            .collect();
        let mut send = |i: usize, answers: &Resolutions| {
            if let Some(file) = files[i].take() {
                // A send fails only when every writer is gone, i.e. has panicked: joined below.
                let _ = queue.send((i, plan_file(file, answers, opts)));
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
            &cached,
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
    }
}

/// For each file, how many distinct queries it needs; for each distinct query (in a stable
/// order), the files that need it. Files that could not be scanned need none.
fn waiting_files(
    files: &[FileScan],
    opts: &PinOptions,
) -> (Vec<usize>, BTreeMap<Query, Vec<usize>>) {
    let mut unanswered = vec![0; files.len()];
    let mut waiting: BTreeMap<Query, Vec<usize>> = BTreeMap::new();
    for (i, file) in files.iter().enumerate().filter(|(_, f)| f.error.is_none()) {
        let mine: BTreeSet<Query> = file
            .refs
            .iter()
            .filter_map(|r| query_for(r, opts))
            .collect();
        unanswered[i] = mine.len();
        for query in mine {
            waiting.entry(query).or_default().push(i);
        }
    }
    (unanswered, waiting)
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
        .filter(|q| q.registry == resolve::TAG_HISTORY_REGISTRY)
        .filter_map(|q| {
            let record = cache.history(&client.base_url(&q.registry), &q.repository, &q.tag)?;
            Some((q.tag_key(), record))
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

/// A writer thread: applies queued file plans until the queue closes.
fn write_queued(
    queue: &std::sync::Mutex<std::sync::mpsc::Receiver<(usize, FilePlan)>>,
    mode: PinMode,
) -> Vec<(usize, FilePlan)> {
    let mut done = Vec::new();
    loop {
        let next = queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok((i, mut plan)) = next else {
            return done;
        };
        apply_one(&mut plan, mode);
        done.push((i, plan));
    }
}
