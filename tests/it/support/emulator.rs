//! An in-process emulator of cgr.dev's Tag History API, for integration tests and benchmarks.
//!
//! It speaks the parts of the registry protocol digestpin uses: the Bearer token dance
//! (`/token`, one repository per token, Basic credentials for private organisations), the tag
//! history endpoint with its documented 1000-record, oldest-first page limit, manifests by tag or
//! digest, and `tags/list`. Faults (status codes, 429 with `Retry-After`, connection resets,
//! delays, truncated JSON) and response-shape quirks can be injected to exercise the client's
//! error handling. Every request is recorded.
//!
//! The API is synchronous: [`Emulator::start`] binds `127.0.0.1:0` and serves from its own tokio
//! runtime on a background thread until the `Emulator` is dropped.
//!
//! Compiled into the `it` test binary (`crate::support::emulator`) and included with `#[path]` by
//! `examples/emulator.rs`, so not every item is used by every includer.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The `service` the emulator names in its challenges and expects at `/token`.
pub const SERVICE: &str = "emulator";
/// The media type of every manifest the emulator serves.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The documented page limit of the Tag History API.
pub const HISTORY_LIMIT: usize = 1000;

/// One tag history record, exactly as served.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// RFC 3339, served verbatim (any number of fractional digits, any offset).
    pub timestamp: String,
    /// `sha256:…` (or anything a test wants to serve).
    pub digest: String,
}

impl Entry {
    pub fn new(timestamp: impl Into<String>, digest: impl Into<String>) -> Entry {
        Entry {
            timestamp: timestamp.into(),
            digest: digest.into(),
        }
    }
}

/// A request as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
    pub kind: Kind,
}

/// What a request was for, judged from its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `/token`
    Token,
    /// `/v2/…/_chainguard/history/…`
    History,
    /// `/v2/…/manifests/…`
    Manifest,
    /// `/v2/…/tags/list`
    TagsList,
    /// Anything else, `/v2/` included.
    Other,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Token,
        Kind::History,
        Kind::Manifest,
        Kind::TagsList,
        Kind::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::History => "history",
            Kind::Manifest => "manifest",
            Kind::TagsList => "tags_list",
            Kind::Other => "other",
        }
    }

    fn of(path: &str) -> Kind {
        if path == "/token" {
            Kind::Token
        } else if !path.starts_with("/v2/") {
            Kind::Other
        } else if path.contains("/_chainguard/history/") {
            Kind::History
        } else if path.contains("/manifests/") {
            Kind::Manifest
        } else if path.ends_with("/tags/list") {
            Kind::TagsList
        } else {
            Kind::Other
        }
    }
}

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

/// The synthetic manifest (an empty OCI index) served for `repo:tag` published at `timestamp`.
pub fn synthetic_manifest(repo: &str, tag: &str, timestamp: &str) -> Vec<u8> {
    let name = json_string(&format!("{repo}:{tag}"));
    let created = json_string(timestamp);
    format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[],"#,
            r#""annotations":{{"org.opencontainers.image.ref.name":{},"#,
            r#""org.opencontainers.image.created":{}}}}}"#
        ),
        INDEX_MEDIA_TYPE, name, created
    )
    .into_bytes()
}

/// `sha256:` and the lowercase hex SHA-256 of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// An entry whose digest is that of the manifest the emulator serves for it.
pub fn synthetic_entry(repo: &str, tag: &str, timestamp: &str) -> Entry {
    Entry::new(
        timestamp,
        sha256_digest(&synthetic_manifest(repo, tag, timestamp)),
    )
}

