//! File kinds: each knows which files it claims and how to scan their bytes into found
//! references with exact byte spans ([`crate::found`]). The engine, the rewriter and the
//! reports never name a kind; adding one is a module here and a line in [`ALL`].

pub mod compose;
pub mod dockerfile;
pub mod github_actions;
pub mod gitlab_ci;
pub mod kubernetes;
mod sniff;
pub mod yaml;

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use crate::found::Scan;

/// One kind of file that holds image references.
pub trait FileKind: Send + Sync {
    /// Its name in output, `--kinds` and the config file (`dockerfile`, `compose`, …).
    fn name(&self) -> &'static str;

    /// Whether a file found by walking, at `path`, is of this kind (by its name and place).
    fn claims(&self, path: &Path) -> bool;

    /// Whether its claim of `path` is only tentative (every `*.yaml` may be a Kubernetes
    /// manifest): a file found by walking that it cannot parse, or in which it finds no
    /// reference, is not of this kind and is left out quietly. Named explicitly, such a file
    /// is still read and its error reported.
    fn tentative(&self, _path: &Path) -> bool {
        false
    }

    /// Whether a file named explicitly, whose name no kind claims, is of this kind, judging by
    /// its first bytes.
    fn sniff(&self, _head: &[u8]) -> bool {
        false
    }

    /// Every image reference in the file read from `reader`, in file order.
    fn scan(&self, reader: &mut dyn Read) -> io::Result<Scan>;
}

/// Every kind digestpin reads, in the order they claim files.
pub static ALL: [&dyn FileKind; 5] = [
    &dockerfile::Dockerfile,
    &compose::Compose,
    &github_actions::GithubActions,
    &gitlab_ci::GitlabCi,
    &kubernetes::Kubernetes,
];

/// The kinds a run reads (all of them unless the config or a test says otherwise).
#[derive(Clone)]
pub struct Kinds(Vec<&'static dyn FileKind>);

impl Default for Kinds {
    fn default() -> Self {
        Kinds(ALL.to_vec())
    }
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Kinds {
    /// Exactly these kinds.
    pub fn new(kinds: Vec<&'static dyn FileKind>) -> Self {
        Kinds(kinds)
    }

    /// The kinds among these whose name is in `names`.
    pub fn only(&self, names: &[String]) -> Self {
        Kinds(
            self.0
                .iter()
                .copied()
                .filter(|k| names.iter().any(|n| n == k.name()))
                .collect(),
        )
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|k| k.name()).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The kind a file found by walking belongs to, if any.
    pub fn claim(&self, path: &Path) -> Option<&'static dyn FileKind> {
        self.0.iter().copied().find(|k| k.claims(path))
    }

    /// Whether the first bytes of the file at `path` are needed to tell its kind. Named
    /// explicitly: when no kind claims its name, or only tentatively (`stack.yml` may be a
    /// Compose file). Found by walking: when more than one kind claims it tentatively (a
    /// `.gitlab/ci/deploy.yaml` may be a pipeline or a manifest).
    pub fn needs_head(&self, path: &Path, named: bool) -> bool {
        let mut claims = self.0.iter().filter(|k| k.claims(path));
        match claims.next() {
            None => named,
            Some(first) if first.tentative(path) => named || claims.next().is_some(),
            Some(_) => false,
        }
    }

    /// The kind of a file, given its first bytes `head` when [`Self::needs_head`] says so: the
    /// kind claiming its name for sure; else the tentatively claiming kind that knows the
    /// content for its own; else, found by walking or claimed by its place, the first claiming
    /// kind. Named explicitly and claimed at most by its extension: the kind its content
    /// names, else that claim, else the first kind (a named file is always read).
    pub fn of_file(&self, path: &Path, named: bool, head: &[u8]) -> Option<&'static dyn FileKind> {
        let claiming = || self.0.iter().copied().filter(|k| k.claims(path));
        let by_name = claiming().next();
        if let Some(kind) = by_name.filter(|k| !k.tentative(path)) {
            return Some(kind);
        }
        // Among the kinds claiming it, the one that knows the content for its own.
        if let Some(kind) = claiming().find(|k| k.sniff(head)) {
            return Some(kind);
        }
        // Claimed by its place as well as by its extension (`.gitlab/ci/build.yml`): the
        // place wins over what another kind's sniffing might say, named or walked alike.
        if !named || claiming().nth(1).is_some() {
            return by_name;
        }
        self.0
            .iter()
            .copied()
            .find(|k| k.sniff(head))
            .or(by_name)
            .or_else(|| self.0.first().copied())
    }
}
