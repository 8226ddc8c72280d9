//! The `digestpin` command line: parses arguments, builds the runtime and the registry client,
//! calls the library, and maps the outcome to an exit code (0 success, 1 findings, 2 error).

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use digestpin::cache::Cache;
use digestpin::diff::ColorChoice;
use digestpin::engine::{self, PinMode, PinOptions};
use digestpin::reference::Reference;
use digestpin::registry::credentials::CredentialStore;
use digestpin::registry::history::{TagHistory, all_entries};
use digestpin::registry::{Client, ClientOptions, Endpoints};
use digestpin::resolve::{self, Query, TAG_HISTORY_REGISTRY};
use digestpin::{ExitStatus, report, timespec};

#[derive(Parser)]
#[command(
    name = "digestpin",
    version,
    about = "Pin container image references in Dockerfiles to immutable digests",
    long_about = "Pin container image references in Dockerfiles to immutable digests.\n\n\
        digestpin finds every image reference (FROM, COPY --from, RUN --mount from=, global ARG \
        defaults that feed a FROM) exactly as BuildKit parses it, asks the registry which digest \
        each tag points to, and rewrites `image:tag` into `image:tag@sha256:…`, changing no other \
        byte. For cgr.dev it uses the Tag History API, so it can pin to the digest that was \
        current at a past date (--as-of).",
    after_help = "Exit codes: 0 success, 1 findings (--check, --diff), 2 error.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pin or refresh image references (default: rewrite files and show the diff)
    #[command(after_help = "Examples:\n  \
        digestpin pin                                # pin every Dockerfile under .\n  \
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
        digestpin list services/ docker/Dockerfile.ci\n  \
        digestpin list --format json | jq '.files[].refs[] | select(.state == \"unpinned\")'\n\n\
        States: pinned, unpinned, stage, scratch, variable, ignored, invalid, split.\n\
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
        digestpin completions bash > ~/.local/share/bash-completion/completions/digestpin\n  \
        digestpin completions zsh > ~/.zfunc/_digestpin\n  \
        digestpin completions fish > ~/.config/fish/completions/digestpin.fish")]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    #[command(after_help = "Example:\n  digestpin man > /usr/local/share/man/man1/digestpin.1")]
    Man,
}

#[derive(Args)]
struct ListArgs {
    /// Files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Args)]
struct PinArgs {
    /// Files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Write nothing; report references that are unpinned or stale (exit 1 if any)
    #[arg(long, conflicts_with = "diff")]
    check: bool,
    /// With --check: no network at all; report references without a digest
    #[arg(long, requires = "check")]
    offline: bool,
    /// Write nothing; print the unified diff that pinning would apply (exit 1 if non-empty)
    #[arg(long, visible_alias = "dry-run")]
    diff: bool,
    #[command(flatten)]
    when: WhenArgs,
    /// Write IMAGE@DIGEST, dropping the tag (default keeps it: IMAGE:TAG@DIGEST)
    #[arg(long)]
    digest_only: bool,
    /// Leave references that already carry a digest untouched
    #[arg(long)]
    keep_pinned: bool,
    /// Output format (github: workflow commands, plus a table in $GITHUB_STEP_SUMMARY)
    #[arg(long, value_enum, default_value_t = PinFormat::Text)]
    format: PinFormat,
    /// Do not read or write the on-disk cache (default: used, except for --check when $CI is set)
    #[arg(long)]
    no_cache: bool,
    /// Also write the JSON report (the --format json document) to PATH
    #[arg(long, value_name = "PATH")]
    report: Option<PathBuf>,
    /// Colour the diff
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
    /// Only print errors
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    net: NetArgs,
}

/// Which digest of a tag's history to take (`pin` and `resolve`; cgr.dev only).
#[derive(Args)]
struct WhenArgs {
    /// The digest the tag pointed to at TIME (RFC 3339, or YYYY-MM-DD = end of that day UTC; cgr.dev only)
    #[arg(long, value_name = "TIME", value_parser = timespec::parse_time)]
    as_of: Option<jiff::Timestamp>,
    /// The newest digest at least DURATION old (e.g. 3d, 12h; cgr.dev only)
    #[arg(long, value_name = "DURATION", value_parser = timespec::parse_duration)]
    min_age: Option<Duration>,
}

impl WhenArgs {
    /// The cut-off from `--as-of` and `--min-age` (the earlier of the two).
    fn cutoff(&self, now: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let aged = self
            .min_age
            .and_then(|d| jiff::SignedDuration::try_from(d).ok())
            .and_then(|d| now.checked_sub(d).ok());
        match (self.as_of, aged) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Args)]
struct HistoryArgs {
    /// IMAGE[:TAG] on cgr.dev (tag defaults to latest)
    image: String,
    /// Only entries at or after TIME
    #[arg(long, value_name = "TIME", value_parser = timespec::parse_time)]
    start: Option<jiff::Timestamp>,
    /// Only entries at or before TIME (a date means the end of that day, UTC)
    #[arg(long, value_name = "TIME", value_parser = timespec::parse_time)]
    end: Option<jiff::Timestamp>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Args)]