/// A running emulator; stops serving when dropped.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Serves on `127.0.0.1:0`.
    pub fn start() -> Emulator {
        Emulator::start_on(0, Duration::ZERO)
    }

    /// Serves on `127.0.0.1:0`, adding `latency` to every request.
    pub fn start_with_latency(latency: Duration) -> Emulator {
        Emulator::start_on(0, latency)
    }

    /// Serves on `127.0.0.1:port` (0: any free port), adding `latency` to every request.
    pub fn start_on(port: u16, latency: Duration) -> Emulator {
        let listener = StdTcpListener::bind(("127.0.0.1", port)).expect("emulator: bind");
        listener
            .set_nonblocking(true)
            .expect("emulator: set_nonblocking");
        let addr = listener.local_addr().expect("emulator: local_addr");
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            latency,
            inner: Mutex::new(Inner::default()),
            hostile: Mutex::default(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let workers = std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(2);
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("emulator-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .enable_all()
                    .build()
                    .expect("emulator: runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("emulator: listener");
                    let app = Router::new().fallback(handle).with_state(state);
                    let server = axum::serve(
                        ResettableListener(listener),
                        app.into_make_service_with_connect_info::<Conn>(),
                    );
                    tokio::select! {
                        result = async move { server.await } => {
                            if let Err(err) = result {
                                eprintln!("emulator: server error: {err}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Dropping the runtime cancels in-flight connections.
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .expect("emulator: spawn");
        Emulator {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the history of `repo:tag` (creating both as needed) with `entries`, kept in the
    /// order given. Panics if a timestamp is not RFC 3339.
    pub fn set_history(&self, repo: &str, tag: &str, entries: Vec<Entry>) {
        let stored = entries.into_iter().map(Stored::new).collect();
        self.lock()
            .repos
            .entry(repo.to_string())
            .or_default()
            .insert(tag.to_string(), stored);
    }

    /// Appends `entries` to the history of `repo:tag` (creating both as needed).
    pub fn append_history(&self, repo: &str, tag: &str, entries: Vec<Entry>) {
        let mut inner = self.lock();
        let history = inner
            .repos
            .entry(repo.to_string())
            .or_default()
            .entry(tag.to_string())
            .or_default();
        history.extend(entries.into_iter().map(Stored::new));
    }

    /// Appends `count` entries to `repo:tag`, the first at `start` (RFC 3339), one every
    /// `interval`, each with the digest of the synthetic manifest served for it. Returns them,
    /// oldest first.
    pub fn generate_history(
        &self,
        repo: &str,
        tag: &str,
        count: usize,
        start: &str,
        interval: Duration,
    ) -> Vec<Entry> {
        let start: jiff::Timestamp = start
            .parse()
            .unwrap_or_else(|e| panic!("emulator: bad start {start:?}: {e}"));
        let step = jiff::SignedDuration::try_from(interval).expect("emulator: interval");
        let mut entries = Vec::with_capacity(count);
        let mut at = start;
        for _ in 0..count {
            entries.push(synthetic_entry(repo, tag, &at.to_string()));
            at = at.checked_add(step).expect("emulator: timestamp overflow");
        }
        self.append_history(repo, tag, entries.clone());
        entries
    }

    /// Registers a manifest body, served for `GET …/manifests/DIGEST` of any repository with a
    /// history entry of that digest. Returns the digest.
    pub fn add_manifest(&self, body: &[u8]) -> String {
        let digest = sha256_digest(body);
        self.lock().manifests.insert(digest.clone(), body.to_vec());
        digest
    }

    /// Repositories under `org/` need `Authorization: Basic base64(username:password)` at
    /// `/token`.
    pub fn add_private_org(&self, org: &str, username: &str, password: &str) {
        self.lock().private_orgs.insert(
            org.to_string(),
            (username.to_string(), password.to_string()),
        );
    }

    /// The next `times` requests whose path (and query) contains `path_contains` get `fault`.
    /// Rules are tried in the order they were injected.
    pub fn inject(&self, path_contains: &str, fault: Fault, times: usize) {
        self.lock().faults.push(FaultRule {
            pattern: path_contains.to_string(),
            fault,
            remaining: times,
        });
    }

    /// Removes every fault not yet served.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    pub fn set_quirks(&self, q: Quirks) {
        self.lock().quirks = q;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.kind == kind)
            .count()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Shared {
    base_url: String,
    latency: Duration,
    inner: Mutex<Inner>,
    /// See the "Hostile modes" section.
    hostile: Mutex<Vec<(String, Hostile)>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not take every later assertion down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Default)]
struct Inner {
    /// repository → tag → history as given.
    repos: BTreeMap<String, BTreeMap<String, Vec<Stored>>>,
    /// org → (username, password).
    private_orgs: HashMap<String, (String, String)>,
    tokens: HashMap<String, Grant>,
    minted: u64,
    faults: Vec<FaultRule>,
    quirks: Quirks,
    requests: Vec<Request>,
    manifests: HashMap<String, Vec<u8>>,
}

struct Stored {
    entry: Entry,
    at: jiff::Timestamp,
}

impl Stored {
    fn new(entry: Entry) -> Stored {
        let at = entry.timestamp.parse().unwrap_or_else(|e| {
            panic!(
                "emulator: entry timestamp {:?} is not RFC 3339: {e}",
                entry.timestamp
            )
        });
        Stored { entry, at }
    }
}

struct Grant {
    repository: String,
    expires: Instant,
}

struct FaultRule {
    pattern: String,
    fault: Fault,
    remaining: usize,
}

/// The index of the newest entry (the last of equal timestamps, in given order).
fn newest(history: &[Stored]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, s) in history.iter().enumerate() {
        if best.is_none_or(|b| s.at >= history[b].at) {
            best = Some(i);
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------
// Connections that a handler can reset.

/// Per-connection information handed to the handler: the switch that resets this connection.
#[derive(Clone)]
struct Conn {
    reset: Arc<AtomicBool>,
}

impl Connected<IncomingStream<'_, ResettableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Conn {
        Conn {
            reset: stream.io().reset.clone(),
        }
    }
}

struct ResettableListener(TcpListener);

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
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
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

// ---------------------------------------------------------------------------------------------
// Handling.

/// The routes, parsed from the path.
enum Route<'a> {
    Token,
    Base,
    History { repo: &'a str, tag: &'a str },
    Manifest { repo: &'a str, reference: &'a str },
    TagsList { repo: &'a str },
    UnknownV2,
    NotFound,
}

fn route(path: &str) -> Route<'_> {
    if path == "/token" {
        return Route::Token;
    }
    if path == "/v2/" || path == "/v2" {
        return Route::Base;
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::NotFound;
    };
    let valid = |repo: &str| !repo.is_empty() && !repo.split('/').any(str::is_empty);
    if let Some((repo, tag)) = rest.split_once("/_chainguard/history/") {
        if valid(repo) && !tag.is_empty() && !tag.contains('/') {
            return Route::History { repo, tag };
        }
    } else if let Some((repo, reference)) = rest.rsplit_once("/manifests/") {
        if valid(repo) && !reference.is_empty() && !reference.contains('/') {
            return Route::Manifest { repo, reference };
        }
    } else if let Some(repo) = rest.strip_suffix("/tags/list") {
        if valid(repo) {
            return Route::TagsList { repo };
        }
    }
    Route::UnknownV2
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let fault = {
        let mut inner = shared.lock();
        inner.requests.push(Request {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().map(str::to_string),
            authorization: headers
                .get(header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            kind: Kind::of(&path),
        });
        take_fault(&mut inner.faults, &target)
    };
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let route = route(&path);
    if let Some(resp) = hostile_response(&shared, &method, &uri, &headers).await {
        return resp;
    }
    match fault {
        None => {}
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::ResetConnection) => {
            conn.reset.store(true, Ordering::SeqCst);
            // Writing this fails; hyper then drops the connection.
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Some(Fault::Status(code)) => {
            let status =
                StatusCode::from_u16(code).expect("emulator: injected status out of range");
            let mut resp = oci_error(status, error_code(status), "injected fault");
            if status == StatusCode::UNAUTHORIZED {
                let challenge = shared.challenge(repo_of(&route));
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, challenge);
            }
            return resp;
        }
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut resp = oci_error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOOMANYREQUESTS",
                "injected rate limit",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return resp;
        }
        Some(Fault::TruncatedJson) => return truncated_history(&shared, &route, &uri),
    }

    match route {
        Route::Token => token(&shared, &uri, &headers),
        Route::Base => {
            if shared.bearer_repository(&headers).is_some() {
                json_response(StatusCode::OK, "{}".to_string())
            } else {
                shared.unauthorized(None)
            }
        }
        Route::History { repo, tag } => {
            if !matches!(method, Method::GET | Method::HEAD) {
                return unsupported_method();
            }
            if let Some(resp) = shared.authorize(&headers, repo) {
                return resp;
            }
            history(&shared, repo, tag, &uri)
        }
        Route::Manifest { repo, reference } => {
            if !matches!(method, Method::GET | Method::HEAD) {
                return unsupported_method();
            }
            if let Some(resp) = shared.authorize(&headers, repo) {
                return resp;
            }
            manifest(&shared, repo, reference)
        }
        Route::TagsList { repo } => {
            if !matches!(method, Method::GET | Method::HEAD) {
                return unsupported_method();
            }
            if let Some(resp) = shared.authorize(&headers, repo) {
                return resp;
            }
            tags_list(&shared, repo, &uri)
        }
        Route::UnknownV2 => oci_error(
            StatusCode::NOT_FOUND,
            "UNSUPPORTED",
            "the emulator does not serve this endpoint",
        ),
        Route::NotFound => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

fn take_fault(rules: &mut Vec<FaultRule>, target: &str) -> Option<Fault> {
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

fn repo_of<'a>(route: &Route<'a>) -> Option<&'a str> {
    match *route {
        Route::History { repo, .. } | Route::Manifest { repo, .. } | Route::TagsList { repo } => {
            Some(repo)
        }
        _ => None,
    }
}

impl Shared {
    fn challenge(&self, repo: Option<&str>) -> HeaderValue {
        let mut value = format!(
            r#"Bearer realm="{}/token",service="{SERVICE}""#,
            self.base_url
        );
        if let Some(repo) = repo {
            value.push_str(&format!(r#",scope="repository:{repo}:pull""#));
        }
        HeaderValue::from_str(&value).expect("emulator: challenge header")
    }

    fn unauthorized(&self, repo: Option<&str>) -> Response {
        let mut resp = oci_error(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "authentication required",
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, self.challenge(repo));
        resp
    }

    /// The repository the request's unexpired Bearer token was minted for.
    fn bearer_repository(&self, headers: &HeaderMap) -> Option<String> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let inner = self.lock();
        let grant = inner.tokens.get(token.trim())?;
        (Instant::now() < grant.expires).then(|| grant.repository.clone())
    }

    /// `None` when the request may read `repo`, else the 401 to send.
    fn authorize(&self, headers: &HeaderMap, repo: &str) -> Option<Response> {
        if self.bearer_repository(headers).as_deref() == Some(repo) {
            None
        } else {
            Some(self.unauthorized(Some(repo)))
        }
    }
}

fn token(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> Response {
    let params = query_pairs(uri);
    if let Some((_, service)) = params.iter().find(|(k, _)| k == "service") {
        if service != SERVICE {
            return oci_error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                &format!("unknown service {service:?}"),
            );
        }
    }
    let scopes: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    let repository = match scopes.as_slice() {
        [scope] => {
            let parsed = scope
                .strip_prefix("repository:")
                .and_then(|s| s.rsplit_once(':'))
                .filter(|(name, actions)| {
                    !name.is_empty() && actions.split(',').any(|a| a == "pull")
                });
            match parsed {
                Some((name, _)) => name.to_string(),
                None => {
                    return oci_error(
                        StatusCode::BAD_REQUEST,
                        "UNSUPPORTED",
                        &format!("unsupported scope {scope:?}"),
                    );
                }
            }
        }
        _ => {
            return oci_error(
                StatusCode::BAD_REQUEST,
                "UNSUPPORTED",
                "exactly one scope=repository:NAME:pull is required",
            );
        }
    };

    let mut inner = shared.lock();
    let org = repository.split('/').next().unwrap_or_default();
    if let Some((username, password)) = inner.private_orgs.get(org) {
        let expected =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .map(|(_, creds)| creds.trim());
        if given != Some(expected.as_str()) {
            return oci_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                &format!("credentials required for {repository}"),
            );
        }
    }

    inner.minted += 1;
    let seed = format!("{}:{}:{repository}", shared.base_url, inner.minted);
    let token = format!(
        "emu{}.{}",
        inner.minted,
        &sha256_digest(seed.as_bytes())["sha256:".len()..][..32]
    );
    let lifetime = inner.quirks.expires_in.unwrap_or(300);
    inner.tokens.insert(
        token.clone(),
        Grant {
            repository,
            expires: Instant::now() + Duration::from_secs(lifetime),
        },
    );
    let mut body = format!(
        "{{{}:{}",
        json_string(inner.quirks.token_key),
        json_string(&token)
    );
    if let Some(expires_in) = inner.quirks.expires_in {
        body.push_str(&format!(r#","expires_in":{expires_in}"#));
    }
    body.push('}');
    json_response(StatusCode::OK, body)
}

/// The history body for `repo:tag` with the request's `start`/`end`, or the error to send.
fn history_body(
    shared: &Shared,
    repo: &str,
    tag: &str,
    uri: &Uri,
) -> Result<String, Box<Response>> {
    let mut start = None;
    let mut end = None;
    for (key, value) in query_pairs(uri) {
        let slot = match key.as_str() {
            "start" => &mut start,
            "end" => &mut end,
            _ => continue,
        };
        match value.parse::<jiff::Timestamp>() {
            Ok(at) => *slot = Some(at),
            Err(e) => {
                return Err(Box::new(oci_error(
                    StatusCode::BAD_REQUEST,
                    "UNSUPPORTED",
                    &format!("invalid {key} {value:?}: {e}"),
                )));
            }
        }
    }

    let inner = shared.lock();
    let Some(tags) = inner.repos.get(repo) else {
        return Err(Box::new(name_unknown(repo)));
    };
    let Some(history) = tags.get(tag) else {
        return Err(Box::new(manifest_unknown(repo, tag)));
    };
    let newest = newest(history);
    let mut selected: Vec<(usize, &Stored)> = history
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            inner.quirks.ignore_range
                || start.is_none_or(|t| s.at >= t) && end.is_none_or(|t| s.at <= t)
        })
        .collect();
    selected.sort_by_key(|(_, s)| s.at);
    selected.truncate(HISTORY_LIMIT);
    if inner.quirks.reverse_order {
        selected.reverse();
    }
    let (ts_key, digest_key) = if inner.quirks.capitalized_keys {
        ("UpdateTimestamp", "Digest")
    } else {
        ("updateTimestamp", "digest")
    };
    if let (true, Some(start), Some(newest)) = (inner.quirks.half_second_after_start, start, newest)
    {
        let at = start + jiff::SignedDuration::from_millis(500);
        let digest = &history[newest].entry.digest;
        return Ok(format!(
            r#"{{"history":[{{"{ts_key}":{},"{digest_key}":{}}}]}}"#,
            json_string(&at.to_string()),
            json_string(digest)
        ));
    }
    let mut body = String::with_capacity(32 + selected.len() * 130);
    body.push_str(r#"{"history":["#);
    for (n, (i, s)) in selected.iter().enumerate() {
        let digest = match (&inner.quirks.bad_digest, newest) {
            (Some(bad), Some(newest)) if newest == *i => bad.as_str(),
            _ => s.entry.digest.as_str(),
        };
        if n > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"{ts_key}":{},"{digest_key}":{}}}"#,
            json_string(&s.entry.timestamp),
            json_string(digest)
        ));
    }
    body.push_str("]}");
    Ok(body)
}

fn history(shared: &Shared, repo: &str, tag: &str, uri: &Uri) -> Response {
    match history_body(shared, repo, tag, uri) {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(resp) => *resp,
    }
}

fn truncated_history(shared: &Shared, route: &Route<'_>, uri: &Uri) -> Response {
    let full = match *route {
        Route::History { repo, tag } => history_body(shared, repo, tag, uri).ok(),
        _ => None,
    };
    let full = full.filter(|b| b.len() > 20).unwrap_or_else(|| {
        concat!(
            r#"{"history":[{"updateTimestamp":"2024-01-01T00:00:00Z","digest":"sha256:"#,
            "0000000000000000000000000000000000000000000000000000000000000000",
            r#""},{"updateTimestamp":"2024-01-02T00:00:00Z","digest":"sha256:"#,
            "1111111111111111111111111111111111111111111111111111111111111111",
            r#""}]}"#
        )
        .to_string()
    });
    let mut cut = full.len() / 2;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    json_response(StatusCode::OK, full[..cut].to_string())
}

fn manifest(shared: &Shared, repo: &str, reference: &str) -> Response {
    let inner = shared.lock();
    let Some(tags) = inner.repos.get(repo) else {
        return name_unknown(repo);
    };
    // (served digest, body)
    let found: Option<(String, Vec<u8>)> = if reference.contains(':') {
        tags.iter()
            .flat_map(|(tag, history)| history.iter().map(move |s| (tag, s)))
            .find(|(_, s)| s.entry.digest == reference)
            .map(|(tag, s)| (s.entry.digest.clone(), body_for(&inner, repo, tag, s)))
    } else {
        tags.get(reference).and_then(|history| {
            let s = &history[newest(history)?];
            let digest = inner
                .quirks
                .bad_digest
                .clone()
                .unwrap_or_else(|| s.entry.digest.clone());
            Some((digest, body_for(&inner, repo, reference, s)))
        })
    };
    let Some((digest, body)) = found else {
        return manifest_unknown(repo, reference);
    };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(INDEX_MEDIA_TYPE),
    );
    if !inner.quirks.omit_content_digest {
        if let Ok(value) = HeaderValue::from_str(&digest) {
            h.insert("docker-content-digest", value);
        }
    }
    resp
}

fn body_for(inner: &Inner, repo: &str, tag: &str, s: &Stored) -> Vec<u8> {
    inner
        .manifests
        .get(&s.entry.digest)
        .cloned()
        .unwrap_or_else(|| synthetic_manifest(repo, tag, &s.entry.timestamp))
}

fn tags_list(shared: &Shared, repo: &str, uri: &Uri) -> Response {
    let mut n: Option<usize> = None;
    let mut last: Option<String> = None;
    for (key, value) in query_pairs(uri) {
        match key.as_str() {
            "n" => match value.parse() {
                Ok(v) => n = Some(v),
                Err(_) => {
                    return oci_error(
                        StatusCode::BAD_REQUEST,
                        "PAGINATION_NUMBER_INVALID",
                        &format!("invalid n {value:?}"),
                    );
                }
            },
            "last" => last = Some(value),
            _ => {}
        }
    }
    let inner = shared.lock();
    let Some(tags) = inner.repos.get(repo) else {
        return name_unknown(repo);
    };
    let after: Vec<&String> = tags
        .keys()
        .filter(|t| last.as_ref().is_none_or(|l| *t > l))
        .collect();
    let take = n.unwrap_or(after.len()).min(after.len());
    let page = &after[..take];
    let body = format!(
        r#"{{"name":{},"tags":{}}}"#,
        json_string(repo),
        serde_json::to_string(page).expect("emulator: tags json")
    );
    let mut resp = json_response(StatusCode::OK, body);
    if let (Some(n), Some(last_tag)) = (n, page.last()) {
        if take < after.len() {
            let link = format!("</v2/{repo}/tags/list?n={n}&last={last_tag}>; rel=\"next\"");
            if let Ok(value) = HeaderValue::from_str(&link) {
                resp.headers_mut().insert(header::LINK, value);
            }
        }
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("emulator: json string")
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn oci_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        r#"{{"errors":[{{"code":{},"message":{}}}]}}"#,
        json_string(code),
        json_string(message)
    );
    json_response(status, body)
}

fn name_unknown(repo: &str) -> Response {
    oci_error(
        StatusCode::NOT_FOUND,
        "NAME_UNKNOWN",
        &format!("repository {repo} not known to registry"),
    )
}

fn manifest_unknown(repo: &str, reference: &str) -> Response {
    oci_error(
        StatusCode::NOT_FOUND,
        "MANIFEST_UNKNOWN",
        &format!("manifest unknown: {repo}:{reference}"),
    )
}

fn unsupported_method() -> Response {
    oci_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "UNSUPPORTED",
        "method not allowed",
    )
}

fn error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "UNSUPPORTED",
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 => "NAME_UNKNOWN",
        429 => "TOOMANYREQUESTS",
        _ => "UNKNOWN",
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile modes: a registry that attacks its client's memory, time or credentials, and a thief
// server that records whatever reaches it. Served before any normal handling (authentication
// included) to every request whose path and query contain the pattern, for as long as set.

/// How the emulator misbehaves for matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostile {
    /// `200` with a chunked body that never ends: a history document whose entries go on for
    /// ever (history paths) or an endless manifest (manifest paths: `HEAD` answers `200` without
    /// `Docker-Content-Digest`, so the client must `GET` it).
    EndlessBody,
    /// `200` announcing `Content-Length: length`, then one byte every 100 ms.
    HugeLength { length: u64 },
    /// `status` with `Location: to` followed by the request's own path and query.
    Redirect { status: u16, to: String },
    /// A token response (authentication as usual) whose token is `bytes` long.
    HugeToken { bytes: usize },
    /// A token response (authentication as usual) with `"expires_in": raw`, `raw` verbatim.
    ExpiresIn { raw: String },
}

