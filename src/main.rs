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
use digestpin::resolve::{self, Query, TAG_HISTORY_REGISTRY, When};
use digestpin::{ExitStatus, report, timespec};

#[derive(Parser)]
#[command(
    name = "digestpin",
    version,
    about = "Pin container image references in Dockerfiles to immutable digests",
    long_about = "Pin container image references in Dockerfiles to immutable digests.\n\n\
        digestpin finds every image reference (FROM, COPY --from, RUN --mount from=, global ARG \
        defaults that feed a FROM, the # syntax= directive) exactly as BuildKit parses it, asks the registry which digest \
        each tag points to, and rewrites `image:tag` into `image:tag@sha256:…`, changing no other \
        byte. For cgr.dev it uses the Tag History API, so it can pin to the digest that was \
        current at a past date (--as-of).",
    after_help = "Exit codes: 0 success, 1 findings (--check, --diff), 2 error.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Read this config file instead of the nearest .digestpin.toml or digestpin.toml
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Read no config file
    #[arg(long, global = true, conflicts_with = "config")]
    no_config: bool,
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
struct ListArgs {
    /// Files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// From the config file: paths excluded, references ignored.
    #[arg(skip)]
    scope: engine::Scope,
}

#[derive(Args)]
struct PinArgs {
    /// Files or directories (default: the current directory)
    paths: Vec<PathBuf>,
    /// Write nothing; report references that are unpinned or stale (exit 1 if any)
    #[arg(long, conflicts_with = "diff")]
    check: bool,
    /// With --check: no network at all; report references without a digest
    // `conflicts_with` too: clap does not enforce `requires = "check"` when an argument that
    // conflicts with --check (--diff) is present, so `--diff --offline` slipped through.
    #[arg(long, requires = "check", conflicts_with = "diff")]
    offline: bool,
    /// Write nothing; print the unified diff that pinning would apply (exit 1 if non-empty)
    #[arg(long, visible_alias = "dry-run")]
    diff: bool,
    #[command(flatten)]
    when: WhenArgs,
    /// With --min-age: a pin younger than DURATION is a finding (--check) and is moved back to
    /// the newest digest old enough (for registries whose pull policy denies young images)
    #[arg(long)]
    enforce_min_age: bool,
    /// Write IMAGE@DIGEST, dropping the tag (default keeps it: IMAGE:TAG@DIGEST)
    #[arg(long, overrides_with = "no_digest_only")]
    digest_only: bool,
    /// Keep the tag (overrides digest-only = true in the config file)
    #[arg(long, overrides_with = "digest_only")]
    no_digest_only: bool,
    /// Leave references that already carry a digest untouched
    #[arg(long, overrides_with = "no_keep_pinned")]
    keep_pinned: bool,
    /// Refresh references that carry a digest (overrides keep-pinned = true in the config file)
    #[arg(long, overrides_with = "keep_pinned")]
    no_keep_pinned: bool,
    /// Output format (github: workflow commands, plus a table in $GITHUB_STEP_SUMMARY; sarif:
    /// SARIF 2.1.0 for code scanning; gitlab: a Code Quality report)
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
    /// From the config file: paths excluded, references ignored.
    #[arg(skip)]
    scope: engine::Scope,
}

/// Which digest of a tag to take (`pin` and `resolve`).
#[derive(Args)]
struct WhenArgs {
    /// The digest the tag pointed to at TIME (RFC 3339, or YYYY-MM-DD = end of that day UTC; needs tag history: cgr.dev)
    #[arg(long, value_name = "TIME", value_parser = timespec::parse_time)]
    as_of: Option<jiff::Timestamp>,
    /// Cooldown: new pins and refreshes only to the newest digest at least DURATION old (e.g. 3d, 12h); never moves a pin back
    #[arg(long, value_name = "DURATION", value_parser = timespec::parse_duration)]
    min_age: Option<Duration>,
}

impl WhenArgs {
    fn min_age(&self) -> Option<jiff::SignedDuration> {
        self.min_age
            .map(|d| jiff::SignedDuration::try_from(d).unwrap_or(jiff::SignedDuration::MAX))
    }

    fn when(&self, now: jiff::Timestamp) -> When {
        When::from_flags(self.as_of, self.min_age(), now)
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
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = timespec::parse_duration)]
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
    /// SARIF 2.1.0 (GitHub code scanning)
    Sarif,
    /// GitLab Code Quality
    Gitlab,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if matches!(cli.command, Command::Pin(_)) {
        // Before any thread starts: every thread inherits the blocked signals.
        remove_temp_files_on_signals();
    }
    let stdout = io::stdout();
    // A closed pipe ends the output, never the run: its status is still computed and returned.
    let mut out = PipeGuard::new(io::BufWriter::new(stdout.lock()));
    let mut err = PipeGuard::new(io::stderr().lock());
    if let Err(e) = apply_config(&mut cli) {
        let _ = writeln!(err, "error: {e}");
        return ExitCode::from(ExitStatus::Error.code() as u8);
    }
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
        Command::Man => {
            let mut page = Vec::new();
            digestpin::manpage::render(Cli::command(), &mut page)
                .and_then(|()| out.write_all(&page))
                .map(|()| ExitStatus::Success)
        }
    };
    let result = result.and_then(|status| out.flush().map(|()| status));
    match result {
        Ok(status) => ExitCode::from(status.code() as u8),
        // Any other error (a broken pipe here is not stdout's: the report file, the step
        // summary) is an error.
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitCode::from(ExitStatus::Error.code() as u8)
        }
    }
}