struct ResolveArgs {
    /// IMAGE[:TAG] (tag defaults to latest)
    image: String,
    #[command(flatten)]
    when: WhenArgs,
    /// Print IMAGE@DIGEST, without the tag
    #[arg(long)]
    digest_only: bool,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Args)]
struct TagsArgs {
    /// IMAGE: the repository (a tag or digest in it is ignored)
    image: String,
    /// Output format (markdown: the seed pages' "Tags History" table)
    #[arg(long, value_enum, default_value_t = TagsFormat::Text)]
    format: TagsFormat,
    /// Only tags matching REGEX (unanchored: '^1\.77', '-dev$')
    #[arg(long, value_name = "REGEX", value_parser = |s: &str| regex::Regex::new(s))]
    filter: Option<regex::Regex>,
    /// Print IMAGE:TAG@DIGEST for TAG instead of the table, ready for a FROM line
    #[arg(long, value_name = "TAG")]
    pin: Option<String>,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TagsFormat {
    Text,
    Json,
    Markdown,
}

/// Options of every command that talks to registries.
#[derive(Args)]
struct NetArgs {
    /// Send requests for REGISTRY to URL (repeatable; plain http only for loopback)
    #[arg(
        long,
        value_name = "REGISTRY=URL",
        env = "DIGESTPIN_ENDPOINTS",
        value_delimiter = ','
    )]
    endpoint: Vec<String>,
    /// At most N registry requests in flight
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// Give up on a request after this long (e.g. 30s)
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = timespec::parse_timeout)]
    timeout: Duration,
    /// Log every registry request (method, URL, status, time) to stderr
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PinFormat {
    Text,
    Json,
    Github,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut err = io::stderr().lock();
    let result = match cli.command {
        Command::List(args) => list(args, &mut out, &mut err),
        Command::Pin(args) => pin(args, &mut out, &mut err),
        Command::History(args) => history(args, &mut out, &mut err),
        Command::Resolve(args) => resolve(args, &mut out, &mut err),
        Command::Tags(args) => tags(args, &mut out, &mut err),
        Command::Completions { shell } => {
            // Generated into memory: clap_complete panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "digestpin", &mut script);
            out.write_all(&script).map(|()| ExitStatus::Success)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .map(|()| ExitStatus::Success),
    };
    let result = result.and_then(|status| out.flush().map(|()| status));
    match result {
        Ok(status) => ExitCode::from(status.code() as u8),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(ExitStatus::Error.code() as u8)
        }
    }
}

