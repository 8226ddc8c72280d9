//! The command line: every command, flag and value `digestpin` accepts, as clap definitions.
//! What a run does with them lives in [`crate::commands`]; the binary only parses them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine;
use crate::resolve::When;
use crate::timespec;

#[derive(Parser)]
#[command(
    name = "digestpin",
    version,
    about = "Pin container image references in Dockerfiles, Compose files, workflows, GitLab CI \
        and Kubernetes manifests to immutable digests",
    long_about = "Pin container image references in Dockerfiles, Compose files, GitHub workflows \
        and actions, GitLab CI files and Kubernetes manifests to immutable digests.\n\n\
        digestpin finds every image reference where the tool that runs the file takes it from \
        (in a Dockerfile: FROM, COPY --from, RUN --mount from=, global ARG defaults that feed a \
        FROM, the # syntax= directive, exactly as BuildKit parses them), asks the registry \
        which digest each tag points to, and rewrites `image:tag` into `image:tag@sha256:…`, changing no other \
        byte. For cgr.dev it uses the Tag History API, so it can pin to the digest that was \
        current at a past date (--as-of).",
    after_help = "Exit codes: 0 success, 1 findings (--check, --diff), 2 error.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Read this config file instead of the nearest .digestpin.toml or digestpin.toml
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Read no config file
    #[arg(long, global = true, conflicts_with = "config")]
    pub no_config: bool,
    /// Read only these file kinds (overrides kinds in the config file)
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        value_name = "KIND,...",
        value_parser = clap::builder::PossibleValuesParser::new(crate::config::KINDS)
    )]
    pub kinds: Vec<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Pin or refresh image references (default: rewrite files and show the diff)
    #[command(after_help = "Examples:\n  \
        digestpin pin                                # pin every image reference under .\n  \
        digestpin pin --diff services/               # show what would change (exit 1 if anything)\n  \
        digestpin pin --check                        # CI gate: exit 1 if unpinned or stale\n  \
        digestpin pin --check --offline              # no network: exit 1 if any reference lacks a digest\n  \
        digestpin pin --as-of 2024-03-01             # pin cgr.dev images as they were that day\n  \
        digestpin pin --min-age 3d                   # only digests at least 3 days old\n  \
        digestpin pin --endpoint cgr.dev=https://mirror.example.com\n\n\
        Exit codes: 0 success, 1 findings (--check, --diff), 2 error.")]
    Pin(PinArgs),
    /// List every image reference found, with its state (no network)
    #[command(after_help = "Examples:\n  \
        digestpin list\n  \
        digestpin list services/ docker/Dockerfile.ci stack.yml\n  \
        digestpin list --kinds compose,kubernetes deploy/\n  \
        digestpin list --format json | jq '.files[].refs[] | select(.state == \"unpinned\")'\n\n\
        States: pinned, unpinned, stage, scratch, variable, ignored, invalid, split, build-output.\n\
        Exit codes: 0 success, 2 error (unreadable file, invalid reference).")]
    List(ListArgs),
    /// Print a cgr.dev tag's digest history (Tag History API), oldest first
    #[command(after_help = "Examples:\n  \
        digestpin history cgr.dev/chainguard/python:latest\n  \
        digestpin history cgr.dev/chainguard/python --start 2024-01-01 --end 2024-03-01 --format json\n\n\
        Exit codes: 0 success, 2 error.")]
    History(HistoryArgs),
    /// Print IMAGE:TAG@DIGEST for one reference
    #[command(after_help = "Examples:\n  \
        digestpin resolve cgr.dev/chainguard/python:latest\n  \
        digestpin resolve cgr.dev/chainguard/python:latest --as-of 2024-03-01T12:00:00Z\n  \
        digestpin resolve python:3.12 --digest-only\n\n\
        Exit codes: 0 success, 2 error.")]
    Resolve(ResolveArgs),
    /// Show a repository's tags grouped by the digest each points to, newest change first
    #[command(after_help = "Examples:\n  \
        digestpin tags cgr.dev/chainguard/rust\n  \
        digestpin tags cgr.dev/chainguard/rust --format markdown       # the Tags History table\n  \
        digestpin tags cgr.dev/chainguard/rust --filter '^1\\.77' --format json\n  \
        digestpin tags cgr.dev/chainguard/rust --pin 1.77              # IMAGE:TAG@DIGEST for a FROM\n\n\
        Last Changed (cgr.dev only, from the Tag History API) is when the row's image was \
        published, in UTC; other registries keep no tag history (\"unknown\").\n\
        Exit codes: 0 success, 2 error (no tags, repository not found, listing not allowed, \
        a tag that cannot be resolved).")]
    Tags(TagsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(after_help = "Examples:\n  \
        mkdir -p ~/.local/share/bash-completion/completions && \
        digestpin completions bash > ~/.local/share/bash-completion/completions/digestpin\n  \
        mkdir -p ~/.zfunc && digestpin completions zsh > ~/.zfunc/_digestpin\n  \
        mkdir -p ~/.config/fish/completions && \
        digestpin completions fish > ~/.config/fish/completions/digestpin.fish")]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): every command and option, environment, exit status, files
    #[command(
        after_help = "Example:\n  mkdir -p ~/.local/share/man/man1 && digestpin man > ~/.local/share/man/man1/digestpin.1"
    )]
    Man,
}

#[derive(Args)]
pub struct ListArgs {
    /// Files or directories (default: the current directory)
    pub paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// From the config file: paths excluded, references ignored.
    #[arg(skip)]
    pub scope: engine::Scope,
}