/// Output whose reader may go away (`digestpin pin --check | head -1`): after a broken pipe,
/// further output is dropped and reported as written, so the command runs to the end and its
/// exit status says what it found, not that the reader stopped reading.
struct PipeGuard<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeGuard<W> {
    fn new(inner: W) -> Self {
        PipeGuard {
            inner,
            closed: false,
        }
    }

    fn absorb(&mut self, result: io::Result<()>) -> io::Result<()> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

impl<W: Write> Write for PipeGuard<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf).map(drop);
        self.absorb(result)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.write_all(buf);
        self.absorb(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result)
    }
}

/// On SIGINT, SIGTERM or SIGHUP, removes the temporary files being written before the process
/// dies of the signal as it would have (no `.digestpin-*.tmp` is left behind). The signals are
/// blocked in every thread and taken by one thread with `sigwait`, so the cleanup runs as
/// ordinary code (not in a signal handler) and needs no crate beyond `libc`. A signal the
/// process was started with ignored (`nohup`) stays ignored. Child processes (credential
/// helpers) start with no signals blocked: the standard library resets the mask.
#[cfg(unix)]
fn remove_temp_files_on_signals() {
    // SAFETY: plain libc calls on local, initialised sigset_t/sigaction values; the thread
    // below only waits for the signals blocked here.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut current: libc::sigaction = std::mem::zeroed();
            let ignored = libc::sigaction(signal, std::ptr::null(), &mut current) == 0
                && current.sa_sigaction == libc::SIG_IGN;
            if !ignored {
                libc::sigaddset(&mut set, signal);
            }
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                let mut signal = 0;
                while libc::sigwait(&set, &mut signal) != 0 {}
                // Held until the process ends: no temporary file is created or renamed after.
                let _temps = digestpin::files::remove_temp_files();
                libc::signal(signal, libc::SIG_DFL);
                let mut only: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut only);
                libc::sigaddset(&mut only, signal);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &only, std::ptr::null_mut());
                libc::raise(signal);
                std::process::exit(128 + signal);
            });
        if spawned.is_err() {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        }
    }
}

#[cfg(not(unix))]
fn remove_temp_files_on_signals() {}

/// Reads the config file (`--config PATH`, else the nearest one, unless `--no-config`) and
/// merges it into the command's options. Flags and environment variables win over it.
fn apply_config(cli: &mut Cli) -> Result<(), digestpin::config::ConfigError> {
    if cli.no_config || matches!(cli.command, Command::Completions { .. } | Command::Man) {
        return Ok(());
    }
    let path = match &cli.config {
        Some(path) => Some(path.clone()),
        None => std::env::current_dir().ok().and_then(|dir| {
            // Named relative to the working directory when it is in it (`.digestpin.toml:3`).
            let found = digestpin::config::find(&dir)?;
            Some(
                found
                    .strip_prefix(&dir)
                    .map_or(found.clone(), PathBuf::from),
            )
        }),
    };
    let Some(path) = path else {
        return Ok(());
    };
    let config = digestpin::config::load(&path)?;
    let with_endpoints = |net: &mut NetArgs| {
        let mut endpoints = config.endpoints.clone();
        endpoints.append(&mut net.endpoint);
        net.endpoint = endpoints;
    };
    match &mut cli.command {
        Command::Pin(args) => {
            args.when.min_age = args.when.min_age.or(config.min_age);
            args.keep_pinned |= !args.no_keep_pinned && config.keep_pinned == Some(true);
            args.digest_only |= !args.no_digest_only && config.digest_only == Some(true);
            args.enforce_min_age |= config.enforce_min_age == Some(true);
            with_endpoints(&mut args.net);
            args.scope = config.scope;
        }
        Command::List(args) => args.scope = config.scope,
        Command::History(args) => with_endpoints(&mut args.net),
        Command::Resolve(args) => with_endpoints(&mut args.net),
        Command::Tags(args) => with_endpoints(&mut args.net),
        Command::Completions { .. } | Command::Man => {}
    }
    Ok(())
}

