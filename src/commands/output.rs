//! The process around a run: output whose reader may go away, and signals that must not leave
//! temporary files behind.

use std::io::{self, Write};

/// Output whose reader may go away (`digestpin pin --check | head -1`): after a broken pipe,
/// further output is dropped and reported as written, so the command runs to the end and its
/// exit status says what it found, not that the reader stopped reading.
pub struct PipeGuard<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeGuard<W> {
    pub fn new(inner: W) -> Self {
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
pub fn remove_temp_files_on_signals() {
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
                let _temps = crate::files::remove_temp_files();
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
pub fn remove_temp_files_on_signals() {}
