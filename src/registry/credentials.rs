//! Registry credentials, found the way the Docker CLI finds them.
//!
//! For cgr.dev, `CHAINGUARD_IDENTITY_ID` + `CHAINGUARD_TOKEN` (a pull token) come first. Then
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`): a `credHelpers` entry for the
//! registry, an `auths` entry (base64 `auth`, `username`/`password`, `identitytoken`), then the
//! `credsStore`. Helpers run as `docker-credential-NAME get` with the server on stdin; a helper
//! saying "credentials not found" means anonymous, not an error. Docker Hub's key is
//! `https://index.docker.io/v1/`.
//!
//! We read these ourselves rather than through the `docker_credential` crate: it reports a
//! helper's "credentials not found" as a failure, matches `auths` keys only verbatim (no
//! `https://` or path normalisation) and its credential type prints secrets in `Debug`.
//!
//! Nothing read from `config.json` or printed by a helper ever appears in an error: a config
//! that does not parse is reported by line and column only (serde's messages quote values), and
//! a helper is named with its exit status. A helper is bounded like a registry: it must answer
//! within the request timeout and in at most [`HELPER_OUTPUT_LIMIT`] bytes.

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most a credential helper may print.
pub const HELPER_OUTPUT_LIMIT: usize = 1 << 20;
/// How long a credential helper may take, unless the client sets its request timeout.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(30);

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::reference::DOCKER_HUB;

/// What to authenticate with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token realm.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

impl Credential {
    /// The `Authorization: Basic …` value, for Basic credentials.
    pub fn basic_header(&self) -> Option<String> {
        match self {
            Credential::Basic { username, password } => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{password}"))
            )),
            Credential::IdentityToken(_) => None,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperReply {
    username: String,
    secret: String,
}

/// Where credentials come from; built once per run.
#[derive(Debug, Default)]
pub struct CredentialStore {
    config: DockerConfig,
    chainguard: Option<Credential>,
    /// Problems reading the config, reported when a registry asks for credentials.
    config_error: Option<String>,
    /// `None`: [`DEFAULT_HELPER_TIMEOUT`].
    helper_timeout: Option<Duration>,
}

impl CredentialStore {
    /// Reads the environment and the Docker config file.
    pub fn from_env() -> Self {
        let chainguard = match (
            std::env::var("CHAINGUARD_IDENTITY_ID"),
            std::env::var("CHAINGUARD_TOKEN"),
        ) {
            (Ok(id), Ok(token)) if !id.is_empty() && !token.is_empty() => Some(Credential::Basic {
                username: id,
                password: token,
            }),
            _ => None,
        };
        let path = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
            .map(|dir| dir.join("config.json"));
        let (config, config_error) = match path {
            None => (DockerConfig::default(), None),
            Some(path) => match std::fs::read(&path) {
                Err(_) => (DockerConfig::default(), None),
                Ok(bytes) => match parse_config(&bytes) {
                    Ok(config) => (config, None),
                    Err(e) => (
                        DockerConfig::default(),
                        Some(format!("{}: {e}", path.display())),
                    ),
                },
            },
        };
        CredentialStore {
            config,
            chainguard,
            config_error,
            helper_timeout: None,
        }
    }

    /// How long a credential helper may take to answer (at least a second).
    pub fn set_helper_timeout(&mut self, timeout: Duration) {
        self.helper_timeout = Some(timeout.max(Duration::from_secs(1)));
    }

    /// Credentials for `registry` (a normalised name such as `cgr.dev` or `docker.io`), or
    /// `None` for anonymous access. Runs a credential helper if one is configured (blocking).
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, String> {
        if registry == "cgr.dev" {
            if let Some(c) = &self.chainguard {
                return Ok(Some(c.clone()));
            }
        }
        if let Some(e) = &self.config_error {
            return Err(format!("cannot read Docker config {e}"));
        }
        let server = server_key(registry);
        let timeout = self.helper_timeout.unwrap_or(DEFAULT_HELPER_TIMEOUT);
        if let Some(helper) = self.config.cred_helpers.get(registry) {
            return run_helper(helper, &server, timeout);
        }
        if let Some(entry) = self.find_auth(registry) {
            if let Some(c) = entry_credential(entry)? {
                return Ok(Some(c));
            }
        }
        match &self.config.creds_store {
            Some(store) if !store.is_empty() => run_helper(store, &server, timeout),
            _ => Ok(None),
        }
    }

