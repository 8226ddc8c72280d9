//! Finding Dockerfiles, reading them safely, and writing them back safely.
//!
//! Directories are walked with the `ignore` crate (honouring `.gitignore` and `.ignore`, even
//! outside a git repository, and skipping version-control folders such as `.git`, but not other
//! hidden ones: `.github/` holds workflows) for the names the file kinds claim; a file
//! named explicitly is always read, whatever its name, but it must be a regular file. The
//! config file's `exclude` patterns prune what a walk finds (never a path named on the
//! command line itself).
//!
//! Walking never leaves the directory it walks: a symlink whose target (resolved) is outside
//! it, dangles, or is not a regular file is not read but reported as [`Skipped`] (a notice, not
//! an error). Only regular files are read (opened non-blocking, so a FIFO swapped in never
//! blocks), and at most [`MAX_FILE_SIZE`] bytes of each: a larger one is an error naming it.
//!
//! While a file is scanned its length and SHA-256 are taken ([`Fingerprint`]). Before writing,
//! the file is read again and must be exactly those bytes, else it "changed since it was read"
//! and is not written: another `pin` run, an editor or a `git checkout` got there first. The
//! new contents go to a temporary file in the same directory (registered so a signal handler
//! can remove it, see [`remove_temp_files`]) with the original's owner, group and permissions;
//! the file is checked once more (same inode, length and modification time) and the temporary
//! file is renamed over it, so a reader never sees half a file. The rename replaces the
//! directory entry: a file with several hard links is split off from its other names, which
//! keep the old contents (writing in place instead would give up atomicity). (Not fsynced:
//! durability across a power cut is left to the filesystem, as git and most editors do for
//! working-tree files.)

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest as _, Sha256};

/// The largest file digestpin reads (64 MiB); a larger one is an error. Dockerfiles are a few
/// kilobytes; the cap keeps a device, a runaway generated file or one endless line from
/// exhausting memory.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// A file found by walking that is not read, and why (a notice, not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What walking the given paths found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to scan, sorted by path, without duplicates.
    pub files: Vec<PathBuf>,
    /// Paths that could not be read or walked, with why.
    pub errors: Vec<(PathBuf, String)>,
    /// Directories that held no Dockerfile.
    pub empty_dirs: Vec<PathBuf>,
    /// Dockerfile names found by walking that are not read (symlinks out of the tree, FIFOs,
    /// devices), sorted by path.
    pub skipped: Vec<Skipped>,
}

/// Gitignore-style path patterns relative to a root directory (the config file's): `exclude`
/// and the `path` of an `[[ignore]]` rule. `fixtures/` matches that directory at any depth,
/// `/fixtures` only at the root, `**/*.dev.Dockerfile` any such file.
#[derive(Debug, Clone, Default)]
pub struct PathPatterns {
    matcher: Option<ignore::gitignore::Gitignore>,
    /// The directory relative paths are taken from (the process's working directory).
    cwd: PathBuf,
}

impl PathPatterns {
    /// Compiles `patterns`, taken relative to `root`; the error names the bad pattern.
    pub fn new(root: &Path, patterns: &[String]) -> Result<Self, String> {
        let cwd = std::env::current_dir().unwrap_or_default();
        let root: PathBuf = cwd.join(root).components().collect();
        let mut builder = ignore::gitignore::GitignoreBuilder::new(root);
        for pattern in patterns {
            builder
                .add_line(None, pattern)
                .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))?;
        }
        let matcher = builder.build().map_err(|e| e.to_string())?;
        Ok(PathPatterns {
            matcher: Some(matcher),
            cwd,
        })
    }

    /// Whether `path` (relative to the working directory, or absolute) matches. A path
    /// outside the root never does.
    pub fn matches(&self, path: &Path, is_dir: bool) -> bool {
        let Some(matcher) = &self.matcher else {
            return false;
        };
        // `components` drops the `.` of `./a` (the matcher compares bytes).
        let path: PathBuf = self.cwd.join(path).components().collect();
        path.starts_with(matcher.path()) && matcher.matched(&path, is_dir).is_ignore()
    }

    /// Whether the file at `path`, or a directory it is in, matches (`legacy/` covers
    /// `legacy/app/Dockerfile`).
    pub fn covers(&self, path: &Path) -> bool {
        let Some(matcher) = &self.matcher else {
            return false;
        };
        let path: PathBuf = self.cwd.join(path).components().collect();
        path.starts_with(matcher.path())
            && matcher
                .matched_path_or_any_parents(&path, false)
                .is_ignore()
    }
}

