//! The `digestpin` command line: parses arguments, calls the library, maps the outcome to an
//! exit code (0 success, 1 findings, 2 error).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use digestpin::{ExitStatus, engine, report};

#[derive(Parser)]
#[command(
    name = "digestpin",
    version,
    about = "Pin container image references in Dockerfiles to immutable digests",
    long_about = "Pin container image references in Dockerfiles to immutable digests.\n\n\
        digestpin finds every image reference (FROM, COPY --from, RUN --mount from=, global ARG \
        defaults that feed a FROM) exactly as BuildKit parses it, and can prove each one is \
        pinned.",
    after_help = "Exit codes: 0 success, 1 findings (--check, --diff), 2 error.",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every image reference found, with its state (no network)
    #[command(after_help = "Examples:\n  \
        digestpin list\n  \
        digestpin list services/ docker/Dockerfile.ci\n  \
        digestpin list --format json | jq '.files[].refs[] | select(.state == \"unpinned\")'\n\n\
        States: pinned, unpinned, stage, scratch, variable, ignored, invalid, split.\n\
        Exit codes: 0 success, 2 error (unreadable file, invalid reference).")]
    List(ListArgs),
    /// Check that every image reference is pinned to a digest
    #[command(after_help = "Examples:\n  \
        digestpin pin --check --offline            # fail if any reference has no digest\n  \
        digestpin pin --check --offline --format json .\n\n\
        Exit codes: 0 all pinned, 1 findings, 2 error.")]
    Pin(PinArgs),
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
    /// Write nothing; report references that are unpinned (exit 1 if any)
    #[arg(long)]
    check: bool,
    /// With --check: no network at all; report references without a digest
    #[arg(long, requires = "check")]
    offline: bool,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Only print errors
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut err = io::stderr().lock();
    let result = match cli.command {
        Command::List(args) => list(args, &mut out, &mut err),
        Command::Pin(args) => pin(args, &mut out, &mut err),
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
    let scan = engine::scan_paths(&args.paths);
    match args.format {
        Format::Text => report::list_text(&scan, out, err)?,
        Format::Json => report::list_json(&scan, out)?,
    }
    if args.format == Format::Json {
        for file in &scan.files {
            if let Some(e) = &file.error {
                writeln!(err, "error: {}: {e}", file.path.display())?;
            }
        }
    }
    Ok(if scan.has_errors() {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    })
}

fn pin(args: PinArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    if !(args.check && args.offline) {
        writeln!(
            err,
            "error: this build of digestpin resolves nothing over the network yet; use `digestpin pin --check --offline`"
        )?;
        return Ok(ExitStatus::Error);
    }
    let plan = engine::plan_offline(engine::scan_paths(&args.paths));
    match args.format {
        Format::Text => report::check_text(&plan, out, err, args.quiet)?,
        Format::Json => report::pin_json(&plan, out)?,
    }
    let summary = plan.summary();
    Ok(if summary.errors > 0 {
        ExitStatus::Error
    } else if plan.findings().next().is_some() {
        ExitStatus::Findings
    } else {
        ExitStatus::Success
    })
}