    fn find_auth(&self, registry: &str) -> Option<&AuthEntry> {
        self.config
            .auths
            .iter()
            .find(|(key, _)| normalise_key(key) == registry)
            .map(|(_, entry)| entry)
    }
}

/// Parses a Docker `config.json`. The error names where the problem is and what kind it is,
/// never the text there: serde's own messages quote the offending value, which may be a secret
/// (`"auths": {"cgr.dev": "hunter2"}`).
fn parse_config(bytes: &[u8]) -> Result<DockerConfig, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Syntax | Category::Eof => "not valid JSON",
            Category::Data => "not the shape of a Docker config (a value has the wrong type)",
            Category::Io => "unreadable",
        };
        format!("{what} at line {} column {}", e.line(), e.column())
    })
}

/// Parses a Docker `config.json` and looks up every registry in it (for fuzzing): returns the
/// number of credentials found, or the error message, which must not quote the file.
#[doc(hidden)]
pub fn fuzz_config(bytes: &[u8]) -> Result<usize, String> {
    let store = CredentialStore {
        config: parse_config(bytes)?,
        ..CredentialStore::default()
    };
    let keys: Vec<String> = store
        .config
        .auths
        .keys()
        .map(|k| normalise_key(k))
        .collect();
    let mut found = 0;
    for key in keys {
        if let Some(entry) = store.find_auth(&key) {
            if entry_credential(entry)?.is_some() {
                found += 1;
            }
        }
    }
    Ok(found)
}

/// Parses what a credential helper printed (for fuzzing).
#[doc(hidden)]
pub fn fuzz_helper_reply(bytes: &[u8]) -> Option<Credential> {
    parse_helper_reply(bytes).ok()
}

/// The key the Docker CLI uses for a registry in helpers: Docker Hub's legacy URL, else the host.
fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "https://index.docker.io/v1/".to_owned()
    } else {
        registry.to_owned()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://cgr.dev/` → `cgr.dev`.
fn normalise_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_owned(),
        other => other.to_owned(),
    }
}

fn entry_credential(entry: &AuthEntry) -> Result<Option<Credential>, String> {
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(token.to_owned())));
    }
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Ok(Some(Credential::Basic {
            username: u.clone(),
            password: p.clone(),
        }));
    }
    match entry.auth.as_deref().filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(auth) => {
            let decoded = STANDARD.decode(auth.trim()).map_err(|_| {
                "an `auths` entry has an `auth` value that is not base64".to_owned()
            })?;
            let text = String::from_utf8(decoded)
                .map_err(|_| "an `auths` entry has an `auth` value that is not text".to_owned())?;
            let (username, password) = text
                .split_once(':')
                .ok_or("an `auths` entry's `auth` is not `user:password`")?;
            Ok(Some(Credential::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            }))
        }
    }
}

/// Runs `docker-credential-NAME get` with the server on its stdin, waiting at most `timeout`
/// and reading at most [`HELPER_OUTPUT_LIMIT`] bytes. A helper that exits without reading its
/// stdin is fine (its answer is what counts); its stderr is not read.
fn run_helper(name: &str, server: &str, timeout: Duration) -> Result<Option<Credential>, String> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let started = Instant::now();
    let deadline = started
        .checked_add(timeout)
        .unwrap_or(started + DEFAULT_HELPER_TIMEOUT);
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(mut stdout) = child.stdout.take() {
        // A thread, so that a helper that never closes its stdout (or leaves a child holding
        // it) cannot block us past the deadline.
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let read = (&mut stdout)
                .take(HELPER_OUTPUT_LIMIT as u64 + 1)
                .read_to_end(&mut out);
            let _ = tx.send(read.map(|_| out));
        });
    }
    if let Some(mut stdin) = child.stdin.take() {
        // Small enough for the pipe buffer, so this does not block; a helper that already
        // exited makes it fail with EPIPE, which is no error of ours.
        match stdin.write_all(server.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{program}: cannot write its input: {e}"));
            }
            _ => {}
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let stdout = match rx.recv_timeout(left) {
        Ok(Ok(out)) if out.len() > HELPER_OUTPUT_LIMIT => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{program} get printed more than {} KiB: not credentials",
                HELPER_OUTPUT_LIMIT >> 10
            ));
        }
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{program}: cannot read its output: {e}"));
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{program} get did not answer within {} s",
                timeout.as_secs()
            ));
        }
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} get did not exit within {} s",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("{program}: {e}")),
        }
    };
    if !status.success() {
        if String::from_utf8_lossy(&stdout)
            .to_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        return Err(format!("{program} get failed ({status})"));
    }
    parse_helper_reply(&stdout)
        .map(Some)
        .map_err(|()| format!("{program} get printed something other than credentials JSON"))
}