/// Walks `paths` (files or directories). With `strip_dot`, a leading `./` is dropped from
/// what is found (used when walking the implicit current directory). Inside a walked
/// directory, entries matching `exclude` are left out (a path given itself is never).
pub fn discover(
    paths: &[PathBuf],
    strip_dot: bool,
    exclude: &PathPatterns,
    claims: &(dyn Fn(&Path) -> bool + Sync),
) -> Discovery {
    let mut found = Discovery::default();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => found.errors.push((path.clone(), describe_io(&e))),
            Ok(meta) if meta.is_dir() => {
                let before = found.files.len() + found.skipped.len();
                walk_dir(path, strip_dot, exclude, claims, &mut found);
                if found.files.len() + found.skipped.len() == before {
                    found.empty_dirs.push(path.clone());
                }
            }
            Ok(meta) if meta.is_file() => found.files.push(path.clone()),
            Ok(meta) => found
                .errors
                .push((path.clone(), not_regular(&meta.file_type()))),
        }
    }
    sort_dedup_paths(&mut found.files);
    found.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    found.skipped.dedup();
    found
}

/// Sorts `items` by the path `key` gives, in [`Path`]'s order (component by component, so
/// `a/b` comes before `a-b/c`), comparing bytes when every path is plain: the same order
/// without splitting each path into components at every comparison. Returns whether they were
/// all plain.
pub fn sort_paths<T>(items: &mut [T], key: impl Fn(&T) -> &Path) -> bool {
    if !items.iter().all(|item| is_plain(key(item))) {
        items.sort_by(|a, b| key(a).cmp(key(b)));
        return false;
    }
    // The bytes every path starts with (the directory walked) need no comparing.
    let skip = items.split_first().map_or(0, |(first, rest)| {
        let first = path_bytes(key(first));
        rest.iter().fold(first.len(), |common, item| {
            let bytes = path_bytes(key(item));
            common_prefix(&first[..common], &bytes[..common.min(bytes.len())])
        })
    });
    items.sort_by(|a, b| cmp_plain(&path_bytes(key(a))[skip..], &path_bytes(key(b))[skip..]));
    true
}

/// Sorts and removes duplicates, as `sort` and `dedup` would.
pub fn sort_dedup_paths(paths: &mut Vec<PathBuf>) {
    if sort_paths(paths, |p| p) {
        // Plain paths are the same path exactly when they are the same bytes.
        paths.dedup_by(|a, b| path_bytes(a) == path_bytes(b));
    } else {
        paths.dedup();
    }
}

/// The length of the bytes `a` and `b` start with.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let word = |s: &[u8]| u64::from_ne_bytes(s.try_into().unwrap_or_default());
    let mut i = a
        .chunks_exact(8)
        .zip(b.chunks_exact(8))
        .take_while(|(x, y)| word(x) == word(y))
        .count()
        * 8;
    let common = a.len().min(b.len());
    while i < common && a[i] == b[i] {
        i += 1;
    }
    i
}

fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_encoded_bytes()
}

/// A path whose bytes order as its components do: `/`-separated (Unix), no empty component
/// but a leading root (`//`, a trailing `/`), no `.` or `..` component (which order before
/// any name).
fn is_plain(path: &Path) -> bool {
    if !cfg!(unix) {
        return false;
    }
    let bytes = path_bytes(path);
    let body = bytes.strip_prefix(b"/").unwrap_or(bytes);
    !body.is_empty()
        && body
            .split(|b| *b == b'/')
            .all(|c| !matches!(c, b"" | b"." | b".."))
}

/// Two plain paths (or what follows the same bytes in both) in component order: bytes, but `/`
/// before any other byte (a component that is a prefix of the other's sorts first, as the
/// shorter name).
fn cmp_plain(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let i = common_prefix(a, b);
    let rank = |byte: Option<&u8>| match byte {
        None => 0,
        Some(b'/') => 1,
        Some(&b) => u16::from(b) + 2,
    };
    rank(a.get(i)).cmp(&rank(b.get(i)))
}

