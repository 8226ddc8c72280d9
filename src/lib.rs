//! digestpin pins container image references in Dockerfiles to immutable digests.
//!
//! The library holds every capability; the `digestpin` binary only parses arguments and maps
//! outcomes to exit codes. Parsing and planning are pure and synchronous.
//!
//! - [`kinds`] holds one module per file kind (today [`kinds::dockerfile`], exactly as BuildKit
//!   sees it); each scans bytes into [`found`] references with byte spans.
//! - [`reference`] and [`digest`] are the reference grammar and the validated digest type.
//! - [`rewrite`] and [`diff`] change exactly those bytes and show what changed.
//! - [`files`] walks directories and writes files atomically.
//! - [`engine`] runs the pipeline; [`report`] renders its outcomes.

#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod args;
pub mod cache;
pub mod commands;
pub mod config;
pub mod diff;
pub mod digest;
pub mod display;
pub mod engine;
pub mod files;
pub mod found;
pub mod kinds;
pub mod manpage;
pub mod reference;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod rewrite;
pub mod tag_groups;
pub mod timespec;

pub use kinds::dockerfile;

/// The process exit status, the same for every command: errors outrank findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Success, nothing to do.
    Success = 0,
    /// Findings: `--check` found unpinned or stale references, `--diff` has changes.
    Findings = 1,
    /// Bad arguments, an unreadable file, an invalid reference, a failed resolution.
    Error = 2,
}

impl ExitStatus {
    pub fn code(self) -> i32 {
        self as i32
    }
}
