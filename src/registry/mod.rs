//! Talking to registries: one long-lived HTTP client (rustls, keep-alive, HTTP/2 where offered),
//! the auth handshake, credentials, the retry policy, at most `jobs` requests in flight, and the
//! two questions digestpin asks: a tag's manifest digest, and a cgr.dev tag's history.
//!
//! Per registry, the first request is a `GET /v2/` ping (made once, shared by every task) that
//! tells how it authenticates: nothing, Basic, or Bearer with a token realm. Bearer tokens are
//! then fetched up front, once per (registry, scope), so each image costs one token request
//! and one lookup, with no 401 round trip.
//!
//! Registries are not trusted with our memory or our credentials: every body is read against a
//! cap that fits what it answers ([`BodyKind`]), every exchange has a total deadline (body
//! included), and redirects are followed by hand so that `Authorization` never leaves its
//! origin, a token request is never redirected to another origin, and nothing is sent to plain
//! `http://` off loopback or downgraded from `https://`.

pub mod auth;
pub mod credentials;
pub mod error;
pub mod history;
pub mod image;
pub mod retry;
pub mod tags;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, Url};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::reference::api_host;
pub use auth::{AuthRecord, Scope};
use auth::{Fetched, TokenCache, TokenResponse, parse_challenges};
use credentials::{Credential, CredentialStore};
pub use error::{OciError, RegistryError};
pub use image::Published;
use retry::{Failure, RetryPolicy};

/// Every manifest type a tag may point to, so the registry returns the tag's own digest (an
/// index or list, not one platform's child).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// What a response body answers, and so how large it may be. A body over its cap fails the
/// request (not retried: the registry would send it again); error bodies, and the bodies of
/// [`BodyKind::Other`], are only ever read up to [`ERROR_BODY_LIMIT`] and cut there, since all
/// we want from them is an OCI error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// An image manifest or index: the OCI distribution spec lets registries refuse manifests
    /// over 4 MiB, so none larger can be legitimate.
    Manifest,
    /// A token endpoint's JSON answer.
    Token,
    /// One Tag History API page: at most 1000 entries of about 150 bytes; 1 MiB leaves room
    /// for whitespace and longer digests several times over.
    History,
    /// One `tags/list` page: 4 MiB is over 30,000 tags of the longest allowed length.
    Tags,
    /// `GET /v2/` and anything else: only the status and headers matter (the body is cut).
    Other,
}

/// The most of an error body read (and kept) for its OCI error code.
pub const ERROR_BODY_LIMIT: usize = 64 << 10;
/// The most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

impl BodyKind {
    /// The largest successful body accepted, in bytes.
    pub const fn limit(self) -> usize {
        match self {
            BodyKind::Manifest | BodyKind::Tags => 4 << 20,
            BodyKind::Token | BodyKind::History => 1 << 20,
            BodyKind::Other => ERROR_BODY_LIMIT,
        }
    }

    fn what(self) -> &'static str {
        match self {
            BodyKind::Manifest => "manifest",
            BodyKind::Token => "token response",
            BodyKind::History => "tag history page",
            BodyKind::Tags => "tag list page",
            BodyKind::Other => "response",
        }
    }

    /// What a registry API path answers.
    pub fn of_path(path: &str) -> BodyKind {
        let path = path.split('?').next().unwrap_or(path);
        if path.contains("/_chainguard/history/") {
            BodyKind::History
        } else if path.contains("/manifests/") {
            BodyKind::Manifest
        } else if path.ends_with("/tags/list") {
            BodyKind::Tags
        } else {
            BodyKind::Other
        }
    }
}

/// Which redirects an exchange may follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redirects {
    /// Any origin (a manifest on a CDN); `Authorization` is dropped when the origin changes.
    StripAuthAcrossOrigins,
    /// Only within the origin: a token request carries credentials in its header or body.
    SameOrigin,
}

/// `--endpoint REGISTRY=URL` overrides.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    map: HashMap<String, String>,
}