/// "not a regular file (a FIFO)", for a file that is not read.
fn not_regular(kind: &std::fs::FileType) -> String {
    format!("not a regular file ({}); not read", kind_name(kind))
}

fn kind_name(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a file"
    }
}

/// Version-control folders, never walked (other hidden folders are).
const VCS_DIRS: [&str; 7] = [".git", ".hg", ".svn", ".bzr", "_darcs", ".jj", "CVS"];

/// What walking one directory found, gathered from the walker's threads.
#[derive(Default)]
struct Gathered {
    files: Vec<PathBuf>,
    skipped: Vec<Skipped>,
    errors: Vec<(PathBuf, String)>,
    /// Symlinks found, with the file each resolves to inside the directory walked.
    links: Vec<(PathBuf, PathBuf)>,
}

/// What one walker thread gathered, handed over to `into` when the thread is done with it.
struct Flushed<'a> {
    mine: Gathered,
    into: &'a std::sync::Mutex<Gathered>,
}

impl Drop for Flushed<'_> {
    fn drop(&mut self) {
        let mut all = self
            .into
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        all.files.append(&mut self.mine.files);
        all.skipped.append(&mut self.mine.skipped);
        all.errors.append(&mut self.mine.errors);
        all.links.append(&mut self.mine.links);
    }
}

/// One entry of the walk of `dir` (resolved as `root`): a file a kind claims is kept, a
/// symlink is followed if it stays inside, anything else a kind claims is a notice.
fn visit(
    entry: Result<ignore::DirEntry, ignore::Error>,
    dir: &Path,
    root: &Path,
    strip_dot: bool,
    claims: &(dyn Fn(&Path) -> bool + Sync),
    gathered: &mut Gathered,
) {
    let entry = match entry {
        Ok(entry) => entry,
        Err(e) => {
            let path = match &e {
                ignore::Error::WithPath { path, .. } => path.clone(),
                _ => dir.to_path_buf(),
            };
            gathered.errors.push((path, e.to_string()));
            return;
        }
    };
    let Some(kind) = entry.file_type() else {
        return;
    };
    if entry.depth() == 0 || kind.is_dir() || !claims(entry.path()) {
        return;
    }
    let path = entry.path();
    let shown = match (strip_dot, path.strip_prefix(".")) {
        (true, Ok(rest)) => rest.to_path_buf(),
        _ => path.to_path_buf(),
    };
    if kind.is_file() {
        gathered.files.push(shown);
    } else if kind.is_symlink() {
        match symlink_target(path, root, dir) {
            Ok(target) => gathered.links.push((target, shown)),
            Err(reason) => gathered.skipped.push(Skipped {
                path: shown,
                reason,
            }),
        }
    } else {
        gathered.skipped.push(Skipped {
            path: shown,
            reason: not_regular(&kind),
        });
    }
}

/// Walks `dir` on the walker's threads for the files a kind `claims`, into `found`.
fn walk_dir(
    dir: &Path,
    strip_dot: bool,
    exclude: &PathPatterns,
    claims: &(dyn Fn(&Path) -> bool + Sync),
    found: &mut Discovery,
) {
    let exclude = exclude.clone();
    // Symlinks found by walking must resolve inside the directory walked.
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let first = found.files.len();
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            entry.depth() == 0
                || !(exclude.matches(entry.path(), is_dir)
                    || is_dir && VCS_DIRS.iter().any(|v| entry.file_name() == *v))
        })
        .build_parallel();
    // Each walker thread gathers what it finds and hands it over when done; the caller sorts
    // it all when the walk ends, so the order is the same whatever thread found what.
    let gathered = std::sync::Mutex::new(Gathered::default());
    walker.run(|| {
        let root = &root;
        let mut mine = Flushed {
            mine: Gathered::default(),
            into: &gathered,
        };
        Box::new(move |entry| {
            visit(entry, dir, root, strip_dot, claims, &mut mine.mine);
            ignore::WalkState::Continue
        })
    });
    let part = gathered
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    found.files.extend(part.files);
    found.skipped.extend(part.skipped);
    found.errors.extend(part.errors);
    let mut links = part.links;
    // A file reached by a symlink and by its own name (or by two symlinks) is read once, under
    // its own name (or the first link's): writing it twice would find it changed the second
    // time.
    if links.is_empty() {
        return;
    }
    // The file each path reads: the walker does not descend into linked directories, so a
    // regular file's resolved path is the root's joined with its own below the root. Only
    // worked out when there are links (a tree without them costs nothing more).
    let mut names: HashMap<PathBuf, PathBuf> = found.files[first..]
        .iter()
        .map(|path| {
            (
                root.join(path.strip_prefix(dir).unwrap_or(path)),
                path.clone(),
            )
        })
        .collect();
    links.sort_by(|a, b| a.1.cmp(&b.1));
    for (target, path) in links {
        match names.get(&target) {
            Some(name) => {
                let reason = format!("the same file as {}, read under that name", name.display());
                found.skipped.push(Skipped { path, reason });
            }
            None => {
                names.insert(target, path.clone());
                found.files.push(path);
            }
        }
    }
}

