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
//!
//! This file holds the API (the [`Emulator`], its records and request log), the shared state,
//! routing and the helpers every endpoint uses; each endpoint family has a file of its own:
//! `token.rs` (challenges and `/token`), `history.rs` (the Tag History API), `manifests.rs`,
//! `tags.rs` (`tags/list`), `faults.rs` (injected faults, quirks, resettable connections) and
//! `hostile.rs` (hostile modes and the [`Thief`]). The files `use super::*` and mark what the
//! others need `pub(super)`.

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

mod faults;
mod history;
mod hostile;
mod manifests;
mod tags;
mod token;

pub use faults::*;
use history::*;
pub use hostile::*;
use manifests::*;
use tags::*;
use token::*;

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
    /// See `hostile.rs`.
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

fn repo_of<'a>(route: &Route<'a>) -> Option<&'a str> {
    match *route {
        Route::History { repo, .. } | Route::Manifest { repo, .. } | Route::TagsList { repo } => {
            Some(repo)
        }
        _ => None,
    }
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
