//! What each command does, given its parsed arguments: one entry per command, writing its
//! output to the writers it is handed and returning the exit status. Every rule about a run
//! (which pipeline, the cache under CI, the cut-off, the config file) lives here or below; the
//! binary only parses, calls [`run`] and maps the status to an exit code.

pub mod output;

mod history;
mod list;
mod pin;
mod resolve;
mod tags;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::CommandFactory;

use crate::ExitStatus;
use crate::args::{Cli, Command, NetArgs};
use crate::diff::ColorChoice;
use crate::registry::credentials::CredentialStore;
use crate::registry::{Client, ClientOptions, Endpoints};
use crate::report;
use history::history;
use list::list;
use pin::pin;
use resolve::resolve;
use tags::tags;

/// Runs one command line: reads the config file into it, then the command. Errors writing the
/// output are returned; everything else is reported on `err` and in the status.
pub fn run(mut cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    if let Err(e) = apply_config(&mut cli) {
        writeln!(err, "error: {e}")?;
        return Ok(ExitStatus::Error);
    }
    if !cli.kinds.is_empty() {
        let kinds = crate::kinds::Kinds::default().only(&cli.kinds);
        match &mut cli.command {
            Command::Pin(args) => args.scope.kinds = kinds,
            Command::List(args) => args.scope.kinds = kinds,
            _ => {}
        }
    }
    match cli.command {
        Command::List(args) => list(args, out, err),
        Command::Pin(args) => pin(args, out, err),
        Command::History(args) => history(args, out, err),
        Command::Resolve(args) => resolve(args, out, err),
        Command::Tags(args) => tags(args, out, err),
        Command::Completions { shell } => {
            // Generated into memory: clap_complete panics on a write error (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "digestpin", &mut script);
            out.write_all(&script).map(|()| ExitStatus::Success)
        }
        Command::Man => {
            let mut page = Vec::new();
            crate::manpage::render(Cli::command(), &mut page)?;
            out.write_all(&page).map(|()| ExitStatus::Success)
        }
    }
}

/// Reads the config file (`--config PATH`, else the nearest one, unless `--no-config`) and
/// merges it into the command's options. Flags and environment variables win over it.
pub fn apply_config(cli: &mut Cli) -> Result<(), crate::config::ConfigError> {
    if cli.no_config || matches!(cli.command, Command::Completions { .. } | Command::Man) {
        return Ok(());
    }
    let path = match &cli.config {
        Some(path) => Some(path.clone()),
        None => std::env::current_dir().ok().and_then(|dir| {
            // Named relative to the working directory when it is in it (`.digestpin.toml:3`).
            let found = crate::config::find(&dir)?;
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
    let config = crate::config::load(&path)?;
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