/// The file a symlink found by walking `shown_root` (resolved: `root`) points to, or why it is
/// not read.
fn symlink_target(link: &Path, root: &Path, shown_root: &Path) -> Result<PathBuf, String> {
    let target_text = std::fs::read_link(link)
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = match std::fs::canonicalize(link) {
        Ok(target) => target,
        Err(e) => {
            return Err(format!(
                "symlink to {target_text}, which cannot be resolved ({}); not read",
                describe_io(&e)
            ));
        }
    };
    if !target.starts_with(root) {
        return Err(format!(
            "symlink to {target_text}, outside the directory walked ({}); not read or written",
            shown_root.display()
        ));
    }
    match std::fs::metadata(&target) {
        Ok(meta) if meta.is_file() => Ok(target),
        Ok(meta) => Err(format!(
            "symlink to {target_text}, {}",
            not_regular(&meta.file_type())
        )),
        Err(e) => Err(format!("symlink to {target_text}: {}", describe_io(&e))),
    }
}

/// A short, user-facing description of an I/O error.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn too_large(len: u64) -> io::Error {
    io::Error::other(format!(
        "larger than {} MiB ({len} bytes); not read",
        MAX_FILE_SIZE / (1024 * 1024)
    ))
}

/// Opens `path` for reading only if it is a regular file of at most [`MAX_FILE_SIZE`] bytes.
/// Opened non-blocking, so a FIFO or device swapped in after walking is refused, not waited on.
pub fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(not_regular(&meta.file_type())));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(too_large(meta.len()));
    }
    Ok((file, meta))
}

/// What a file held when it was scanned: its length and SHA-256, and which file it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    len: u64,
    sha256: [u8; 32],
    identity: Identity,
}

/// Which file (device and inode) and its state (length, modification time), from `fstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
}

impl Identity {
    #[cfg(unix)]
    fn of(meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
        }
    }

    #[cfg(not(unix))]
    fn of(meta: &Metadata) -> Self {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or((0, 0), |d| {
                (d.as_secs() as i64, i64::from(d.subsec_nanos()))
            });
        Identity {
            dev: 0,
            ino: 0,
            len: meta.len(),
            mtime,
        }
    }

    /// Same file; its length and modification time are checked separately.
    fn same_file(&self, other: &Identity) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// A reader that counts what passes through it, failing beyond [`MAX_FILE_SIZE`] (a file
/// that grows while it is read), and hashes it when the file may be written.
pub struct Fingerprinting<R> {
    inner: R,
    /// `None` when nothing will be written (`list`, `pin --check`): no need to hash.
    hasher: Option<Sha256>,
    len: u64,
    identity: Identity,
}

impl Fingerprinting<File> {
    /// Reads `file`, opened with [`open_regular`] (`meta` is its metadata); `hash` when a
    /// fingerprint is wanted.
    pub fn new(file: File, meta: &Metadata, hash: bool) -> Self {
        Fingerprinting {
            inner: file,
            hasher: hash.then(Sha256::new),
            len: 0,
            identity: Identity::of(meta),
        }
    }
}

impl<R: Read> Fingerprinting<R> {
    /// Reads whatever the scanner left unread, and returns the fingerprint of everything
    /// (`None` when not hashing).
    pub fn finish(mut self) -> io::Result<Option<Fingerprint>> {
        if self.hasher.is_none() {
            return Ok(None);
        }
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.hasher.map(|hasher| Fingerprint {
            len: self.len,
            sha256: hasher.finalize().into(),
            identity: self.identity,
        }))
    }
}

