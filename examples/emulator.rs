//! The Tag History API emulator as its own process, for benchmarks and manual testing.
//!
//! ```text
//! cargo run --release --example emulator -- [--port P] [--latency-ms MS] [--images N] [--history K] [--tags T]
//! ```
//!
//! Serves `chainguard/img-0` … `chainguard/img-{N-1}`, each with tag `latest` and `T` extra tags
//! (`1.0` … `1.{T-1}`), every tag with `K` history entries one hour apart, the newest an hour ago.
//! Prints `listening on http://127.0.0.1:PORT` as its first line of stdout once everything is
//! served, then serves until killed; on SIGINT or SIGTERM prints the request counts by kind to
//! stderr and exits 0.

#[path = "../tests/it/support/emulator/mod.rs"]
mod emulator;

use std::time::Duration;

use clap::Parser;
use emulator::{Emulator, Kind};

/// Serve synthetic cgr.dev repositories on 127.0.0.1.
#[derive(Parser)]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Added to every request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Number of repositories chainguard/img-0 … img-{N-1}.
    #[arg(long, default_value_t = 100)]
    images: usize,
    /// History entries per tag.
    #[arg(long, default_value_t = 100)]
    history: usize,
    /// Extra tags per repository besides `latest`.
    #[arg(long, default_value_t = 0)]
    tags: usize,
}

const HOUR: Duration = Duration::from_secs(3600);

fn main() {
    let args = Args::parse();
    signals::install();

    let emu = Emulator::start_on(args.port, Duration::from_millis(args.latency_ms));
    let now = jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .expect("round");
    let span = jiff::SignedDuration::from_secs(3600 * args.history as i64);
    let start = now.checked_sub(span).expect("start").to_string();
    for i in 0..args.images {
        let repo = format!("chainguard/img-{i}");
        let tags =
            std::iter::once("latest".to_string()).chain((0..args.tags).map(|j| format!("1.{j}")));
        for tag in tags {
            emu.generate_history(&repo, &tag, args.history, &start, HOUR);
        }
    }

    println!("listening on {}", emu.url());

    while !signals::received() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let counts: Vec<String> = Kind::ALL
        .iter()
        .map(|&k| format!("{}={}", k.name(), emu.count(k)))
        .collect();
    eprintln!("requests: {}", counts.join(" "));
}

/// SIGINT/SIGTERM without the tokio `signal` feature: a handler that only sets a flag.
#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};

    static RECEIVED: AtomicBool = AtomicBool::new(false);

    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;

    unsafe extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }

    extern "C" fn on_signal(_: i32) {
        RECEIVED.store(true, Ordering::SeqCst);
    }

    pub fn install() {
        let handler = on_signal as extern "C" fn(i32) as usize;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            signal(SIGINT, handler);
            signal(SIGTERM, handler);
        }
    }

    pub fn received() -> bool {
        RECEIVED.load(Ordering::SeqCst)
    }
}

#[cfg(not(unix))]
mod signals {
    pub fn install() {}

    pub fn received() -> bool {
        false
    }
}