impl Endpoints {
    /// Adds `REGISTRY=URL`. Plain `http://` is accepted only for loopback hosts.
    /// A URL with a user name or password (`http://u:p@host`) is refused without echoing it:
    /// credentials belong in the Docker config, where they go only to their registry.
    pub fn add(&mut self, spec: &str) -> Result<(), RegistryError> {
        let shown = redact_userinfo(spec);
        let bad = |why: &str| RegistryError::Endpoint(format!("--endpoint {shown:?}: {why}"));
        let (registry, url) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected REGISTRY=URL"))?;
        let (registry, url) = (registry.trim(), url.trim().trim_end_matches('/'));
        if registry.is_empty() {
            return Err(bad("empty registry name"));
        }
        let parsed = Url::parse(url).map_err(|e| bad(&format!("invalid URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() || shown != spec {
            return Err(bad(
                "the URL must not carry a user name or password; put credentials in the Docker config",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("the URL must not have a query or fragment"));
        }
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(parsed.host_str().unwrap_or("")) => {}
            "http" => {
                return Err(bad(
                    "plain http:// is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https://",
                ));
            }
            other => return Err(bad(&format!("unsupported scheme {other}://"))),
        }
        let registry = match registry {
            "index.docker.io" | "registry-1.docker.io" => crate::reference::DOCKER_HUB,
            other => other,
        };
        self.map.insert(registry.to_owned(), url.to_owned());
        Ok(())
    }

    /// Base URL for `registry`: the override, else `https://HOST` (`http://` for loopback).
    pub fn base_url(&self, registry: &str) -> String {
        if let Some(url) = self.map.get(registry) {
            return url.clone();
        }
        let host = api_host(registry);
        let bare = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        if is_loopback(bare.trim_start_matches('[').trim_end_matches(']')) {
            format!("http://{host}")
        } else {
            format!("https://{host}")
        }
    }
}

/// `spec` with anything between `://` and an `@` in its authority replaced by `***`, so that a
/// password typed into a URL never reaches a message.
fn redact_userinfo(spec: &str) -> String {
    let Some(scheme_end) = spec.find("://").map(|i| i + 3) else {
        return spec.to_owned();
    };
    let rest = &spec[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &spec[..scheme_end], &rest[at..]),
        None => spec.to_owned(),
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Settings for a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// At most this many requests in flight.
    pub jobs: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub endpoints: Endpoints,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            jobs: 16,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            endpoints: Endpoints::default(),
        }
    }
}