impl<R: Read> Read for Fingerprinting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Read only (no fingerprint, so never written): the file ends at the length `fstat`
        // gave when it was opened, without one more `read` to be told so. A file to write is
        // read to its end, as its fingerprint must cover everything it holds.
        if self.hasher.is_none() && self.identity.len > 0 && self.len == self.identity.len {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.len += n as u64;
        if self.len > MAX_FILE_SIZE {
            return Err(too_large(self.len));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Why a file was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file is no longer exactly what was scanned.
    #[error("changed since it was read; not written")]
    Changed,
    #[error("cannot read: {}", describe_io(.0))]
    Read(io::Error),
    #[error("cannot write: {}", describe_io(.0))]
    Write(io::Error),
}

/// A file read again for rewriting, found to be exactly the bytes that were scanned.
#[derive(Debug)]
pub struct Verified {
    /// The file's contents.
    pub bytes: Vec<u8>,
    /// The file to replace: the path itself, or the file a symlink points to.
    target: PathBuf,
    meta: Metadata,
}

/// Reads `path` again and checks that it is exactly what was scanned (same file, same length,
/// same SHA-256).
pub fn read_verified(path: &Path, scanned: &Fingerprint) -> Result<Verified, WriteError> {
    let (mut file, meta) = open_regular(path).map_err(WriteError::Read)?;
    let identity = Identity::of(&meta);
    if !identity.same_file(&scanned.identity) || meta.len() != scanned.len {
        return Err(WriteError::Changed);
    }
    let mut bytes = Vec::with_capacity(scanned.len as usize);
    (&mut file)
        .take(scanned.len + 1)
        .read_to_end(&mut bytes)
        .map_err(WriteError::Read)?;
    if bytes.len() as u64 != scanned.len
        || <[u8; 32]>::from(Sha256::digest(&bytes)) != scanned.sha256
    {
        return Err(WriteError::Changed);
    }
    // The state the file must still be in just before it is replaced.
    let meta = file.metadata().map_err(WriteError::Read)?;
    let target = if std::fs::symlink_metadata(path)
        .map_err(WriteError::Read)?
        .file_type()
        .is_symlink()
    {
        // The link stays a link: the file it points to gets the new contents.
        std::fs::canonicalize(path).map_err(WriteError::Read)?
    } else {
        path.to_path_buf()
    };
    Ok(Verified {
        bytes,
        target,
        meta,
    })
}

/// Replaces the file read by [`read_verified`] with `contents`, atomically, keeping its owner
/// and group (as far as the user may: root always can) and permissions, unless it changed
/// again meanwhile.
pub fn replace(verified: &Verified, contents: &[u8]) -> Result<(), WriteError> {
    let dir = match verified.target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = TempFile::create_in(dir).map_err(WriteError::Write)?;
    temp.file().write_all(contents).map_err(WriteError::Write)?;
    keep_owner(temp.file(), &verified.meta).map_err(WriteError::Write)?;
    // After the owner: changing it clears set-user-ID and set-group-ID bits.
    temp.file()
        .set_permissions(verified.meta.permissions())
        .map_err(WriteError::Write)?;
    // No fsync: the rename alone makes the change atomic for every reader, which is the
    // promise; flushing each of a thousand files first cost more than all the network work.
    temp.persist_over(&verified.target, &verified.meta)
}

/// Gives `file` the owner and group of `original`. Root always can; another user can keep
/// the group if a member of it, and cannot give a file away (the rewritten file is then theirs,
/// as with any editor).
#[cfg(unix)]
fn keep_owner(file: &File, original: &Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let now = file.metadata()?;
    if (now.uid(), now.gid()) == (original.uid(), original.gid()) {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid()));
    }
    if now.gid() != original.gid() {
        let _ = std::os::unix::fs::fchown(file, None, Some(original.gid()));
    }
    Ok(())
}

#[cfg(not(unix))]
fn keep_owner(_file: &File, _original: &Metadata) -> io::Result<()> {
    Ok(())
}

/// Temporary files being written, so that a signal handler can remove them before the process
/// dies. The lock is held while one is created and registered, and while one is renamed and
/// unregistered: a handler holding it sees every temporary file that exists.
static LIVE_TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live_temps() -> MutexGuard<'static, Vec<PathBuf>> {
    LIVE_TEMPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes every temporary file being written and returns the lock that keeps new ones from