fn list(args: ListArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    // Each file is printed as soon as it is scanned; nothing is kept.
    let mut errors = false;
    let walk = match args.format {
        Format::Text => engine::scan_each(&args.paths, &args.scope, &mut |file| {
            errors |= file.has_errors();
            report::list_text_file(&file, out, err)?;
            report::invalid_refs(&file, err)
        })?,
        Format::Json => {
            let mut doc = report::JsonFiles::begin(out)?;
            let walk = engine::scan_each(&args.paths, &args.scope, &mut |file| {
                errors |= file.has_errors();
                if let Some(e) = &file.error {
                    let message = report::escape_text(&e.to_string()).into_owned();
                    writeln!(
                        err,
                        "error: {}: {message}",
                        report::display_path(&file.path)
                    )?;
                }
                report::invalid_refs(&file, err)?;
                doc.list_file(&file)
            })?;
            doc.finish(&walk.skipped)?;
            walk
        }
    };
    report::empty_dirs(err, &walk.empty_dirs)?;
    report::skipped_files(err, &walk.skipped)?;
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
    if args.report.is_some() || !matches!(args.format, PinFormat::Text | PinFormat::Json) {
        let plan = engine::plan_offline(engine::scan_paths(&args.paths, &args.scope));
        let rendered = render_pin(&plan, PinMode::Check, args, false, out, err)?;
        return Ok(rendered.max(plan.tally().exit_status(PinMode::Check)));
    }
    if args.format == PinFormat::Json {
        let mut doc = report::JsonFiles::begin(out)?;
        let walk = engine::scan_each(&args.paths, &args.scope, &mut |file| {
            let plan = engine::plan_offline_file(file);
            tally.add(&plan);
            doc.pin_file(&plan)
        })?;
        doc.finish_with_summary(&tally.summary, &walk.skipped)?;
    } else {
        let walk = engine::scan_each(&args.paths, &args.scope, &mut |file| {
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
            out.flush()?;
            report::empty_dirs(err, &walk.empty_dirs)?;
            report::skipped_files(err, &walk.skipped)?;
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
            .with_ansi(ColorChoice::Auto.enabled(io::stderr().is_terminal()))
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
    if args.enforce_min_age && args.when.min_age.is_none() {
        return failed(
            err,
            None,
            "--enforce-min-age needs --min-age (or min-age in the config file)",
        );
    }
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
        when: args.when.when(now),
        min_age: args.when.min_age(),
        enforce_min_age: args.enforce_min_age,
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
        &args.scope,
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
    let rendered = render_pin(&report, mode, &args, color, out, err)?;
    Ok(rendered.max(report.tally().exit_status(mode)))
}

/// Writes the output, and the `--report` file if asked: an error status if that failed.
fn render_pin(
    report: &engine::PinReport,
    mode: PinMode,
    args: &PinArgs,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<ExitStatus> {
    let mut status = ExitStatus::Success;
    if let Some(path) = &args.report {
        if let Err(e) = write_report(path, report) {
            let path = report::display_path(path);
            writeln!(err, "error: {path}: cannot write the report: {e}")?;
            status = ExitStatus::Error;
        }
    }
    render_output(report, mode, args, color, out, err)?;
    Ok(status)
}

/// Writes the JSON report to `path`, never through a symlink there: one planted in a
/// repository (`--report out.json` with `out.json -> ~/.bashrc`) is refused, not followed.
fn write_report(path: &std::path::Path, report: &engine::PinReport) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            return Err(io::Error::new(
                e.kind(),
                "it is a symbolic link, which is not followed",
            ));
        }
        Err(e) => return Err(e),
    };
    let mut file = io::BufWriter::new(file);
    report::pin_json(report, &mut file)?;
    file.flush()
}

fn render_output(
    report: &engine::PinReport,
    mode: PinMode,
    args: &PinArgs,
    color: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<()> {
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
        PinFormat::Sarif => {
            report::pin_sarif(report, mode, out)?;
            report::pin_errors(report, err)
        }
        PinFormat::Gitlab => {
            report::pin_gitlab(report, mode, out)?;
            report::pin_errors(report, err)
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

/// Prints `error: SUBJECT: PROBLEM` (or `error: PROBLEM`) and gives the error status. Control
/// characters (from a registry's message, or the argument) are shown escaped.
fn failed(
    err: &mut dyn Write,
    subject: Option<&str>,
    problem: impl std::fmt::Display,
) -> io::Result<ExitStatus> {
    let problem = report::escape_text(&problem.to_string()).into_owned();
    let subject = subject.map(report::escape_text);
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
    let when = args.when.when(now);
    let query = Query::tag(reference.registry(), reference.repository(), tag, when);
    let none = std::collections::BTreeSet::new();
    let answer = match runtime.block_on(resolve::resolve_one(&client, &query, now, None, &none)) {
        (Ok(answer), _) => answer,
        (Err(e), _) => return failed(err, image, e),
    };
    let Some((digest, _)) = answer.pick(when) else {
        let problem = format!(
            "no digest of tag {tag} is old enough for --min-age (none published at or before {}, or no publish time)",
            when.cutoff().unwrap_or(now)
        );
        return failed(err, image, problem);
    };
    let base = Reference::parse(&format!("{}:{tag}", reference.name())).unwrap_or(reference);
    writeln!(out, "{}", base.pinned_to(digest, !args.digest_only))?;
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