fn list(args: ListArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    // Each file is printed as soon as it is scanned; nothing is kept.
    let mut errors = false;
    let walk = match args.format {
        Format::Text => engine::scan_each(&args.paths, &mut |file| {
            errors |= file.has_errors();
            report::list_text_file(&file, out, err)
        })?,
        Format::Json => {
            let mut doc = report::JsonFiles::begin(out)?;
            let walk = engine::scan_each(&args.paths, &mut |file| {
                errors |= file.has_errors();
                if let Some(e) = &file.error {
                    writeln!(err, "error: {}: {e}", report::display_path(&file.path))?;
                }
                doc.list_file(&file)
            })?;
            doc.finish()?;
            walk
        }
    };
    report::empty_dirs(err, &walk.empty_dirs)?;
    Ok(if errors {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

/// `pin --check --offline`, streamed: each file is checked and printed as soon as it is
/// scanned (text and json without --report; other formats need the whole run).
fn check_offline(
    args: &PinArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<ExitStatus> {
    let mut tally = engine::Tally::default();
    if args.report.is_some() || args.format == PinFormat::Github {
        let plan = engine::plan_offline(engine::scan_paths(&args.paths));
        render_pin(&plan, PinMode::Check, args, false, out, err)?;
        return Ok(plan.tally().exit_status(PinMode::Check));
    }
    if args.format == PinFormat::Json {
        let mut doc = report::JsonFiles::begin(out)?;
        engine::scan_each(&args.paths, &mut |file| {
            let plan = engine::plan_offline_file(file);
            tally.add(&plan);
            doc.pin_file(&plan)
        })?;
        doc.finish_with_summary(&tally.summary)?;
    } else {
        let walk = engine::scan_each(&args.paths, &mut |file| {
            let plan = engine::plan_offline_file(file);
            tally.add(&plan);
            let style = report::PinText {
                mode: PinMode::Check,
                color: false,
                quiet: args.quiet,
            };
            report::pin_text_file(&plan, style, out, err)
        })?;
        if !args.quiet {
            report::empty_dirs(err, &walk.empty_dirs)?;
            report::pin_text_summary(&tally, PinMode::Check, err)?;
        }
    }
    Ok(tally.exit_status(PinMode::Check))
}

/// Sets up `-v` logging, the runtime and the registry client; `None` after reporting why not.
fn network(
    net: &NetArgs,
    err: &mut dyn Write,
) -> io::Result<Option<(tokio::runtime::Runtime, Client)>> {
    match setup_network(net) {
        Ok(pair) => Ok(Some(pair)),
        Err(message) => {
            writeln!(err, "error: {message}")?;
            Ok(None)
        }
    }
}

fn setup_network(net: &NetArgs) -> Result<(tokio::runtime::Runtime, Client), String> {
    if net.verbose {
        let _ = tracing_subscriber::fmt()
            .with_writer(io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new("digestpin=debug"))
            .with_target(false)
            .with_ansi(io::stderr().is_terminal())
            .try_init();
    }
    let mut endpoints = Endpoints::default();
    for spec in net.endpoint.iter().filter(|s| !s.trim().is_empty()) {
        endpoints.add(spec).map_err(|e| e.to_string())?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let options = ClientOptions {
        jobs: usize::from(net.jobs),
        timeout: net.timeout,
        endpoints,
        ..ClientOptions::default()
    };
    let client = Client::new(options, CredentialStore::from_env()).map_err(|e| e.to_string())?;
    Ok((runtime, client))
}

fn pin(args: PinArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    if args.offline {
        return check_offline(&args, out, err);
    }
    let Some((runtime, client)) = network(&args.net, err)? else {
        return Ok(ExitStatus::Error);
    };
    let mode = if args.check {
        PinMode::Check
    } else if args.diff {
        PinMode::Diff
    } else {
        PinMode::Write
    };
    let now = jiff::Timestamp::now();
    let opts = PinOptions {
        mode,
        cutoff: args.when.cutoff(now),
        digest_only: args.digest_only,
        keep_pinned: args.keep_pinned,
        now,
        jobs: usize::from(args.net.jobs),
    };
    let show_progress = args.format == PinFormat::Text && !args.quiet && io::stderr().is_terminal();
    let progress = Progress::new(show_progress);
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    let skip_cache = args.no_cache || (in_ci && mode == PinMode::Check);
    let cache = (!skip_cache)
        .then(Cache::default_dir)
        .flatten()
        .map(Cache::new);
    let report = engine::pin(
        &args.paths,
        &client,
        &opts,
        cache.as_ref(),
        &runtime,
        &|done, total| progress.update(done, total),
    );
    progress.finish();
    let color = match args.color {
        Color::Always => ColorChoice::Always,
        Color::Never => ColorChoice::Never,
        Color::Auto => ColorChoice::Auto,
    }
    .enabled(io::stdout().is_terminal());
    render_pin(&report, mode, &args, color, out, err)?;
    Ok(report.tally().exit_status(mode))
}

fn render_pin(
    report: &engine::PinReport,
    mode: PinMode,
    args: &PinArgs,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
    if let Some(path) = &args.report {
        let mut file = io::BufWriter::new(std::fs::File::create(path)?);
        report::pin_json(report, &mut file)?;
        file.flush()?;
    }
    match args.format {
        PinFormat::Text => {
            let style = report::PinText {
                mode,
                color,
                quiet: args.quiet,
            };
            report::pin_text(report, style, out, err)
        }
        PinFormat::Json => report::pin_json(report, out),
        PinFormat::Github => {
            report::pin_github(report, mode, out)?;
            if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
                let mut summary = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&path)?;
                report::step_summary(report, mode, &mut summary)?;
            }
            Ok(())
        }
    }
}

/// A progress bar on stderr, shown only once resolution takes more than a moment.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let bar = enabled.then(|| {
            let bar = indicatif::ProgressBar::hidden();
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} resolving {pos}/{len} images {wide_bar} {elapsed}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
        }
    }

    fn update(&self, done: usize, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            if bar.is_hidden()
                && self.started.elapsed() > Duration::from_millis(300)
                && done < total
            {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Prints `error: SUBJECT: PROBLEM` (or `error: PROBLEM`) and gives the error status.
fn failed(
    err: &mut dyn Write,
    subject: Option<&str>,
    problem: impl std::fmt::Display,
) -> io::Result<ExitStatus> {
    match subject {
        Some(subject) => writeln!(err, "error: {subject}: {problem}")?,
        None => writeln!(err, "error: {problem}")?,
    }
    Ok(ExitStatus::Error)
}

fn history(args: HistoryArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    let image = Some(args.image.as_str());
    let reference = match Reference::parse(&args.image) {
        Ok(r) => r,
        Err(e) => return failed(err, image, format_args!("invalid reference: {e}")),
    };
    if reference.registry() != TAG_HISTORY_REGISTRY {
        let registry = reference.registry();
        let problem =
            format!("registry {registry} has no tag history API (only {TAG_HISTORY_REGISTRY} has)");
        return failed(err, image, problem);
    }
    let Some(tag) = reference.lookup_tag() else {
        return failed(err, image, "a digest has no history; give a tag");
    };
    let Some((runtime, client)) = network(&args.net, err)? else {
        return Ok(ExitStatus::Error);
    };
    let source = TagHistory {
        client: &client,
        registry: reference.registry(),
        repository: reference.repository(),
        tag,
    };
    let entries = match runtime.block_on(all_entries(&source, args.start, args.end)) {
        Ok(entries) => entries,
        Err(e) => return failed(err, image, e),
    };
    match args.format {
        Format::Text => report::history_text(&entries, out)?,
        Format::Json => report::history_json(&reference, tag, &entries, out)?,
    }
    Ok(ExitStatus::Success)
}

fn resolve(args: ResolveArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    let image = Some(args.image.as_str());
    let reference = match Reference::parse(&args.image) {
        Ok(r) => r,
        Err(e) => return failed(err, image, format_args!("invalid reference: {e}")),
    };
    let Some(tag) = reference.lookup_tag() else {
        return failed(err, image, "already a digest; there is no tag to follow");
    };
    let Some((runtime, client)) = network(&args.net, err)? else {
        return Ok(ExitStatus::Error);
    };
    let now = jiff::Timestamp::now();
    let query = Query {
        registry: reference.registry().to_owned(),
        repository: reference.repository().to_owned(),
        tag: tag.to_owned(),
        cutoff: args.when.cutoff(now),
    };
    let answer = match runtime.block_on(resolve::resolve_one(&client, &query, now, None)) {
        (Ok(answer), _) => answer,
        (Err(e), _) => return failed(err, image, e),
    };
    let base = Reference::parse(&format!("{}:{tag}", reference.name())).unwrap_or(reference);
    writeln!(out, "{}", base.pinned_to(&answer.digest, !args.digest_only))?;
    Ok(ExitStatus::Success)
}

fn tags(args: TagsArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    let reference = match Reference::parse(&args.image) {
        Ok(r) => r,
        Err(e) => {
            return failed(
                err,
                Some(&args.image),
                format_args!("invalid reference: {e}"),
            );
        }
    };
    let Some((runtime, client)) = network(&args.net, err)? else {
        return Ok(ExitStatus::Error);
    };
    let now = jiff::Timestamp::now();
    let filter = args.filter.as_ref();
    if let Some(tag) = &args.pin {
        let pinned = digestpin::tags::pin_tag(&client, &reference, tag, filter, now);
        return match runtime.block_on(pinned) {
            Ok(line) => {
                writeln!(out, "{line}")?;
                Ok(ExitStatus::Success)
            }
            Err(e) => failed(err, None, e),
        };
    }
    let jobs = usize::from(args.net.jobs);
    let groups = digestpin::tags::tag_groups(&client, &reference, filter, jobs, now);
    let groups = match runtime.block_on(groups) {
        Ok(groups) => groups,
        Err(e) => return failed(err, None, e),
    };
    match args.format {
        TagsFormat::Text => report::tags_text(&groups, out)?,
        TagsFormat::Json => report::tags_json(&groups, out)?,
        TagsFormat::Markdown => report::tags_markdown(&groups, out)?,
    }
    Ok(ExitStatus::Success)
}