/// being created or renamed: for a SIGINT/SIGTERM handler, which then ends the process while
/// holding it.
pub fn remove_temp_files() -> MutexGuard<'static, Vec<PathBuf>> {
    let mut temps = live_temps();
    for path in temps.drain(..) {
        let _ = std::fs::remove_file(path);
    }
    temps
}

/// A `.digestpin-*.tmp` file next to the file it will replace, registered in [`LIVE_TEMPS`]
/// while it exists.
struct TempFile {
    temp: Option<tempfile::NamedTempFile>,
}

impl TempFile {
    fn create_in(dir: &Path) -> io::Result<TempFile> {
        let mut temps = live_temps();
        let temp = tempfile::Builder::new()
            .prefix(".digestpin-")
            .suffix(".tmp")
            .tempfile_in(dir)?;
        temps.push(temp.path().to_path_buf());
        Ok(TempFile { temp: Some(temp) })
    }

    fn file(&mut self) -> &mut File {
        match &mut self.temp {
            Some(temp) => temp.as_file_mut(),
            None => unreachable!("a TempFile holds its file until persisted"),
        }
    }

    /// Renames the file over `target`, if `target` is still the file `expected` describes.
    fn persist_over(mut self, target: &Path, expected: &Metadata) -> Result<(), WriteError> {
        let Some(temp) = self.temp.take() else {
            unreachable!("a TempFile holds its file until persisted")
        };
        let mut temps = live_temps();
        let path = temp.path().to_path_buf();
        let unchanged =
            std::fs::metadata(target).is_ok_and(|now| Identity::of(&now) == Identity::of(expected));
        let result = if unchanged {
            temp.persist(target)
                .map(drop)
                .map_err(|e| WriteError::Write(e.error))
        } else {
            drop(temp);
            Err(WriteError::Changed)
        };
        temps.retain(|p| *p != path);
        result
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            let mut temps = live_temps();
            let path = temp.path().to_path_buf();
            drop(temp);
            temps.retain(|p| *p != path);
        }
    }
}

