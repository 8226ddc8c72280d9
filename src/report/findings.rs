//! What the code-scanning reports (`sarif`, `gitlab`) list: one finding per reference that
//! needs attention, of a fixed set of kinds with stable names, and a fingerprint that stays the
//! same across runs while the finding does.

use sha2::{Digest as _, Sha256};

use super::display_path;
use crate::engine::{FilePlan, PinMode, PinReport, RefPlan, Status};

/// The kinds of finding, in their fixed order (SARIF rule indexes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No digest: the image can change under the same text.
    Unpinned,
    /// A digest the tag no longer points to.
    Stale,
    /// A digest the registry does not have.
    Missing,
    /// A pin younger than `--min-age` under `--enforce-min-age`.
    Young,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Unpinned, Kind::Stale, Kind::Missing, Kind::Young];

    /// The stable id: SARIF `ruleId`, GitLab `check_name`.
    pub fn id(self) -> &'static str {
        match self {
            Kind::Unpinned => "unpinned",
            Kind::Stale => "stale",
            Kind::Missing => "missing",
            Kind::Young => "young",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// One line saying what the kind means.
    pub fn summary(self) -> &'static str {
        match self {
            Kind::Unpinned => "Image reference not pinned to a digest",
            Kind::Stale => "Pinned digest is stale: the tag now points to another image",
            Kind::Missing => "Pinned digest not found in the registry",
            Kind::Young => "Pinned digest is younger than the required minimum age",
        }
    }

    /// Why it matters and what to do.
    pub fn help(self) -> &'static str {
        match self {
            Kind::Unpinned => {
                "A tag can be moved to another image at any time, so builds are not \
                 reproducible and a compromised tag reaches you unnoticed. Pin it: \
                 `digestpin pin` rewrites IMAGE:TAG into IMAGE:TAG@sha256:..."
            }
            Kind::Stale => {
                "The tag has moved since the digest was pinned, so the build misses the \
                 updates (often security fixes) published since. Refresh it with `digestpin pin`."
            }
            Kind::Missing => {
                "The registry answers 404 for the pinned digest: the build will fail to pull \
                 it. Re-pin with `digestpin pin`."
            }
            Kind::Young => {
                "The pinned image is younger than the cooldown, and a registry with a cooldown \
                 pull policy would deny it. `digestpin pin --min-age D --enforce-min-age` moves \
                 it back to the newest digest old enough."
            }
        }
    }
}

/// The finding a reference's plan amounts to in `mode`, if any. Writing fixes what it can, so
/// a `pin` that writes reports only what it could not fix: a missing digest with no tag to
/// follow, a young pin a cooldown policy would deny.
pub fn kind_of(plan: &RefPlan, mode: PinMode) -> Option<Kind> {
    match plan.status {
        Status::Pinned if mode != PinMode::Write => Some(Kind::Unpinned),
        Status::Updated if mode != PinMode::Write => Some(Kind::Stale),
        Status::Missing => Some(Kind::Missing),
        Status::Young if plan.denied => Some(Kind::Young),
        _ => None,
    }
}

/// One finding, with what the reports need.
pub struct Finding<'a> {
    pub kind: Kind,
    pub file: &'a FilePlan,
    pub plan: &'a RefPlan,
    /// The path as given, without a leading `./`, with `/` separators.
    pub path: String,
    /// What a person reads.
    pub message: String,
    /// The bytes that replace the reference's span, when known (online runs).
    pub replacement: Option<&'a str>,
    /// Hex SHA-256 of the kind, path, instruction, reference text and which occurrence of
    /// that text in the file it is: stable across runs, unaffected by lines moving or by the
    /// registry's current digest.
    pub fingerprint: String,
}

/// Every finding of a `pin` run, in file order.
pub fn findings(report: &PinReport, mode: PinMode) -> Vec<Finding<'_>> {
    let mut found = Vec::new();
    for file in &report.files {
        let path = display_path(&file.path).replace('\\', "/");
        let path = path.strip_prefix("./").unwrap_or(&path).to_owned();
        let mut seen: Vec<(Kind, &str, &str)> = Vec::new();
        for plan in &file.refs {
            let Some(kind) = kind_of(plan, mode) else {
                continue;
            };
            let r = &plan.found;
            let key = (kind, r.site.as_str(), &*r.original);
            let occurrence = seen.iter().filter(|k| **k == key).count();
            seen.push(key);
            let mut hash = Sha256::new();
            for part in [kind.id(), &path, r.site.as_str(), &r.original] {
                hash.update(part.as_bytes());
                hash.update([0]);
            }
            hash.update(occurrence.to_string().as_bytes());
            let replacement = r.span.as_ref().and_then(|span| {
                file.edits
                    .iter()
                    .find(|e| e.span == *span)
                    .map(|e| e.replacement.as_str())
            });
            found.push(Finding {
                kind,
                file,
                plan,
                message: message(kind, plan),
                path: path.clone(),
                replacement,
                fingerprint: format!("{:x}", hash.finalize()),
            });
        }
    }
    found
}

fn message(kind: Kind, plan: &RefPlan) -> String {
    let r = &plan.found;
    let current = plan
        .digest_after
        .as_ref()
        .map(|d| format!(" (current: {d})"))
        .unwrap_or_default();
    match kind {
        Kind::Unpinned => format!(
            "{} {} is not pinned to a digest{current}",
            r.site, r.original
        ),
        Kind::Stale => format!(
            "{} {} has a stale digest{}{current}",
            r.site,
            r.original,
            plan.detail
                .as_deref()
                .map(|b| format!(", {b}"))
                .unwrap_or_default()
        ),
        Kind::Missing => format!("{} {}: digest not found in registry", r.site, r.original),
        Kind::Young => format!(
            "{} {}: {}",
            r.site,
            r.original,
            plan.detail
                .as_deref()
                .unwrap_or("younger than the minimum age")
        ),
    }
}

/// The errors of a run (per reference and per file), as `(path, line, column, message)`: the
/// code-scanning formats report them beside the findings, not as findings.
pub fn errors(report: &PinReport) -> Vec<(String, Option<usize>, Option<usize>, String)> {
    let mut errors = Vec::new();
    for file in &report.files {
        let path = display_path(&file.path).into_owned();
        for plan in file.refs.iter().filter(|p| p.status == Status::Error) {
            let r = &plan.found;
            let reason = plan
                .reason
                .as_ref()
                .map_or_else(|| "error".to_owned(), ToString::to_string);
            let message = format!("{}: {reason}", r.original);
            errors.push((path.clone(), Some(r.line), Some(r.column), message));
        }
        if let Some(error) = &file.error {
            errors.push((path.clone(), error.line, None, error.message.clone()));
        }
    }
    errors
}
