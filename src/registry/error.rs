//! Typed registry errors. Each carries what a user needs to act: the registry, repository,
//! URL (never with credentials), HTTP status and the OCI error code.

use std::fmt;

/// The first entry of an OCI error body: `{"errors":[{"code":"…","message":"…"}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OciError {
    pub code: Option<String>,
    pub message: Option<String>,
}

impl OciError {
    /// Extracts the first error from a response body, if it is an OCI error document.
    pub fn from_body(body: &[u8]) -> OciError {
        let value: serde_json::Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return OciError::default(),
        };
        let first = &value["errors"][0];
        let text = |key: &str| first[key].as_str().map(|s| truncate(s, 200));
        OciError {
            code: text("code"),
            message: text("message"),
        }
    }
}

/// Why a registry request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with an error status.
    #[error("{}", http_message(.registry, .url, *.status, .oci))]
    Status {
        registry: String,
        repository: String,
        url: String,
        status: u16,
        oci: OciError,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    #[error("{registry}: {url}: {detail}")]
    Transport {
        registry: String,
        url: String,
        detail: String,
    },
    /// The registry answered, but not with something we can use.
    #[error("{registry}: {url}: {detail}")]
    InvalidResponse {
        registry: String,
        url: String,
        detail: String,
    },
    /// A digest that is not `sha256:<64 hex>` / `sha512:<128 hex>`; never written anywhere.
    #[error("{registry}: {url}: registry sent an invalid digest {value:?}")]
    InvalidDigest {
        registry: String,
        url: String,
        value: String,
    },
    /// The tag history has no entry at or before the cut-off (the caller names the reference).
    #[error("no history entry at or before {cutoff}")]
    NoEntryBefore { cutoff: String },
    /// `--as-of` on a registry without the Tag History API.
    #[error("registry {registry} has no tag history API: --as-of works only with cgr.dev")]
    NoTagHistory { registry: String },
    /// Reading credentials failed (a broken helper, an unreadable config).
    #[error("{registry}: credentials: {detail}")]
    Credentials { registry: String, detail: String },
    /// `--endpoint` misuse.
    #[error("{0}")]
    Endpoint(String),
}

fn http_message(registry: &str, url: &str, status: u16, oci: &OciError) -> String {
    let what = match status {
        401 => "authentication failed (check credentials)",
        403 => "access denied",
        404 if oci.code.as_deref() == Some("NAME_UNKNOWN") => "repository not found in registry",
        404 => "tag not found in registry",
        429 => "rate limited by registry",
        s if s >= 500 => "registry error",
        _ => "unexpected response",
    };
    let code = match (&oci.code, &oci.message) {
        (Some(code), _) => format!(" {code}"),
        _ => String::new(),
    };
    format!("{what} ({status}{code}) from {registry}: {url}")
}

/// Shortens untrusted text for messages and escapes control characters.
pub fn truncate(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, "{c}: {m}"),
            (Some(c), None) => f.write_str(c),
            (None, Some(m)) => f.write_str(m),
            (None, None) => Ok(()),
        }
    }
}