#[derive(Args)]
pub struct PinArgs {
    /// Files or directories (default: the current directory)
    pub paths: Vec<PathBuf>,
    /// Write nothing; report references that are unpinned or stale (exit 1 if any)
    #[arg(long, conflicts_with = "diff")]
    pub check: bool,
    /// With --check: no network at all; report references without a digest
    // `conflicts_with` too: clap does not enforce `requires = "check"` when an argument that
    // conflicts with --check (--diff) is present, so `--diff --offline` slipped through.
    #[arg(long, requires = "check", conflicts_with = "diff")]
    pub offline: bool,
    /// Write nothing; print the unified diff that pinning would apply (exit 1 if non-empty)
    #[arg(long, visible_alias = "dry-run")]
    pub diff: bool,
    #[command(flatten)]
    pub when: WhenArgs,
    /// With --min-age: a pin younger than DURATION is a finding (--check) and is moved back to
    /// the newest digest old enough (for registries whose pull policy denies young images)
    #[arg(long)]
    pub enforce_min_age: bool,
    /// Write IMAGE@DIGEST, dropping the tag (default keeps it: IMAGE:TAG@DIGEST)
    #[arg(long, overrides_with = "no_digest_only")]
    pub digest_only: bool,
    /// Keep the tag (overrides digest-only = true in the config file)
    #[arg(long, overrides_with = "digest_only")]
    pub no_digest_only: bool,
    /// Leave references that already carry a digest untouched
    #[arg(long, overrides_with = "no_keep_pinned")]
    pub keep_pinned: bool,
    /// Refresh references that carry a digest (overrides keep-pinned = true in the config file)
    #[arg(long, overrides_with = "keep_pinned")]
    pub no_keep_pinned: bool,
    /// Output format (github: workflow commands, plus a table in $GITHUB_STEP_SUMMARY; sarif:
    /// SARIF 2.1.0 for code scanning; gitlab: a Code Quality report)
    #[arg(long, value_enum, default_value_t = PinFormat::Text)]
    pub format: PinFormat,
    /// Do not read or write the on-disk cache (default: used, except for --check when $CI is set)
    #[arg(long)]
    pub no_cache: bool,
    /// Also write the JSON report (the --format json document) to PATH
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Colour the diff
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Only print errors
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub net: NetArgs,
    /// From the config file: paths excluded, references ignored.
    #[arg(skip)]
    pub scope: engine::Scope,
}

/// Which digest of a tag to take (`pin` and `resolve`).
#[derive(Args)]
pub struct WhenArgs {
    /// The digest the tag pointed to at TIME (RFC 3339, or YYYY-MM-DD = end of that day UTC; needs tag history: cgr.dev)
    #[arg(long, value_name = "TIME", value_parser = timespec::parse_time)]
    pub as_of: Option<jiff::Timestamp>,
    /// Cooldown: new pins and refreshes only to the newest digest at least DURATION old (e.g. 3d, 12h); never moves a pin back
    #[arg(long, value_name = "DURATION", value_parser = timespec::parse_duration)]
    pub min_age: Option<Duration>,
}

impl WhenArgs {
    pub fn min_age(&self) -> Option<jiff::SignedDuration> {
        self.min_age
            .map(|d| jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX))
    }

    pub fn when(&self, now: jiff::Timestamp) -> When {
        When::from_flags(self.as_of, self.min_age(), now)
    }
}

#[derive(Args)]
pub struct HistoryArgs {
    /// IMAGE[:TAG] on cgr.dev (tag defaults to latest)
    pub image: String,
    /// Only entries at or after TIME
    #[arg(long, value_name = "TIME", value_parser = timespec::parse_time)]
    pub start: Option<jiff::Timestamp>,
    /// Only entries at or before TIME (a date means the end of that day, UTC)
    #[arg(long, value_name = "TIME", value_parser = timespec::parse_time)]
    pub end: Option<jiff::Timestamp>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Args)]
pub struct ResolveArgs {
    /// IMAGE[:TAG] (tag defaults to latest)
    pub image: String,
    #[command(flatten)]
    pub when: WhenArgs,
    /// Print IMAGE@DIGEST, without the tag
    #[arg(long)]
    pub digest_only: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Args)]
pub struct TagsArgs {
    /// IMAGE: the repository (a tag or digest in it is ignored)
    pub image: String,
    /// Output format (markdown: the seed pages' "Tags History" table)
    #[arg(long, value_enum, default_value_t = TagsFormat::Text)]
    pub format: TagsFormat,
    /// Only tags matching REGEX (unanchored: '^1\.77', '-dev$')
    #[arg(long, value_name = "REGEX", value_parser = |s: &str| regex::Regex::new(s))]
    pub filter: Option<regex::Regex>,
    /// Print IMAGE:TAG@DIGEST for TAG instead of the table, ready for a FROM line
    #[arg(long, value_name = "TAG")]
    pub pin: Option<String>,
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TagsFormat {
    Text,
    Json,
    Markdown,
}

/// Options of every command that talks to registries.
#[derive(Args)]
pub struct NetArgs {
    /// Send requests for REGISTRY to URL (repeatable; plain http only for loopback)
    #[arg(
        long,
        value_name = "REGISTRY=URL",
        env = "DIGESTPIN_ENDPOINTS",
        value_delimiter = ','
    )]
    pub endpoint: Vec<String>,
    /// At most N registry requests in flight
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Give up on a request after this long (e.g. 30s)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = timespec::parse_timeout)]
    pub timeout: Duration,
    /// Log every registry request (method, URL, status, time) to stderr
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PinFormat {
    Text,
    Json,
    Github,
    /// SARIF 2.1.0 (GitHub code scanning)
    Sarif,
    /// GitLab Code Quality
    Gitlab,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}
