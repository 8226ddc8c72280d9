//! Talking to registries: one long-lived HTTP client (rustls, keep-alive, HTTP/2 where offered),
//! the auth handshake, credentials, the retry policy, at most `jobs` requests in flight, and the
//! two questions digestpin asks: a tag's manifest digest, and a cgr.dev tag's history.
//!
//! Per registry, the first request is a `GET /v2/` ping (made once, shared by every task) that
//! tells how it authenticates: nothing, Basic, or Bearer with a token realm. Bearer tokens are
//! then fetched up front, once per (registry, scope), so each image costs one token request
//! and one lookup, with no 401 round trip.

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

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Url};
use sha2::{Digest as _, Sha256};

use crate::cache::AuthRecord;
use crate::digest::Digest;
use crate::reference::api_host;
use auth::{Fetched, TokenCache, TokenResponse, parse_challenges};
use credentials::{Credential, CredentialStore};
pub use error::{OciError, RegistryError};
pub use image::Published;
use retry::{RetryPolicy, parse_retry_after};

/// Every manifest type a tag may point to, so the registry returns the tag's own digest (an
/// index or list, not one platform's child).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// `--endpoint REGISTRY=URL` overrides.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    map: HashMap<String, String>,
}

impl Endpoints {
    /// Adds `REGISTRY=URL`. Plain `http://` is accepted only for loopback hosts.
    pub fn add(&mut self, spec: &str) -> Result<(), RegistryError> {
        let bad = |why: &str| RegistryError::Endpoint(format!("--endpoint {spec:?}: {why}"));
        let (registry, url) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected REGISTRY=URL"))?;
        let (registry, url) = (registry.trim(), url.trim().trim_end_matches('/'));
        if registry.is_empty() {
            return Err(bad("empty registry name"));
        }
        let parsed = Url::parse(url).map_err(|e| bad(&format!("invalid URL: {e}")))?;
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
}

impl Client {
    pub fn new(
        options: ClientOptions,
        credentials: CredentialStore,
    ) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("digestpin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .timeout(options.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::limited(5))
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
        })
    }

    /// Remembers what an earlier run learned about `registry`: its auth scheme and anonymous
    /// tokens still valid. Call before any request to that registry.
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
        }
        for (scope, (token, expires)) in &record.tokens {
            let left = expires - now.as_second();
            if left > 0 {
                self.tokens.seed(
                    registry,
                    scope,
                    token.clone(),
                    Duration::from_secs(left as u64),
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
            .map(|(scope, token, left)| (scope, (token, now.as_second() + left.as_secs() as i64)))
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
        let head = self
            .request(
                registry,
                repository,
                Method::HEAD,
                &path,
                Some(MANIFEST_ACCEPT),
            )
            .await;
        let head = match head {
            Err(RegistryError::Status {
                status: 405 | 501, ..
            }) => None,
            other => Some(other?),
        };
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

    /// Sends one logical request: authenticates, retries transient failures, re-authenticates
    /// once on 401. Returns a 2xx reply or a typed error.
    pub async fn request(
        &self,
        registry: &str,
        repository: &str,
        method: Method,
        path: &str,
        accept: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        let url = self.url(registry, path);
        let scope = format!("repository:{repository}:pull");
        let mut reauthenticated = false;
        let mut retries = 0;
        loop {
            let authorization = self.authorization(registry, &scope).await?;
            let outcome = self
                .send(
                    registry,
                    method.clone(),
                    &url,
                    accept,
                    authorization.as_deref(),
                )
                .await;
            let (retry_after, failure) = match outcome {
                Ok(reply) if reply.status == 401 && !reauthenticated => {
                    reauthenticated = true;
                    self.learn_challenge(registry, &scope, &reply.headers).await;
                    continue;
                }
                Ok(reply) if (200..300).contains(&reply.status) => return Ok(reply),
                Ok(reply) if reply.status == 429 || reply.status >= 500 => (
                    retry_after(&reply),
                    status_error(registry, repository, &url, &reply),
                ),
                Ok(reply) => return Err(status_error(registry, repository, &url, &reply)),
                Err(e) if e.is_transient() => (None, e),
                Err(e) => return Err(e),
            };
            let wait = self.retry.delay(retries, retry_after).ok_or(failure)?;
            retries += 1;
            tracing::debug!(url = %url, retry = retries, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One HTTP exchange, holding a slot of the in-flight limit; the body is read completely.
    async fn send(
        &self,
        registry: &str,
        method: Method,
        url: &str,
        accept: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<Reply, RegistryError> {
        let mut request = self.http.request(method, url);
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        self.exchange(registry, request).await
    }

    /// Sends a request holding a slot of the in-flight limit, reads the whole body, logs it.
    /// URLs never carry credentials, so they are safe in logs and errors.
    async fn exchange(
        &self,
        registry: &str,
        request: reqwest::RequestBuilder,
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
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| transport(&url, describe_transport(&e)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport(&url, describe_transport(&e)))?;
        tracing::debug!(
            method = %method,
            url = %url,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// The `Authorization` header for a request in `scope`, per the registry's scheme.
    async fn authorization(
        &self,
        registry: &str,
        scope: &str,
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
        result
    }

    async fn ping(&self, registry: &str) -> Result<Scheme, RegistryError> {
        let url = self.url(registry, "/v2/");
        let mut retries = 0;
        loop {
            let result = self.send(registry, Method::GET, &url, None, None).await;
            match result {
                Ok(reply) if reply.status == 401 => return Ok(scheme_from(&reply.headers)),
                Ok(reply) if reply.status == 429 || reply.status >= 500 => {
                    if let Some(wait) = self.retry.delay(retries, None) {
                        retries += 1;
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(status_error(registry, "", &url, &reply));
                }
                Ok(_) => return Ok(Scheme::Anonymous),
                Err(e) if e.is_transient() => match self.retry.delay(retries, None) {
                    Some(wait) => {
                        retries += 1;
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// After a 401: adopt the challenge it carried and forget the rejected token.
    async fn learn_challenge(&self, registry: &str, scope: &str, headers: &HeaderMap) {
        let scheme = scheme_from(headers);
        let slot = self.scheme_slot(registry);
        *slot.lock().await = Some(Ok(scheme));
        self.tokens.invalidate(registry, scope).await;
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
        scope: &str,
    ) -> Result<Fetched, RegistryError> {
        let credential = self.credential(registry).await?;
        let anonymous = credential.is_none();
        let mut url = Url::parse(realm).map_err(|_| RegistryError::InvalidResponse {
            registry: registry.to_owned(),
            url: realm.to_owned(),
            detail: "token realm is not a URL".into(),
        })?;
        let insecure = url.scheme() != "https" && !is_loopback(url.host_str().unwrap_or(""));
        if credential.is_some() && insecure {
            return Err(RegistryError::Credentials {
                registry: registry.to_owned(),
                detail: format!(
                    "refusing to send credentials to a plain-http token realm {}",
                    url.origin().ascii_serialization()
                ),
            });
        }
        let repository = scope
            .trim_start_matches("repository:")
            .trim_end_matches(":pull");
        let mut retries = 0;
        loop {
            let result = match &credential {
                Some(Credential::IdentityToken(refresh)) => {
                    let mut form = vec![
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.as_str()),
                        ("client_id", "digestpin"),
                        ("scope", scope),
                    ];
                    if let Some(service) = service {
                        form.push(("service", service));
                    }
                    self.exchange(registry, self.http.post(url.clone()).form(&form))
                        .await
                }
                _ => {
                    {
                        let mut query = url.query_pairs_mut();
                        query.clear();
                        if let Some(service) = service {
                            query.append_pair("service", service);
                        }
                        query.append_pair("scope", scope);
                    }
                    let mut request = self.http.get(url.clone());
                    if let Some(header) = credential.as_ref().and_then(Credential::basic_header) {
                        request = request.header(AUTHORIZATION, header);
                    }
                    self.exchange(registry, request).await
                }
            };
            let token_url = strip_query(url.as_str());
            let (retry_after, failure) = match result {
                Ok(reply) if (200..300).contains(&reply.status) => {
                    let parsed: Result<TokenResponse, _> = serde_json::from_slice(&reply.body);
                    return parsed
                        .ok()
                        .and_then(TokenResponse::into_token)
                        .map(|(token, ttl)| Fetched {
                            token,
                            ttl,
                            anonymous,
                        })
                        .ok_or_else(|| RegistryError::InvalidResponse {
                            registry: registry.to_owned(),
                            url: token_url,
                            detail: "token response has no token".into(),
                        });
                }
                Ok(reply) if reply.status == 429 || reply.status >= 500 => (
                    retry_after(&reply),
                    status_error(registry, repository, &token_url, &reply),
                ),
                Ok(reply) => return Err(status_error(registry, repository, &token_url, &reply)),
                Err(e) if e.is_transient() => (None, e),
                Err(e) => return Err(e),
            };
            let wait = self.retry.delay(retries, retry_after).ok_or(failure)?;
            retries += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

fn retry_after(reply: &Reply) -> Option<Duration> {
    reply
        .headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
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
}