/// Reads the whole file at `path` (a regular file within [`MAX_FILE_SIZE`]) for its
/// fingerprint.
pub fn fingerprint(path: &Path) -> io::Result<Fingerprint> {
    let (file, meta) = open_regular(path)?;
    Fingerprinting::new(file, &meta, true)
        .finish()?
        .ok_or_else(|| io::Error::other("no fingerprint"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Claims Dockerfile names, as the engine's default kinds do.
    fn dockerfiles(path: &Path) -> bool {
        path.file_name()
            .is_some_and(|n| crate::kinds::dockerfile::is_dockerfile_name(n.as_encoded_bytes()))
    }

    #[test]
    fn paths_sort_in_component_order() {
        // Bytes that sort before `/` (`-`, `.`, `!`, space), prefixes, roots, and in the last
        // list paths that are not plain (compared component by component as before).
        let names = [
            "a/b",
            "a-b/c",
            "a/b/c",
            "a",
            "ab",
            "a.b",
            "a/b.c",
            "a b/x",
            "a!/x",
            "/a",
            "/a/b",
            "/a-b",
            "services/a/Dockerfile",
            "services/a-b/Dockerfile",
            "services/a.d/x",
            "services/a/Dockerfile.dev",
            "services/a/b/Dockerfile",
            "z",
            "Z",
            "\u{e9}/x",
        ];
        let odd = ["./a", "../a", "a//b", "a/", "a/./b", "+a", "..+", ".a"];
        for set in [&names[..], &[&names[..], &odd[..]].concat()] {
            let mut want: Vec<PathBuf> = set.iter().map(PathBuf::from).collect();
            want.sort();
            for seed in 0..20 {
                let mut got = want.clone();
                fastrand::Rng::with_seed(seed).shuffle(&mut got);
                sort_paths(&mut got, |p| p);
                assert_eq!(got, want);
                let mut twice = [&got[..], &want[..]].concat();
                sort_dedup_paths(&mut twice);
                let mut dedup = want.clone();
                dedup.dedup();
                assert_eq!(twice, dedup);
            }
        }
    }

    fn write_file(path: &Path, contents: &[u8]) -> Fingerprint {
        std::fs::write(path, contents).unwrap();
        fingerprint(path).unwrap()
    }

    #[test]
    fn replace_keeps_permissions_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Dockerfile");
        write_file(&file, b"FROM a\n");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.Dockerfile");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let scanned = fingerprint(&link).unwrap();
        let verified = read_verified(&link, &scanned).unwrap();
        assert_eq!(verified.bytes, b"FROM a\n");
        replace(&verified, b"FROM b\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"FROM b\n");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert!(temp_files(dir.path()).is_empty());
        assert!(live_temps().is_empty());
    }

    fn temp_files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect()
    }

    /// The race of two `pin` runs: the second one's re-check must see the first one's digest
    /// even though the bytes at the reference's span still match as a prefix.
    #[test]
    fn a_file_changed_after_scanning_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Dockerfile");
        for changed in [
            &b"FROM a:latest@sha256:0000\n"[..],
            b"FROM a:latest-dev\n",
            b"FROM a:latest\nRUN appended\n",
            b"FROM b:latest\n",
            b"",
        ] {
            let scanned = write_file(&file, b"FROM a:latest\n");
            std::fs::write(&file, changed).unwrap();
            let result = read_verified(&file, &scanned);
            assert!(matches!(result, Err(WriteError::Changed)), "{changed:?}");
            assert_eq!(
                result.unwrap_err().to_string(),
                "changed since it was read; not written"
            );
        }
        // Changed between the check and the rename: same length, new contents.
        let scanned = write_file(&file, b"FROM a:latest\n");
        let verified = read_verified(&file, &scanned).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"FROM c:latest\n").unwrap();
        let result = replace(&verified, b"FROM a:latest@sha256:1\n");
        assert!(matches!(result, Err(WriteError::Changed)));
        assert_eq!(std::fs::read(&file).unwrap(), b"FROM c:latest\n");
        // Replaced by another file with the same contents (a rename over it).
        let scanned = write_file(&file, b"FROM a:latest\n");
        let other = dir.path().join("other");
        std::fs::write(&other, b"FROM a:latest\n").unwrap();
        std::fs::rename(&other, &file).unwrap();
        assert!(matches!(
            read_verified(&file, &scanned),
            Err(WriteError::Changed)
        ));
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let err = open_regular(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a regular file (a character device); not read"
        );
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("Dockerfile");
        let f = File::create(&big).unwrap();
        f.set_len(MAX_FILE_SIZE + 1).unwrap();
        let err = open_regular(&big).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("larger than 64 MiB ({} bytes); not read", MAX_FILE_SIZE + 1)
        );
        // Growing past the cap while it is read.
        let mut reader = Fingerprinting {
            inner: io::repeat(b'x'),
            hasher: Some(Sha256::new()),
            len: 0,
            identity: Identity::of(&f.metadata().unwrap()),
        };
        let mut sink = Vec::new();
        let err = reader.read_to_end(&mut sink).unwrap_err();
        assert!(err.to_string().starts_with("larger than 64 MiB"), "{err}");
        assert!(sink.len() as u64 <= MAX_FILE_SIZE + 64 * 1024);
    }

    #[test]
    fn walks_names_respecting_ignore_files_and_hidden_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "Dockerfile",
            "a/app.dockerfile",
            "a/README",
            "b/Containerfile.x",
            ".hidden/Dockerfile",
            ".git/Dockerfile",
            "sub/.hg/Dockerfile",
            "vendor/Dockerfile",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "FROM a\n").unwrap();
        }
        std::fs::write(root.join(".gitignore"), "vendor/\n").unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        let found = discover(
            &[root.to_path_buf(), root.join("empty"), root.join("missing")],
            false,
            &PathPatterns::default(),
            &dockerfiles,
        );
        let rel: Vec<String> = found
            .files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rel,
            [
                ".hidden/Dockerfile",
                "Dockerfile",
                "a/app.dockerfile",
                "b/Containerfile.x"
            ]
        );
        assert_eq!(found.empty_dirs, [root.join("empty")]);
        assert_eq!(found.errors.len(), 1);
    }

    #[test]
    fn walking_skips_symlinks_out_of_the_tree_and_special_files() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        let root = dir.path().join("repo");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(outside.join("base.Dockerfile"), "FROM a\n").unwrap();
        std::fs::write(root.join("sub/real.Dockerfile"), "FROM a\n").unwrap();
        let link = |target: &str, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        };
        link("../outside/base.Dockerfile", "ext.Dockerfile");
        link(
            outside.join("base.Dockerfile").to_str().unwrap(),
            "abs.Dockerfile",
        );
        link("sub/real.Dockerfile", "in.Dockerfile");
        std::fs::write(root.join("sub/base"), "FROM a\n").unwrap();
        link("sub/base", "via.Dockerfile");
        link("sub/base", "via2.Dockerfile");
        link("/dev/zero", "zero.Dockerfile");
        link("missing", "dangling.Dockerfile");
        let fifo = std::ffi::CString::new(
            root.join("fifo.Dockerfile")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let found = discover(
            std::slice::from_ref(&root),
            false,
            &PathPatterns::default(),
            &dockerfiles,
        );
        let name = |p: &Path| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        let files: Vec<String> = found.files.iter().map(|p| name(p)).collect();
        assert_eq!(files, ["sub/real.Dockerfile", "via.Dockerfile"]);
        let skipped: Vec<(String, &str)> = found
            .skipped
            .iter()
            .map(|s| (name(&s.path), s.reason.as_str()))
            .collect();
        let shown = root.display();
        assert_eq!(
            skipped,
            [
                (
                    "abs.Dockerfile".into(),
                    format!(
                        "symlink to {}, outside the directory walked ({shown}); not read or written",
                        outside.join("base.Dockerfile").display()
                    )
                    .as_str()
                ),
                (
                    "dangling.Dockerfile".into(),
                    "symlink to missing, which cannot be resolved (no such file or directory); not read"
                ),
                (
                    "ext.Dockerfile".into(),
                    format!(
                        "symlink to ../outside/base.Dockerfile, outside the directory walked ({shown}); not read or written"
                    )
                    .as_str()
                ),
                (
                    "fifo.Dockerfile".into(),
                    "not a regular file (a FIFO); not read"
                ),
                (
                    "in.Dockerfile".into(),
                    format!(
                        "the same file as {}, read under that name",
                        root.join("sub/real.Dockerfile").display()
                    )
                    .as_str()
                ),
                (
                    "via2.Dockerfile".into(),
                    format!(
                        "the same file as {}, read under that name",
                        root.join("via.Dockerfile").display()
                    )
                    .as_str()
                ),
                (
                    "zero.Dockerfile".into(),
                    format!("symlink to /dev/zero, outside the directory walked ({shown}); not read or written").as_str()
                ),
            ]
        );
        assert!(found.errors.is_empty());
        // Named explicitly: a symlink is followed (the user asked for it), a FIFO is an error.
        let named = discover(
            &[root.join("ext.Dockerfile"), root.join("fifo.Dockerfile")],
            false,
            &PathPatterns::default(),
            &dockerfiles,
        );
        assert_eq!(named.files, [root.join("ext.Dockerfile")]);
        assert_eq!(
            named.errors,
            [(
                root.join("fifo.Dockerfile"),
                "not a regular file (a FIFO); not read".to_owned()
            )]
        );
    }

    #[test]
    fn exclude_prunes_walked_entries_but_not_named_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "Dockerfile",
            "fixtures/Dockerfile",
            "a/fixtures/Dockerfile",
            "a/Dockerfile.dev",
            "b/Dockerfile",
            "b/sub/Dockerfile",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "FROM a\n").unwrap();
        }
        let exclude =
            PathPatterns::new(root, &["fixtures/".into(), "/b/sub".into(), "*.dev".into()])
                .unwrap();
        let rel = |found: Discovery| -> Vec<String> {
            found
                .files
                .iter()
                .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        let found = discover(&[root.to_path_buf()], false, &exclude, &dockerfiles);
        assert_eq!(rel(found), ["Dockerfile", "b/Dockerfile"]);
        // Named on the command line: read (a file) or walked (a directory) all the same.
        let named = [root.join("fixtures"), root.join("a/Dockerfile.dev")];
        let found = discover(&named, false, &exclude, &dockerfiles);
        assert_eq!(rel(found), ["a/Dockerfile.dev", "fixtures/Dockerfile"]);
        // Outside the root, nothing matches.
        let elsewhere = PathPatterns::new(&root.join("b"), &["Dockerfile".into()]).unwrap();
        assert!(!elsewhere.matches(&root.join("Dockerfile"), false));
        assert!(elsewhere.matches(&root.join("b/sub/Dockerfile"), false));
        assert!(!PathPatterns::default().matches(&root.join("Dockerfile"), false));
    }
}
