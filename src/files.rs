//! Finding Dockerfiles and writing them back safely.
//!
//! Directories are walked with the `ignore` crate (honouring `.gitignore` and `.ignore`, even
//! outside a git repository, and skipping hidden entries) for the names SPEC.md lists; a file
//! named explicitly is always read. The config file's `exclude` patterns prune what a walk
//! finds (never a path named on the command line itself). Writes go to a temporary file in the same directory, keep
//! the original's permissions, and are renamed over it, so a reader never sees half a file.
//! (Not fsynced: durability across a power cut is left to the filesystem, as git and most
//! editors do for working-tree files.)

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Whether a file name is one digestpin looks for when walking a directory.
pub fn is_dockerfile_name(name: &str) -> bool {
    const EXACT: [&str; 2] = ["Dockerfile", "Containerfile"];
    const PREFIXES: [&str; 2] = ["Dockerfile.", "Containerfile."];
    const SUFFIXES: [&str; 4] = [
        ".Dockerfile",
        ".dockerfile",
        ".Containerfile",
        ".containerfile",
    ];
    EXACT.contains(&name)
        || PREFIXES
            .iter()
            .any(|p| name.len() > p.len() && name.starts_with(p))
        || SUFFIXES
            .iter()
            .any(|s| name.len() > s.len() && name.ends_with(s))
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
pub fn discover(paths: &[PathBuf], strip_dot: bool, exclude: &PathPatterns) -> Discovery {
    let mut found = Discovery::default();
    for path in paths {
        match std::fs::metadata(path) {
            Err(e) => found.errors.push((path.clone(), describe_io(&e))),
            Ok(meta) if meta.is_dir() => {
                let before = found.files.len();
                walk_dir(path, strip_dot, exclude, &mut found);
                if found.files.len() == before {
                    found.empty_dirs.push(path.clone());
                }
            }
            Ok(_) => found.files.push(path.clone()),
        }
    }
    found.files.sort();
    found.files.dedup();
    found
}

fn walk_dir(dir: &Path, strip_dot: bool, exclude: &PathPatterns, found: &mut Discovery) {
    let exclude = exclude.clone();
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .ignore(true)
        .parents(true)
        .require_git(false)
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            entry.depth() == 0 || !exclude.matches(entry.path(), is_dir)
        })
        .build();
    for entry in walker {
        match entry {
            Ok(entry) => {
                let is_file = entry
                    .file_type()
                    .is_some_and(|t| t.is_file() || t.is_symlink());
                let named = entry.file_name().to_str().is_some_and(is_dockerfile_name);
                if is_file && named && entry.depth() > 0 {
                    let path = entry.into_path();
                    let path = match (strip_dot, path.strip_prefix(".")) {
                        (true, Ok(rest)) => rest.to_path_buf(),
                        _ => path,
                    };
                    found.files.push(path);
                }
            }
            Err(e) => {
                let path = match &e {
                    ignore::Error::WithPath { path, .. } => path.clone(),
                    _ => dir.to_path_buf(),
                };
                found.errors.push((path, e.to_string()));
            }
        }
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

/// Replaces the file at `path` with `contents` atomically, keeping its permissions. A symlink
/// is followed, so the link stays a link and its target gets the new contents.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let link = std::fs::symlink_metadata(path)?;
    // A symlink is followed, so the file it points to is replaced, not the link (resolving
    // every path instead costs several `readlink`s per file).
    let (target, permissions) = if link.file_type().is_symlink() {
        let target = std::fs::canonicalize(path)?;
        let permissions = std::fs::metadata(&target)?.permissions();
        (target, permissions)
    } else {
        (path.to_path_buf(), link.permissions())
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".digestpin-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    temp.write_all(contents)?;
    temp.as_file().set_permissions(permissions)?;
    // No fsync: the rename alone makes the change atomic for every reader, which is the
    // promise; flushing each of a thousand files first cost more than all the network work.
    temp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_names() {
        for yes in [
            "Dockerfile",
            "Containerfile",
            "Dockerfile.dev",
            "Containerfile.prod",
            "app.Dockerfile",
            "app.dockerfile",
            "x.Containerfile",
            "x.containerfile",
        ] {
            assert!(is_dockerfile_name(yes), "{yes}");
        }
        for no in [
            "dockerfile",
            "Dockerfile.",
            ".dockerfile",
            "Dockerfile-dev",
            "README.md",
            "Makefile",
        ] {
            assert!(!is_dockerfile_name(no), "{no}");
        }
    }

    #[test]
    fn atomic_write_keeps_permissions_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("Dockerfile");
        std::fs::write(&file, "FROM a\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.Dockerfile");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        write_atomic(&link, b"FROM b\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"FROM b\n");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
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
        );
        let rel: Vec<String> = found
            .files
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(rel, ["Dockerfile", "a/app.dockerfile", "b/Containerfile.x"]);
        assert_eq!(found.empty_dirs, [root.join("empty")]);
        assert_eq!(found.errors.len(), 1);
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
        let found = discover(&[root.to_path_buf()], false, &exclude);
        assert_eq!(rel(found), ["Dockerfile", "b/Dockerfile"]);
        // Named on the command line: read (a file) or walked (a directory) all the same.
        let named = [root.join("fixtures"), root.join("a/Dockerfile.dev")];
        let found = discover(&named, false, &exclude);
        assert_eq!(rel(found), ["a/Dockerfile.dev", "fixtures/Dockerfile"]);
        // Outside the root, nothing matches.
        let elsewhere = PathPatterns::new(&root.join("b"), &["Dockerfile".into()]).unwrap();
        assert!(!elsewhere.matches(&root.join("Dockerfile"), false));
        assert!(elsewhere.matches(&root.join("b/sub/Dockerfile"), false));
        assert!(!PathPatterns::default().matches(&root.join("Dockerfile"), false));
    }
}