impl Emulator {
    /// Every later request whose path (and query) contains `path_contains` gets `mode`; the
    /// first matching rule wins.
    pub fn hostile(&self, path_contains: &str, mode: Hostile) {
        self.shared
            .hostile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((path_contains.to_string(), mode));
    }
}

async fn hostile_response(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    let target = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .to_string();
    let mode = shared
        .hostile
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(pattern, _)| target.contains(pattern.as_str()))
        .map(|(_, mode)| mode.clone())?;
    let kind = Kind::of(uri.path());
    Some(match mode {
        Hostile::EndlessBody if kind == Kind::Manifest && method == Method::HEAD => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(INDEX_MEDIA_TYPE),
            );
            resp
        }
        Hostile::EndlessBody => {
            let (head, item): (&'static str, String) = if kind == Kind::Manifest {
                (
                    r#"{"schemaVersion":2,"manifests":["#,
                    format!(
                        r#"{{"mediaType":"{INDEX_MEDIA_TYPE}","size":1,"digest":"sha256:{}"}},"#,
                        "0".repeat(64)
                    ),
                )
            } else {
                (
                    r#"{"history":["#,
                    format!(
                        r#"{{"updateTimestamp":"2024-01-01T00:00:00Z","digest":"sha256:{}"}},"#,
                        "0".repeat(64)
                    ),
                )
            };
            // 64 KiB a chunk, for ever.
            let chunk = bytes::Bytes::from(item.repeat((64 << 10) / item.len()));
            let first = futures_util::stream::once(async move {
                Ok::<_, io::Error>(bytes::Bytes::from_static(head.as_bytes()))
            });
            let rest = futures_util::stream::repeat_with(move || Ok(chunk.clone()));
            let mut resp = Response::new(Body::from_stream(futures_util::StreamExt::chain(
                first, rest,
            )));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Hostile::HugeLength { length } => {
            let slow = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, io::Error>(bytes::Bytes::from_static(b" ")), ()))
            });
            let mut resp = Response::new(Body::from_stream(slow));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            resp
        }
        Hostile::Redirect { status, to } => {
            let status = StatusCode::from_u16(status).expect("emulator: redirect status");
            let location = format!("{}{target}", to.trim_end_matches('/'));
            let mut resp = status.into_response();
            resp.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&location).expect("emulator: location"),
            );
            resp
        }
        Hostile::HugeToken { bytes } => {
            let minted = minted_token(shared, uri, headers).await?;
            let body = format!(
                r#"{{"token":{},"padding":"{}"}}"#,
                json_string(&minted),
                "x".repeat(bytes)
            );
            json_response(StatusCode::OK, body)
        }
        Hostile::ExpiresIn { raw } => {
            let minted = minted_token(shared, uri, headers).await?;
            let body = format!(r#"{{"token":{},"expires_in":{raw}}}"#, json_string(&minted));
            json_response(StatusCode::OK, body)
        }
    })
}

