//! `digestpin pin`: the online pipeline (resolve, plan, write or check) and the offline gate,
//! with the run's rules: the cut-off, the cache (not for `--check` under CI), the output formats.
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use super::{failed, network};
use crate::ExitStatus;
use crate::args::{Color, PinArgs, PinFormat};
use crate::cache::Cache;
use crate::diff::ColorChoice;
use crate::engine::{self, PinMode, PinOptions};
use crate::report;

/// `pin --check --offline`, streamed: each file is checked and printed as soon as it is
/// scanned (text and json without --report; other formats need the whole run).
fn check_offline(
    args: &PinArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<ExitStatus> {
    // Each line on `err` in one write (stderr is not buffered), not a piece at a time.
    let mut err = io::LineWriter::new(err);
    let status = check_offline_to(args, out, &mut err)?;
    err.flush()?;
    Ok(status)
}

fn check_offline_to(
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

pub fn pin(args: PinArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
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
