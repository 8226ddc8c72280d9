//! The `digestpin` binary: parses the command line, sets up the process (signals, output that
//! survives a closed pipe), runs the library's command, and maps its status to an exit code
//! (0 success, 1 findings, 2 error).

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use digestpin::ExitStatus;
use digestpin::args::{Cli, Command};
use digestpin::commands::{self, output};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Pin(_)) {
        // Before any thread starts: every thread inherits the blocked signals.
        output::remove_temp_files_on_signals();
    }
    // A closed pipe ends the output, never the run: its status is still computed and returned.
    let mut out = output::PipeGuard::new(io::BufWriter::new(io::stdout().lock()));
    let mut err = output::PipeGuard::new(io::stderr().lock());
    let result =
        commands::run(cli, &mut out, &mut err).and_then(|status| out.flush().map(|()| status));
    let status = match result {
        Ok(status) => status,
        // Any other error (a broken pipe here is not stdout's: the report file, the step
        // summary) is an error.
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            ExitStatus::Error
        }
    };
    ExitCode::from(status.code() as u8)
}