/// A real token from the normal `/token` handling, or `None` when it refused.
async fn minted_token(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let resp = token(shared, uri, headers);
    if resp.status() != StatusCode::OK {
        return None;
    }
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.ok()?;
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let key = shared.lock().quirks.token_key;
    value[key].as_str().map(str::to_string)
}

/// One request as it reached a [`Thief`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stolen {
    pub method: String,
    pub target: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// A plain HTTP/1.1 server on `127.0.0.1:0` that records every request (head and body) and
/// answers each with a tempting token response. Stops when dropped.
pub struct Thief {
    addr: SocketAddr,
    stolen: Arc<Mutex<Vec<Stolen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Thief {
    pub fn start() -> Thief {
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("thief: bind");
        listener.set_nonblocking(true).expect("thief: nonblocking");
        let addr = listener.local_addr().expect("thief: addr");
        let stolen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (stolen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let log = log.clone();
                        std::thread::spawn(move || thief_serve(stream, &log));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Thief {
            addr,
            stolen,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn stolen(&self) -> Vec<Stolen> {
        self.stolen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Thief {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn thief_serve(mut stream: std::net::TcpStream, log: &Mutex<Vec<Stolen>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let (mut length, mut authorization) = (0usize, None);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "authorization" => authorization = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap_or_else(|e| e.into_inner()).push(Stolen {
            method,
            target,
            authorization,
            body,
        });
        let answer = r#"{"token":"stolen-token","expires_in":300}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