/// How a registry wants to be authenticated, learned from its `/v2/` ping.
#[derive(Debug, Clone)]
enum Scheme {
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

type SchemeSlot = Arc<tokio::sync::Mutex<Option<Result<Scheme, RegistryError>>>>;
type CredentialSlot = Arc<tokio::sync::OnceCell<Result<Option<Credential>, String>>>;

/// A complete response: status, headers and the whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// The registry client. Cheap to share by reference across tasks.
pub struct Client {
    http: reqwest::Client,
    endpoints: Endpoints,
    limiter: tokio::sync::Semaphore,
    credentials: Arc<CredentialStore>,
    credential_slots: Mutex<HashMap<String, CredentialSlot>>,
    schemes: Mutex<HashMap<String, SchemeSlot>>,
    tokens: TokenCache,
    retry: RetryPolicy,
    requests: AtomicUsize,
    /// The total deadline of one exchange, from connecting to the last byte of the body.
    timeout: Duration,
    /// Registries whose scheme came from the on-disk cache and has not been confirmed by the
    /// registry in this run: their realm gets no credentials until it is.
    unconfirmed: Mutex<std::collections::HashSet<String>>,
}

impl Client {
    /// A credential helper gets as long as one request (`options.timeout`) to answer.
    pub fn new(
        options: ClientOptions,
        mut credentials: CredentialStore,
    ) -> Result<Self, RegistryError> {
        credentials.set_helper_timeout(options.timeout);
        let http = reqwest::Client::builder()
            .user_agent(concat!("digestpin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            // The total deadline of each exchange, redirects and body included, is `exchange`'s.
            .pool_idle_timeout(Duration::from_secs(60))
            // Followed by hand in `exchange`, where each hop is checked.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RegistryError::Endpoint(format!("cannot build HTTP client: {e}")))?;
        Ok(Client {
            http,
            endpoints: options.endpoints,
            limiter: tokio::sync::Semaphore::new(options.jobs.max(1)),
            credentials: Arc::new(credentials),
            credential_slots: Mutex::default(),
            schemes: Mutex::default(),
            tokens: TokenCache::default(),
            retry: options.retry,
            requests: AtomicUsize::new(0),
            timeout: options.timeout,
            unconfirmed: Mutex::default(),
        })
    }

    /// Remembers what an earlier run learned about `registry`: its auth scheme and anonymous
    /// tokens still valid. Call before any request to that registry. A remembered token realm
    /// is used for anonymous tokens only: before credentials go to a realm, the registry's own
    /// challenge must name it again in this run (a cache file is not a registry).
    pub fn seed_auth(&self, registry: &str, record: &AuthRecord, now: jiff::Timestamp) {
        let scheme = match (record.scheme.as_str(), &record.realm) {
            ("anonymous", _) => Scheme::Anonymous,
            ("basic", _) => Scheme::Basic,
            ("bearer", Some(realm)) => Scheme::Bearer {
                realm: realm.clone(),
                service: record.service.clone(),
            },
            _ => return,
        };
        let slot = self.scheme_slot(registry);
        if let Ok(mut guard) = slot.try_lock() {
            *guard = Some(Ok(scheme));
            self.unconfirmed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(registry.to_owned());
        }
        for (scope, (token, expires)) in &record.tokens {
            let left = expires.saturating_sub(now.as_second());
            if left > 0 {
                self.tokens.seed(
                    registry,
                    scope,
                    token.clone(),
                    Duration::from_secs(left.unsigned_abs().min(auth::MAX_TTL.as_secs())),
                );
            }
        }
    }

    /// What this run learned about `registry` that is safe to keep on disk: the scheme and
    /// tokens fetched without credentials.
    pub fn export_auth(&self, registry: &str, now: jiff::Timestamp) -> Option<AuthRecord> {
        let slot = self.scheme_slot(registry);
        let guard = slot.try_lock().ok()?;
        let (scheme, realm, service) = match guard.as_ref()? {
            Ok(Scheme::Anonymous) => ("anonymous", None, None),
            Ok(Scheme::Basic) => ("basic", None, None),
            Ok(Scheme::Bearer { realm, service }) => {
                ("bearer", Some(realm.clone()), service.clone())
            }
            Err(_) => return None,
        };
        let tokens = self
            .tokens
            .anonymous_tokens(registry)
            .into_iter()
            .map(|(scope, token, left)| {
                let left = i64::try_from(left.as_secs()).unwrap_or(i64::MAX);
                (scope, (token, now.as_second().saturating_add(left)))
            })
            .collect();
        Some(AuthRecord {
            scheme: scheme.to_owned(),
            realm,
            service,
            learned_at: now.as_second(),
            tokens,
        })
    }

    fn scheme_slot(&self, registry: &str) -> SchemeSlot {
        let mut schemes = self.schemes.lock().unwrap_or_else(|e| e.into_inner());
        schemes.entry(registry.to_owned()).or_default().clone()
    }

    /// How many HTTP requests this client has sent (retries included).
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// `HEAD` of the manifest at `path` with every manifest type accepted; `None` from a
    /// registry that does not answer `HEAD` (405/501), so the caller asks with `GET`.
    async fn head_manifest(
        &self,
        registry: &str,
        repository: &str,
        path: &str,
    ) -> Result<Option<Reply>, RegistryError> {
        let head = self
            .request(
                registry,
                repository,
                Method::HEAD,
                path,
                Some(MANIFEST_ACCEPT),
            )
            .await;
        match head {
            Err(RegistryError::Status {
                status: 405 | 501, ..
            }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// The digest `reference` (a tag or digest) points to in `registry/repository`: `HEAD` with
    /// every manifest type accepted; the `Docker-Content-Digest` header, or when a registry
    /// omits it, the SHA-256 of the manifest fetched with `GET`.
    pub async fn manifest_digest(
        &self,
        registry: &str,
        repository: &str,
        reference: &str,
    ) -> Result<Digest, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let url = self.url(registry, &path);
        let head = self.head_manifest(registry, repository, &path).await?;
        if let Some(value) = head
            .as_ref()
            .and_then(|h| h.headers.get("docker-content-digest"))
        {
            let text = value.to_str().unwrap_or("");
            return Digest::parse(text).map_err(|_| RegistryError::InvalidDigest {
                registry: registry.to_owned(),
                url,
                value: error::truncate(text, 100),
            });
        }
        let reply = self
            .request(
                registry,
                repository,
                Method::GET,
                &path,
                Some(MANIFEST_ACCEPT),
            )
            .await?;
        let computed = format!("sha256:{:x}", Sha256::digest(&reply.body));
        if let Some(value) = reply.headers.get("docker-content-digest") {
            let text = value.to_str().unwrap_or("");
            if text.starts_with("sha256:") && text != computed {
                return Err(RegistryError::InvalidDigest {
                    registry: registry.to_owned(),
                    url,
                    value: error::truncate(text, 100),
                });
            }
        }
        Digest::parse(&computed).map_err(|_| RegistryError::InvalidResponse {
            registry: registry.to_owned(),
            url,
            detail: "cannot hash manifest".into(),
        })
    }

    /// Where requests for `registry` go (an `--endpoint` override, or its API host). The cache
    /// keys on this, so a mirror never receives what another endpoint handed out.
    pub fn base_url(&self, registry: &str) -> String {
        self.endpoints.base_url(registry)
    }

    fn url(&self, registry: &str, path: &str) -> String {
        format!("{}{path}", self.endpoints.base_url(registry))
    }

    /// Sends one logical request: authenticates, retries transient failures under one
    /// [`RetryPolicy`] budget, re-authenticates once on 401. Returns a 2xx reply or a typed
    /// error.
    pub async fn request(
        &self,
        registry: &str,
        repository: &str,
        method: Method,
        path: &str,
        accept: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        self.request_parsed(registry, repository, method, path, accept, Ok)
            .await
    }

    /// Like [`Client::request`], with each 2xx reply handed to `parse` inside the same
    /// attempt: a body it finds garbled ([`Failure::garbled`]) is retried on the same budget
    /// as a 503, never in a loop of its own.
    pub async fn request_parsed<T>(
        &self,
        registry: &str,
        repository: &str,
        method: Method,
        path: &str,
        accept: Option<&str>,
        parse: impl Fn(Reply) -> Result<T, Failure>,
    ) -> Result<T, RegistryError> {
        let url = self.url(registry, path);
        let scope = Scope::pull(repository);
        // Re-authentication is a single step of its own, not a retry: at most once per request.
        let reauthenticated = std::sync::atomic::AtomicBool::new(false);
        let (url, scope, method, parse, reauthenticated) =
            (&url, &scope, &method, &parse, &reauthenticated);
        self.retry
            .run(url, || async move {
                loop {
                    // The ping and the token request are logical requests of their own, with
                    // their own budgets: their failure is final here, never retried again.
                    let authorization = self
                        .authorization(registry, scope)
                        .await
                        .map_err(Failure::permanent)?;
                    let reply = self
                        .send(
                            registry,
                            method.clone(),
                            url,
                            accept,
                            authorization.as_deref(),
                            BodyKind::of_path(path),
                        )
                        .await?;
                    if reply.status == 401 && !reauthenticated.swap(true, Ordering::Relaxed) {
                        self.learn_challenge(registry, scope, &reply.headers).await;
                        continue;
                    }
                    if (200..300).contains(&reply.status) {
                        return parse(reply);
                    }
                    let error = status_error(registry, repository, url, &reply);
                    return Err(Failure::status(&reply, error));
                }
            })
            .await
    }

    /// One HTTP exchange, holding a slot of the in-flight limit; the body is read up to the
    /// cap of `kind`.
    async fn send(
        &self,
        registry: &str,
        method: Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
        kind: BodyKind,
    ) -> Result<Reply, RegistryError> {
        let mut request = self.http.request(method, url);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        self.exchange(registry, request, kind, Redirects::StripAuthAcrossOrigins)
            .await
    }

    /// Sends a request holding a slot of the in-flight limit, follows redirects as `redirects`
    /// allows, reads the body up to the cap of `kind`, logs it. The whole exchange, body
    /// included, must finish within the client's timeout. URLs never carry credentials
    /// (`--endpoint` refuses them, redirects to them are refused), so they are safe in logs
    /// and errors.
    async fn exchange(
        &self,
        registry: &str,
        request: reqwest::RequestBuilder,
        kind: BodyKind,
        redirects: Redirects,
    ) -> Result<Reply, RegistryError> {
        let transport = |url: &str, detail: String| RegistryError::Transport {
            registry: registry.to_owned(),
            url: url.to_owned(),
            detail,
        };
        let request = request
            .build()
            .map_err(|e| transport("", describe_transport(&e)))?;
        let (method, url) = (request.method().clone(), request.url().to_string());
        let _permit = self
            .limiter
            .acquire()
            .await
            .map_err(|_| transport(&url, "client shut down".into()))?;
        let started = Instant::now();
        let exchange = self.follow(registry, request, kind, redirects);
        let reply = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(reply) => reply?,
            Err(_) => {
                return Err(transport(
                    &url,
                    format!(
                        "timed out: no complete response within {}",
                        crate::timespec::human_age(self.timeout.as_secs() as i64)
                    ),
                ));
            }
        };
        tracing::debug!(
            method = %method,
            url = %url,
            status = reply.status,
            bytes = reply.body.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        Ok(reply)
    }

    /// The exchange itself: each redirect hop checked by [`check_redirect`], then the body.
    async fn follow(
        &self,
        registry: &str,
        mut request: reqwest::Request,
        kind: BodyKind,
        redirects: Redirects,
    ) -> Result<Reply, RegistryError> {
        let first = request.url().to_string();
        let invalid = |detail: String| RegistryError::InvalidResponse {
            registry: registry.to_owned(),
            url: first.clone(),
            detail,
        };
        let mut hops = 0;
        loop {
            let from = request.url().clone();
            let method = request.method().clone();
            let again = request.try_clone();
            self.requests.fetch_add(1, Ordering::Relaxed);
            let response =
                self.http
                    .execute(request)
                    .await
                    .map_err(|e| RegistryError::Transport {
                        registry: registry.to_owned(),
                        url: from.to_string(),
                        detail: describe_transport(&e),
                    })?;
            let status = response.status().as_u16();
            let location = response.headers().get(LOCATION).cloned();
            if let (301 | 302 | 303 | 307 | 308, Some(location)) = (status, location) {
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Err(invalid(format!("more than {MAX_REDIRECTS} redirects")));
                }
                let to = location
                    .to_str()
                    .ok()
                    .and_then(|l| from.join(l).ok())
                    .ok_or_else(|| invalid("redirect to an invalid Location".into()))?;
                check_redirect(&from, &to, redirects).map_err(invalid)?;
                let mut next = again
                    .ok_or_else(|| invalid("cannot repeat the request for a redirect".into()))?;
                let to_get =
                    status == 303 || (matches!(status, 301 | 302) && method == Method::POST);
                if to_get && method != Method::HEAD {
                    *next.method_mut() = Method::GET;
                    *next.body_mut() = None;
                    next.headers_mut().remove(CONTENT_TYPE);
                    next.headers_mut().remove(CONTENT_LENGTH);
                }
                if !same_origin(&from, &to) {
                    next.headers_mut().remove(AUTHORIZATION);
                }
                tracing::debug!(from = %strip_query(from.as_str()), to = %strip_query(to.as_str()), status, "redirect");
                *next.url_mut() = to;
                request = next;
                continue;
            }
            let headers = response.headers().clone();
            let body = read_body(response, method == Method::HEAD, kind)
                .await
                .map_err(|failure| match failure {
                    BodyFailure::TooLarge => invalid(format!(
                        "{} larger than {}: refused",
                        kind.what(),
                        show_bytes(kind.limit())
                    )),
                    BodyFailure::Transport(e) => RegistryError::Transport {
                        registry: registry.to_owned(),
                        url: from.to_string(),
                        detail: describe_transport(&e),
                    },
                })?;
            return Ok(Reply {
                status,
                headers,
                body,
            });
        }
    }

    /// The `Authorization` header for a request in `scope`, per the registry's scheme.
    async fn authorization(
        &self,
        registry: &str,
        scope: &Scope,
    ) -> Result<Option<String>, RegistryError> {
        match self.scheme(registry).await? {
            Scheme::Anonymous => Ok(None),
            Scheme::Basic => Ok(self
                .credential(registry)
                .await?
                .and_then(|c| c.basic_header())),
            Scheme::Bearer { realm, service } => {
                let token = self
                    .tokens
                    .get_or_fetch(registry, scope, || {
                        self.fetch_token(registry, &realm, service.as_deref(), scope)
                    })
                    .await?;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// The registry's auth scheme, from one shared `GET /v2/` ping.
    async fn scheme(&self, registry: &str) -> Result<Scheme, RegistryError> {
        let slot = self.scheme_slot(registry);
        let mut guard = slot.lock().await;
        if let Some(known) = guard.as_ref() {
            return known.clone();
        }
        let result = self.ping(registry).await;
        *guard = Some(result.clone());
        self.confirmed(registry);
        result
    }

    async fn ping(&self, registry: &str) -> Result<Scheme, RegistryError> {
        let url = self.url(registry, "/v2/");
        let url = &url;
        self.retry
            .run(url, || async move {
                let reply = self
                    .send(registry, Method::GET, url, None, None, BodyKind::Other)
                    .await?;
                match reply.status {
                    401 => Ok(scheme_from(&reply.headers)),
                    429 | 500.. => {
                        let error = status_error(registry, "", url, &reply);
                        Err(Failure::status(&reply, error))
                    }
                    _ => Ok(Scheme::Anonymous),
                }
            })
            .await
    }

    /// After a 401: adopt the challenge it carried and forget the rejected token.
    async fn learn_challenge(&self, registry: &str, scope: &Scope, headers: &HeaderMap) {
        let scheme = scheme_from(headers);
        let slot = self.scheme_slot(registry);
        *slot.lock().await = Some(Ok(scheme));
        self.confirmed(registry);
        self.tokens.invalidate(registry, scope).await;
    }

    /// Marks the scheme of `registry` as heard from the registry itself in this run.
    fn confirmed(&self, registry: &str) {
        self.unconfirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(registry);
    }

    /// The token realm and service to send credentials to: the remembered ones once the
    /// registry's own challenge (a fresh `GET /v2/`) names the same realm; otherwise the ones it
    /// names now, which replace the remembered scheme.
    async fn confirmed_realm(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
    ) -> Result<(String, Option<String>), RegistryError> {
        let unconfirmed = self
            .unconfirmed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(registry);
        if !unconfirmed {
            return Ok((realm.to_owned(), service.map(str::to_owned)));
        }
        let live = self.ping(registry).await?;
        *self.scheme_slot(registry).lock().await = Some(Ok(live.clone()));
        self.confirmed(registry);
        match live {
            Scheme::Bearer { realm: live, service } => {
                if live != realm {
                    tracing::debug!(registry, "cached token realm differs from the registry's challenge: using the registry's");
                }
                Ok((live, service))
            }
            _ => Err(RegistryError::Credentials {
                registry: registry.to_owned(),
                detail: "the registry no longer asks for a bearer token (its auth scheme changed since it was cached); run again".into(),
            }),
        }
    }

    /// Credentials for `registry`, looked up once per run (a helper may be a process).
    async fn credential(&self, registry: &str) -> Result<Option<Credential>, RegistryError> {
        let slot = {
            let mut slots = self
                .credential_slots
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            slots.entry(registry.to_owned()).or_default().clone()
        };
        let found = slot
            .get_or_init(|| async {
                // Helpers are processes: keep them off the async workers.
                let store = Arc::clone(&self.credentials);
                let name = registry.to_owned();
                tokio::task::spawn_blocking(move || store.lookup(&name))
                    .await
                    .unwrap_or_else(|e| Err(format!("credential lookup failed: {e}")))
            })
            .await;
        found.clone().map_err(|detail| RegistryError::Credentials {
            registry: registry.to_owned(),
            detail,
        })
    }

    /// Fetches a Bearer token from `realm` for `scope`, with credentials when we have them.
    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<Fetched, RegistryError> {
        let credential = self.credential(registry).await?;
        let anonymous = credential.is_none();
        let (realm, service) = match credential {
            Some(_) => self.confirmed_realm(registry, realm, service).await?,
            None => (realm.to_owned(), service.map(str::to_owned)),
        };
        let (realm, service) = (realm.as_str(), service.as_deref());
        let url = Url::parse(realm).map_err(|_| RegistryError::InvalidResponse {
            registry: registry.to_owned(),
            url: realm.to_owned(),
            detail: "token realm is not a URL".into(),
        })?;
        let insecure = url.scheme() != "https" && !is_loopback(url.host_str().unwrap_or(""));
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RegistryError::InvalidResponse {
                registry: registry.to_owned(),
                url: url.origin().ascii_serialization(),
                detail: "token realm carries a user name or password".into(),
            });
        }
        if credential.is_some() && insecure {
            return Err(RegistryError::Credentials {
                registry: registry.to_owned(),
                detail: format!(
                    "refusing to send credentials to a plain-http token realm {}",
                    url.origin().ascii_serialization()
                ),
            });
        }
        let mut get_url = url.clone();
        {
            let mut query = get_url.query_pairs_mut();
            query.clear();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &scope.to_string());
        }
        let token_url = strip_query(url.as_str());
        let (url, get_url, token_url, credential) = (&url, &get_url, &token_url, &credential);
        self.retry
            .run(token_url, || async move {
                let reply = match credential {
                    Some(Credential::IdentityToken(refresh)) => {
                        let scope = scope.to_string();
                        let mut form = vec![
                            ("grant_type", "refresh_token"),
                            ("refresh_token", refresh.as_str()),
                            ("client_id", "digestpin"),
                            ("scope", scope.as_str()),
                        ];
                        if let Some(service) = service {
                            form.push(("service", service));
                        }
                        let request = self.http.post(url.clone()).form(&form);
                        self.exchange(registry, request, BodyKind::Token, Redirects::SameOrigin)
                            .await?
                    }
                    _ => {
                        let mut request = self.http.get(get_url.clone());
                        if let Some(header) = credential.as_ref().and_then(Credential::basic_header)
                        {
                            request = request.header(AUTHORIZATION, header);
                        }
                        self.exchange(registry, request, BodyKind::Token, Redirects::SameOrigin)
                            .await?
                    }
                };
                if !(200..300).contains(&reply.status) {
                    let error = status_error(registry, &scope.repository, token_url, &reply);
                    return Err(Failure::status(&reply, error));
                }
                let parsed: Result<TokenResponse, _> = serde_json::from_slice(&reply.body);
                parsed
                    .ok()
                    .and_then(TokenResponse::into_token)
                    .map(|(token, ttl)| Fetched {
                        token,
                        ttl,
                        anonymous,
                    })
                    .ok_or_else(|| {
                        Failure::permanent(RegistryError::InvalidResponse {
                            registry: registry.to_owned(),
                            url: token_url.clone(),
                            detail: "token response has no token".into(),
                        })
                    })
            })
            .await
    }
}

/// Parses one Tag History API page as the client does (for fuzzing): the entries, or why the
/// page was refused.
#[doc(hidden)]
pub fn fuzz_history_page(body: &[u8]) -> Result<Vec<history::HistoryEntry>, String> {
    history::parse_history(body).map_err(|problem| match problem {
        history::Problem::Shape(detail) => detail,
        history::Problem::Digest(value) => {
            format!("invalid digest {}", error::truncate(&value, 100))
        }
    })
}

fn scheme_from(headers: &HeaderMap) -> Scheme {
    let challenges: Vec<_> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .collect();
    if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
        if let Some(realm) = bearer.param("realm") {
            return Scheme::Bearer {
                realm: realm.to_owned(),
                service: bearer.param("service").map(str::to_owned),
            };
        }
    }
    if challenges.iter().any(|c| c.scheme == "basic") {
        return Scheme::Basic;
    }
    Scheme::Anonymous
}

fn status_error(registry: &str, repository: &str, url: &str, reply: &Reply) -> RegistryError {
    RegistryError::Status {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        url: url.to_owned(),
        status: reply.status,
        oci: OciError::from_body(&reply.body),
    }
}

/// A URL without its query (which may carry scopes or grant parameters).
fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

/// Scheme, host and port (the default one when absent) are the same.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether a redirect from `from` to `to` may be followed: never to another scheme than
/// http(s), never from https to http, never to plain http off loopback (the rule
/// `--endpoint` applies), never to a URL carrying credentials, and under
/// [`Redirects::SameOrigin`] never to another origin.
fn check_redirect(from: &Url, to: &Url, redirects: Redirects) -> Result<(), String> {
    let target = to.origin().ascii_serialization();
    let refuse = |why: &str| Err(format!("refused redirect to {target}: {why}"));
    match to.scheme() {
        "https" => {}
        "http" if from.scheme() == "https" => return refuse("downgrade from https to http"),
        "http" if !is_loopback(to.host_str().unwrap_or("")) => {
            return refuse("plain http:// is allowed only for loopback hosts");
        }
        "http" => {}
        _ => return refuse("unsupported scheme"),
    }
    if !to.username().is_empty() || to.password().is_some() {
        return refuse("the URL carries a user name or password");
    }
    if redirects == Redirects::SameOrigin && !same_origin(from, to) {
        return refuse("a token request never leaves its origin");
    }
    Ok(())
}

enum BodyFailure {
    TooLarge,
    Transport(reqwest::Error),
}

/// Reads a body chunk by chunk, never holding more than the cap: a successful one over the cap
/// of `kind` (announced in `Content-Length` or found while streaming) is refused; an error body
/// or one of [`BodyKind::Other`] is cut at [`ERROR_BODY_LIMIT`].
async fn read_body(
    mut response: reqwest::Response,
    head: bool,
    kind: BodyKind,
) -> Result<bytes::Bytes, BodyFailure> {
    if head {
        return Ok(bytes::Bytes::new());
    }
    let refuse = response.status().is_success() && kind != BodyKind::Other;
    let limit = if refuse {
        kind.limit()
    } else {
        ERROR_BODY_LIMIT
    };
    let announced = response.content_length();
    if refuse && announced.is_some_and(|n| n > limit as u64) {
        return Err(BodyFailure::TooLarge);
    }
    let mut body = Vec::with_capacity(announced.map_or(0, |n| n.min(limit as u64) as usize));
    while let Some(chunk) = response.chunk().await.map_err(BodyFailure::Transport)? {
        let room = limit - body.len();
        if chunk.len() > room {
            if refuse {
                return Err(BodyFailure::TooLarge);
            }
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// `4 MiB`, `64 KiB`, `12 bytes`.
fn show_bytes(n: usize) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

fn describe_transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "response cut off"
    } else {
        "request failed"
    };
    let mut root: &dyn std::error::Error = e;
    while let Some(source) = root.source() {
        root = source;
    }
    let root = root.to_string();
    if e.is_timeout() || root.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {root}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_refuse_plain_http_off_loopback() {
        let mut e = Endpoints::default();
        e.add("cgr.dev=http://127.0.0.1:5000").unwrap();
        e.add("docker.io=http://[::1]:5001/").unwrap();
        e.add("ghcr.io=https://mirror.example.com").unwrap();
        e.add("quay.io=http://localhost:9").unwrap();
        assert!(e.add("cgr.dev=http://mirror.example.com").is_err());
        assert!(e.add("cgr.dev=ftp://127.0.0.1").is_err());
        assert!(e.add("no-equals").is_err());
        assert_eq!(e.base_url("cgr.dev"), "http://127.0.0.1:5000");
        assert_eq!(e.base_url("docker.io"), "http://[::1]:5001");
        assert_eq!(
            Endpoints::default().base_url("docker.io"),
            "https://registry-1.docker.io"
        );
        assert_eq!(
            Endpoints::default().base_url("127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            Endpoints::default().base_url("localhost:5000"),
            "http://localhost:5000"
        );
        assert_eq!(
            Endpoints::default().base_url("[::1]:5000"),
            "http://[::1]:5000"
        );
        assert_eq!(Endpoints::default().base_url("ghcr.io"), "https://ghcr.io");
    }

    #[test]
    fn endpoints_refuse_userinfo_without_echoing_it() {
        for spec in [
            "cgr.dev=http://u:hunter2@127.0.0.1:5000",
            "cgr.dev=https://hunter2@mirror.example.com/",
            "cgr.dev=http://:hunter2@127.0.0.1",
            "cgr.dev=https://u:hunter2@host:notaport",
            "cgr.dev=https://u:hunter2@@host",
        ] {
            let e = Endpoints::default().add(spec).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{spec}: {e}");
            assert!(e.contains("***@"), "{spec}: {e}");
        }
        let e = Endpoints::default()
            .add("cgr.dev=http://u:hunter2@127.0.0.1:5000")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must not carry a user name or password"), "{e}");
        assert!(
            Endpoints::default()
                .add("cgr.dev=https://mirror.example.com/?x=1")
                .is_err()
        );
        assert_eq!(
            redact_userinfo("a=https://host/p@th"),
            "a=https://host/p@th"
        );
    }

    #[test]
    fn redirects_keep_credentials_at_home() {
        let url = |s: &str| Url::parse(s).unwrap();
        let ok = |from: &str, to: &str, r| check_redirect(&url(from), &url(to), r);
        let any = Redirects::StripAuthAcrossOrigins;
        let home = Redirects::SameOrigin;
        assert!(ok("https://a.example/x", "https://cdn.example/y", any).is_ok());
        assert!(ok("http://127.0.0.1:1/x", "http://127.0.0.1:2/y", any).is_ok());
        assert!(ok("http://127.0.0.1:1/x", "https://a.example/y", any).is_ok());
        assert!(ok("http://127.0.0.1:1/x", "http://127.0.0.1:1/y", home).is_ok());
        assert!(ok("https://a.example/x", "https://a.example:443/y", home).is_ok());
        for (from, to, r, why) in [
            (
                "https://a.example/x",
                "http://a.example/y",
                any,
                "downgrade",
            ),
            (
                "https://127.0.0.1/x",
                "http://127.0.0.1/y",
                any,
                "downgrade",
            ),
            (
                "http://127.0.0.1:1/x",
                "http://a.example/y",
                any,
                "loopback",
            ),
            ("https://a.example/x", "ftp://a.example/y", any, "scheme"),
            (
                "https://a.example/x",
                "https://u:p@a.example/y",
                any,
                "password",
            ),
            (
                "http://127.0.0.1:1/x",
                "http://127.0.0.1:2/y",
                home,
                "origin",
            ),
            (
                "https://a.example/x",
                "https://a.example:8443/y",
                home,
                "origin",
            ),
            ("https://a.example/x", "https://b.example/y", home, "origin"),
        ] {
            let e = ok(from, to, r).unwrap_err();
            assert!(e.contains(why), "{from} -> {to}: {e}");
            assert!(!e.contains("/y"), "only the origin is named: {e}");
        }
        assert!(same_origin(
            &url("https://a.example/"),
            &url("https://a.example:443/z")
        ));
        assert!(!same_origin(
            &url("http://a.example/"),
            &url("https://a.example/")
        ));
    }

    #[test]
    fn body_caps_by_what_the_path_answers() {
        assert_eq!(
            BodyKind::of_path("/v2/a/b/_chainguard/history/latest?start=x"),
            BodyKind::History
        );
        assert_eq!(
            BodyKind::of_path("/v2/a/manifests/latest"),
            BodyKind::Manifest
        );
        assert_eq!(BodyKind::of_path("/v2/a/tags/list?n=10"), BodyKind::Tags);
        assert_eq!(BodyKind::of_path("/v2/"), BodyKind::Other);
        assert_eq!(BodyKind::Manifest.limit(), 4 << 20);
        assert_eq!(BodyKind::Token.limit(), 1 << 20);
        // A full history page with the longest digests and fractional timestamps fits 4 times.
        let entry = format!(
            r#"{{"updateTimestamp":"2024-06-01T12:00:00.123456789+00:00","digest":"sha512:{}"}},"#,
            "a".repeat(128)
        );
        assert!(entry.len() * 1000 * 4 < BodyKind::History.limit());
        assert_eq!(show_bytes(4 << 20), "4 MiB");
        assert_eq!(show_bytes(64 << 10), "64 KiB");
    }
}
