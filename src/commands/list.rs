//! `digestpin list`: every reference found, with its state; streamed, no network.
use std::io::{self, Write};

use crate::ExitStatus;
use crate::args::{Format, ListArgs};
use crate::{engine, report};

pub fn list(args: ListArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
    // Each line on `err` in one write (stderr is not buffered), not a piece at a time.
    let mut err = io::LineWriter::new(err);
    let status = list_to(args, out, &mut err)?;
    err.flush()?;
    Ok(status)
}

fn list_to(args: ListArgs, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<ExitStatus> {
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
