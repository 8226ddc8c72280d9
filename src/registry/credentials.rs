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

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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
                Ok(bytes) => match serde_json::from_slice(&bytes) {
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
        }
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
        if let Some(helper) = self.config.cred_helpers.get(registry) {
            return run_helper(helper, &server);
        }
        if let Some(entry) = self.find_auth(registry) {
            if let Some(c) = entry_credential(entry)? {
                return Ok(Some(c));
            }
        }
        match &self.config.creds_store {
            Some(store) if !store.is_empty() => run_helper(store, &server),
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

/// Runs `docker-credential-NAME get`.
fn run_helper(name: &str, server: &str) -> Result<Option<Credential>, String> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(server.as_bytes())
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        if stdout.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("{program} get failed ({})", output.status));
    }
    let reply: HelperReply = serde_json::from_slice(&output.stdout)
        .map_err(|_| format!("{program} get printed something other than credentials JSON"))?;
    if reply.username == "<token>" {
        return Ok(Some(Credential::IdentityToken(reply.secret)));
    }
    Ok(Some(Credential::Basic {
        username: reply.username,
        password: reply.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(json: &str) -> CredentialStore {
        CredentialStore {
            config: serde_json::from_str(json).unwrap(),
            chainguard: None,
            config_error: None,
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
}