/// A helper's `{"Username": …, "Secret": …}`; the user name `<token>` marks an identity token.
fn parse_helper_reply(stdout: &[u8]) -> Result<Credential, ()> {
    let reply: HelperReply = serde_json::from_slice(stdout).map_err(|_| ())?;
    if reply.username == "<token>" {
        return Ok(Credential::IdentityToken(reply.secret));
    }
    Ok(Credential::Basic {
        username: reply.username,
        password: reply.secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> CredentialStore {
        CredentialStore {
            config: serde_json::from_str(json).unwrap(),
            ..CredentialStore::default()
        }
    }

    #[test]
    fn auths_in_every_spelling() {
        let s = store(
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
                "https://cgr.dev/": {"username": "u", "password": "p"},
                "ghcr.io": {"identitytoken": "refresh"},
                "quay.io": {}
            }}"#,
        );
        let basic = |u: &str, p: &str| {
            Some(Credential::Basic {
                username: u.into(),
                password: p.into(),
            })
        };
        assert_eq!(s.lookup("docker.io").unwrap(), basic("user", "pass"));
        assert_eq!(s.lookup("cgr.dev").unwrap(), basic("u", "p"));
        assert_eq!(
            s.lookup("ghcr.io").unwrap(),
            Some(Credential::IdentityToken("refresh".into()))
        );
        assert_eq!(s.lookup("quay.io").unwrap(), None);
        assert_eq!(s.lookup("example.com").unwrap(), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credential::Basic {
            username: "bob".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{:?}", Credential::IdentityToken("tok".into())).contains("tok"));
    }

    #[test]
    fn missing_helper_is_an_error() {
        let s = store(r#"{"credHelpers": {"cgr.dev": "digestpin-test-missing"}}"#);
        assert!(
            s.lookup("cgr.dev")
                .unwrap_err()
                .contains("docker-credential-digestpin-test-missing")
        );
    }

    #[test]
    fn config_errors_never_quote_the_file() {
        for bad in [
            r#"{"auths": {"cgr.dev": "hunter2-secret"}}"#,
            r#"{"auths": {"cgr.dev": {"auth": ["hunter2-secret"]}}}"#,
            r#"{"auths": {"cgr.dev": {"password": 7, "username": "hunter2-secret"}}}"#,
            r#"{"credHelpers": {"cgr.dev": {"x": "hunter2-secret"}}}"#,
            r#"{"credsStore": ["hunter2-secret"]}"#,
            r#"{"auths": {"cgr.dev": {"auth": "hunter2-secret"#,
            r#"{"auths": "hunter2-secret"}"#,
            "hunter2-secret",
        ] {
            let e = parse_config(bad.as_bytes()).unwrap_err();
            assert!(!e.contains("hunter2"), "{bad}: {e}");
            assert!(e.contains("line 1 column"), "{e}");
        }
        // A wrong `auth` value is reported by what is wrong with it, not what it is.
        let s = store(r#"{"auths": {"cgr.dev": {"auth": "aHVudGVyMi1zZWNyZXQ="}}}"#);
        assert!(!s.lookup("cgr.dev").unwrap_err().contains("hunter2"));
    }
}
