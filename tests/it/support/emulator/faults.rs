//! Faults and quirks: what the next matching requests get instead of (or before) normal
//! handling, the response-shape options, and the connections a fault can reset.

use super::*;

/// A fault served, before any normal handling (authentication included), to the next matching
/// requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// That status with an OCI error body.
    Status(u16),
    /// `429` with `Retry-After: N` and a `TOOMANYREQUESTS` error body.
    TooManyRequests { retry_after_secs: u64 },
    /// Close the TCP connection (with an RST) without writing a byte of the response.
    ResetConnection,
    /// Sleep, then handle the request normally.
    Delay(Duration),
    /// `200` with a history body cut in the middle (authentication skipped).
    TruncatedJson,
}

/// Response-shape options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// History keys `UpdateTimestamp`/`Digest`, as early responses had.
    pub capitalized_keys: bool,
    /// History newest first, despite the documentation.
    pub reverse_order: bool,
    /// `"token"` (default) or `"access_token"`.
    pub token_key: &'static str,
    /// No `Docker-Content-Digest` header on manifest responses.
    pub omit_content_digest: bool,
    /// Served instead of the newest history entry's digest, in the history and as the
    /// `Docker-Content-Digest` of the tag's manifest.
    pub bad_digest: Option<String>,
    /// `expires_in` of token responses (omitted when `None`); tokens stop being accepted after
    /// that many seconds (300 when `None`).
    pub expires_in: Option<u64>,
    /// History pages ignore `start` and `end` (always the oldest 1000 entries).
    pub ignore_range: bool,
    /// A window with a `start` is answered with the tag's newest entry re-dated half a second
    /// after that start: the only entry sits inside the margin a client adds before its window.
    pub half_second_after_start: bool,
}

impl Default for Quirks {
    fn default() -> Quirks {
        Quirks {
            capitalized_keys: false,
            reverse_order: false,
            token_key: "token",
            omit_content_digest: false,
            bad_digest: None,
            expires_in: Some(300),
            ignore_range: false,
            half_second_after_start: false,
        }
    }
}

pub(super) struct FaultRule {
    pub(super) pattern: String,
    pub(super) fault: Fault,
    pub(super) remaining: usize,
}

pub(super) fn take_fault(rules: &mut Vec<FaultRule>, target: &str) -> Option<Fault> {
    let i = rules
        .iter()
        .position(|r| r.remaining > 0 && target.contains(&r.pattern))?;
    rules[i].remaining -= 1;
    let fault = rules[i].fault.clone();
    if rules[i].remaining == 0 {
        rules.remove(i);
    }
    Some(fault)
}

/// Per-connection information handed to the handler: the switch that resets this connection.
#[derive(Clone)]
pub(super) struct Conn {
    pub(super) reset: Arc<AtomicBool>,
}

impl Connected<IncomingStream<'_, ResettableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Conn {
        Conn {
            reset: stream.io().reset.clone(),
        }
    }
}

pub(super) struct ResettableListener(pub(super) TcpListener);

impl Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ResettableStream, SocketAddr) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let io = ResettableStream {
                        stream,
                        reset: Arc::new(AtomicBool::new(false)),
                    };
                    return (io, peer);
                }
                // Out of file descriptors and the like: back off briefly, as axum does.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A TCP stream that fails every operation once its switch is set, with `SO_LINGER` 0 so that
/// hyper dropping it sends an RST: the client sees its connection reset, not a response.
pub(super) struct ResettableStream {
    stream: TcpStream,
    pub(super) reset: Arc<AtomicBool>,
}

impl ResettableStream {
    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "emulator: injected connection reset",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}
