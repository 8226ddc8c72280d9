//! What digestpin asks about an image beyond its tag's digest: whether a digest exists
//! (`HEAD …/manifests/DIGEST`), and when an image was created (its config's `created`), the
//! publish time `--min-age` uses on registries without tag history.
//!
//! Every manifest and config fetched by digest is hashed and compared with that digest before
//! anything in it is believed.

use jiff::Timestamp;
use reqwest::Method;
use sha2::{Digest as _, Sha256};

use super::{Client, MANIFEST_ACCEPT, RegistryError, error::truncate};
use crate::digest::Digest;

/// When an image was created, from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub at: Timestamp,
    /// The time exactly as the config wrote it.
    pub text: String,
}

impl Client {
    /// Whether `digest` exists in `registry/repository`: `Ok(false)` only for a 404; an auth
    /// failure (401/403) is an error, never "missing"; 429/5xx are retried by the client.
    pub async fn manifest_exists(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{repository}/manifests/{digest}");
        let found = match self.head_manifest(registry, repository, &path).await {
            Ok(None) => {
                self.request(
                    registry,
                    repository,
                    Method::GET,
                    &path,
                    Some(MANIFEST_ACCEPT),
                )
                .await
            }
            Ok(Some(reply)) => Ok(reply),
            Err(e) => Err(e),
        };
        match found {
            Ok(_) => Ok(true),
            Err(RegistryError::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// When the image `digest` was created: its config's `created`; for an index or manifest
    /// list, that of its first platform manifest. `None` when the config has no `created`, or
    /// one at or before the Unix epoch (reproducible builds stamp that: it is no publish time).
    pub async fn image_created(
        &self,
        registry: &str,
        repository: &str,
        digest: &Digest,
    ) -> Result<Option<Published>, RegistryError> {
        let manifest = self
            .by_digest(
                registry,
                repository,
                "manifests",
                digest,
                Some(MANIFEST_ACCEPT),
            )
            .await?;
        let manifest = match first_platform(&manifest) {
            Some(child) => {
                let child = self.parse_digest(registry, repository, &child)?;
                self.by_digest(
                    registry,
                    repository,
                    "manifests",
                    &child,
                    Some(MANIFEST_ACCEPT),
                )
                .await?
            }
            None => manifest,
        };
        let Some(config) = manifest
            .get("config")
            .and_then(|c| c.get("digest"))
            .and_then(|d| d.as_str())
        else {
            return Err(self.invalid(registry, repository, "image manifest has no config digest"));
        };
        let config = self.parse_digest(registry, repository, config)?;
        let config = self
            .by_digest(registry, repository, "blobs", &config, None)
            .await?;
        let Some(text) = config.get("created").and_then(|c| c.as_str()) else {
            return Ok(None);
        };
        let Ok(at) = text.parse::<Timestamp>() else {
            return Ok(None);
        };
        Ok((at > Timestamp::UNIX_EPOCH).then(|| Published {
            at,
            text: text.to_owned(),
        }))
    }

    /// A JSON document fetched by digest, checked against that digest.
    async fn by_digest(
        &self,
        registry: &str,
        repository: &str,
        kind: &str,
        digest: &Digest,
        accept: Option<&str>,
    ) -> Result<serde_json::Value, RegistryError> {
        let path = format!("/v2/{repository}/{kind}/{digest}");
        let reply = self
            .request(registry, repository, Method::GET, &path, accept)
            .await?;
        let matches = match digest.as_str().split_once(':') {
            Some(("sha256", hex)) => format!("{:x}", Sha256::digest(&reply.body)) == hex,
            Some(("sha512", hex)) => format!("{:x}", sha2::Sha512::digest(&reply.body)) == hex,
            _ => false,
        };
        if !matches {
            return Err(self.invalid(
                registry,
                repository,
                &format!("{kind}/{digest}: content does not match its digest"),
            ));
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            self.invalid(
                registry,
                repository,
                &format!("{kind}/{digest}: not JSON ({e})"),
            )
        })
    }

    fn parse_digest(
        &self,
        registry: &str,
        repository: &str,
        text: &str,
    ) -> Result<Digest, RegistryError> {
        Digest::parse(text).map_err(|_| RegistryError::InvalidDigest {
            registry: registry.to_owned(),
            url: self.url(registry, &format!("/v2/{repository}/")),
            value: truncate(text, 100),
        })
    }

    fn invalid(&self, registry: &str, repository: &str, detail: &str) -> RegistryError {
        RegistryError::InvalidResponse {
            registry: registry.to_owned(),
            url: self.url(registry, &format!("/v2/{repository}/")),
            detail: detail.to_owned(),
        }
    }
}

/// The digest of an index's first platform manifest (attestations, `unknown/unknown`, are no
/// platform); `None` when the document is not an index.
fn first_platform(manifest: &serde_json::Value) -> Option<String> {
    let children = manifest.get("manifests")?.as_array()?;
    let is_platform = |m: &&serde_json::Value| {
        m.get("platform")
            .and_then(|p| p.get("os"))
            .and_then(|os| os.as_str())
            .is_none_or(|os| os != "unknown")
    };
    children
        .iter()
        .find(is_platform)
        .or(children.first())
        .and_then(|m| m.get("digest")?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_platform_skips_attestations_and_ignores_plain_manifests() {
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:aa", "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": "sha256:bb", "platform": {"os": "linux", "architecture": "amd64"}},
        ]});
        assert_eq!(first_platform(&index).as_deref(), Some("sha256:bb"));
        let plain = serde_json::json!({"config": {"digest": "sha256:cc"}});
        assert_eq!(first_platform(&plain), None);
    }
}
