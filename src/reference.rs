//! Image references: the distribution reference grammar, and normalisation for lookups.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [domain "/"] path          (at most 255 characters)
//! domain     := host [":" port]            host: domain-name | "[" IPv6 "]"
//! path       := component ("/" component)*  component: [a-z0-9]+ (("."|"_"|"__"|"-"+) [a-z0-9]+)*
//! tag        := [\w][\w.-]{0,127}
//! ```
//!
//! A [`Reference`] keeps the user's spelling (`python:3.12` stays `python:3.12` in the file)
//! and separately knows where to look it up (`docker.io`, `library/python`, API host
//! `registry-1.docker.io`). Pure: no I/O.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const LEGACY_DOCKER_HUB: &str = "index.docker.io";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

/// A parsed, valid image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The name exactly as written, without tag or digest (`python`, `localhost:5000/app`).
    name: String,
    tag: Option<String>,
    digest: Option<Digest>,
    /// Normalised registry (`docker.io` for Docker Hub).
    registry: String,
    /// Normalised repository path (`library/python` for official Hub images).
    repository: String,
}

/// Why a string is not a valid image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("empty reference")]
    Empty,
    #[error("invalid reference format")]
    Format,
    #[error("repository name must be lowercase")]
    Uppercase,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid tag (at most 128 of [A-Za-z0-9_.-], not starting with . or -)")]
    Tag,
    #[error("invalid domain")]
    Domain,
    #[error("a 64-character hexadecimal string is not a repository name")]
    HexName,
    #[error("invalid digest: {0}")]
    Digest(#[from] DigestError),
}

impl Reference {
    /// Parses `text` with the distribution grammar and normalises it for lookups.
    pub fn parse(text: &str) -> Result<Self, ReferenceError> {
        if text.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (name_and_tag, digest) = match text.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d)?)),
            None => (text, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(ReferenceError::Tag);
            }
        }
        if name.is_empty() {
            return Err(ReferenceError::Format);
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReferenceError::HexName);
        }
        let (registry, repository) = split_domain(name);
        if repository.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase);
        }
        validate_name(name)?;
        Ok(Reference {
            name: name.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
            registry,
            repository,
        })
    }

    /// The name as the user wrote it, without tag or digest.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The explicit tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag a lookup follows: the explicit tag, `latest` when there is neither tag nor
    /// digest, and nothing for a digest-only reference (there is no tag to follow).
    pub fn lookup_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Normalised registry name: `docker.io` for Docker Hub, otherwise the domain as written.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Normalised repository path: `library/python` for `python`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The host that serves the registry API (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        api_host(&self.registry)
    }

    /// This reference in the user's spelling with `digest` attached: `NAME:TAG@DIGEST`, or
    /// `NAME@DIGEST` when `keep_tag` is false or there is no tag.
    pub fn pinned_to(&self, digest: &Digest, keep_tag: bool) -> String {
        match (&self.tag, keep_tag) {
            (Some(tag), true) => format!("{}:{}@{}", self.name, tag, digest),
            _ => format!("{}@{}", self.name, digest),
        }
    }
}

/// The host serving `registry`'s API.
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API_HOST
    } else {
        registry
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

/// Checks the grammar first (so a malformed digest is `Format`), then our stricter rule.
fn parse_digest(text: &str) -> Result<Digest, ReferenceError> {
    let (algorithm, hex) = text.split_once(':').ok_or(ReferenceError::Format)?;
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|c| {
        c.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && c.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ReferenceError::Format);
    }
    Ok(Digest::parse(text)?)
}

/// Splits a name into (registry, repository) the way Docker does: the first component is a
/// registry if it contains `.` or `:`, is `localhost`, or has an uppercase letter.
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first.to_owned(), rest.to_owned())
        }
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    if domain == LEGACY_DOCKER_HUB {
        domain = DOCKER_HUB.to_owned();
    }
    if domain == DOCKER_HUB && !rest.contains('/') {
        rest = format!("library/{rest}");
    }
    (domain, rest)
}

/// `name := [domain "/"] path`: either the whole name is a path, or the part before the first
/// `/` is a domain and the rest a path.
fn validate_name(name: &str) -> Result<(), ReferenceError> {
    if is_path(name) {
        return Ok(());
    }
    match name.split_once('/') {
        Some((domain, path)) if is_domain(domain) && is_path(path) => Ok(()),
        Some((domain, _)) if !is_domain(domain) && domain.contains(['.', ':', '[']) => {
            Err(ReferenceError::Domain)
        }
        _ => Err(ReferenceError::Format),
    }
}

fn is_path(path: &str) -> bool {
    path.split('/').all(is_path_component)
}

/// `[a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < bytes.len() && bytes[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < bytes.len() && bytes[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        debug_assert!(i > sep_start);
    }
}

/// `host [":" port]` where host is a dotted domain name (IPv4 included) or `[IPv6]`.
fn is_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, p),
            None => (domain, ""),
        }
    };
    if !domain.starts_with('[') && !host.split('.').all(is_domain_component) {
        return false;
    }
    if domain.contains(':') && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    true
}

/// `[a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

/// The distribution grammar's tag: `[\w][\w.-]{0,127}`.
pub(crate) fn is_tag(tag: &str) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_LENGTH_MAX
        && word(&bytes[0])
        && bytes.iter().all(|b| word(b) || *b == b'.' || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn normalises_for_lookup() {
        let cases = [
            ("alpine", "docker.io", "library/alpine", Some("latest")),
            ("alpine:3.20", "docker.io", "library/alpine", Some("3.20")),
            (
                "library/alpine:3.20",
                "docker.io",
                "library/alpine",
                Some("3.20"),
            ),
            (
                "docker.io/library/alpine:3.20",
                "docker.io",
                "library/alpine",
                Some("3.20"),
            ),
            (
                "docker.io/alpine",
                "docker.io",
                "library/alpine",
                Some("latest"),
            ),
            (
                "index.docker.io/library/alpine:3.20",
                "docker.io",
                "library/alpine",
                Some("3.20"),
            ),
            ("bitnami/redis:7", "docker.io", "bitnami/redis", Some("7")),
            (
                "localhost:5000/team/app:1.0",
                "localhost:5000",
                "team/app",
                Some("1.0"),
            ),
            ("localhost/app", "localhost", "app", Some("latest")),
            (
                "registry.example.com:5000/team/sub/app:v1.2.3",
                "registry.example.com:5000",
                "team/sub/app",
                Some("v1.2.3"),
            ),
            ("[::1]:5000/app:dev", "[::1]:5000", "app", Some("dev")),
            ("[fe80::1]/app", "[fe80::1]", "app", Some("latest")),
            ("ghcr.io/org/img:tag", "ghcr.io", "org/img", Some("tag")),
            ("myhost:5000/app", "myhost:5000", "app", Some("latest")),
            ("Registry/app", "Registry", "app", Some("latest")),
            (
                "cgr.dev/chainguard/python:latest-dev",
                "cgr.dev",
                "chainguard/python",
                Some("latest-dev"),
            ),
            (
                "127.0.0.1:5000/demo/app:1.0",
                "127.0.0.1:5000",
                "demo/app",
                Some("1.0"),
            ),
            (
                "a__b/c-d---e.f_g",
                "docker.io",
                "a__b/c-d---e.f_g",
                Some("latest"),
            ),
        ];
        for (text, registry, repository, tag) in cases {
            let r = Reference::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(r.registry(), registry, "{text}");
            assert_eq!(r.repository(), repository, "{text}");
            assert_eq!(r.lookup_tag(), tag, "{text}");
            assert_eq!(r.to_string(), text, "round trip");
        }
    }

    #[test]
    fn digests_and_tags() {
        let r =
            Reference::parse(&format!("cgr.dev/chainguard/static:latest@sha256:{HEX64}")).unwrap();
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.digest().unwrap().hex(), HEX64);
        let r = Reference::parse(&format!("cgr.dev/chainguard/static@sha256:{HEX64}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.lookup_tag(), None);
        let r = Reference::parse("localhost:5000").unwrap();
        assert_eq!((r.name(), r.tag()), ("localhost", Some("5000")));
    }

    #[test]
    fn pinned_to_keeps_spelling() {
        let d = Digest::parse(&format!("sha256:{HEX64}")).unwrap();
        let r = Reference::parse("python:3.12").unwrap();
        assert_eq!(r.pinned_to(&d, true), format!("python:3.12@sha256:{HEX64}"));
        assert_eq!(r.pinned_to(&d, false), format!("python@sha256:{HEX64}"));
        let old = Reference::parse(&format!("python:3.12@sha256:{}", "f".repeat(64))).unwrap();
        assert_eq!(
            old.pinned_to(&d, true),
            format!("python:3.12@sha256:{HEX64}")
        );
    }

    #[test]
    fn rejects_invalid() {
        let long = format!("{}/app", "a".repeat(251));
        let cases: Vec<(String, ReferenceError)> = vec![
            ("".into(), ReferenceError::Empty),
            ("Alpine".into(), ReferenceError::Uppercase),
            (
                "cgr.dev/Chainguard/python".into(),
                ReferenceError::Uppercase,
            ),
            ("alpine:".into(), ReferenceError::Tag),
            ("alpine:-x".into(), ReferenceError::Tag),
            (format!("alpine:{}", "a".repeat(129)), ReferenceError::Tag),
            ("alpine@sha256:abc".into(), ReferenceError::Format),
            (
                format!("alpine@sha384:{HEX64}"),
                ReferenceError::Digest(DigestError::UnsupportedAlgorithm),
            ),
            (
                format!("alpine@sha256:{}", HEX64.to_uppercase()),
                ReferenceError::Digest(DigestError::BadHex {
                    algorithm: "sha256",
                    expected: 64,
                }),
            ),
            ("a//b".into(), ReferenceError::Format),
            ("/a".into(), ReferenceError::Format),
            ("a/".into(), ReferenceError::Format),
            ("-a".into(), ReferenceError::Format),
            ("a-".into(), ReferenceError::Format),
            ("a..b".into(), ReferenceError::Format),
            ("a___b".into(), ReferenceError::Format),
            ("img tag".into(), ReferenceError::Format),
            ("-host.com/a".into(), ReferenceError::Domain),
            ("host.com:port/a".into(), ReferenceError::Domain),
            ("[::1/a".into(), ReferenceError::Domain),
            ("[zz::1]:5000/a".into(), ReferenceError::Domain),
            (HEX64.into(), ReferenceError::HexName),
            (long.clone() + "xx", ReferenceError::NameTooLong),
            ("${base}".into(), ReferenceError::Format),
            ("a@b@c".into(), ReferenceError::Format),
        ];
        for (text, want) in cases {
            assert_eq!(Reference::parse(&text), Err(want), "{text}");
        }
        assert!(Reference::parse(&long).is_ok());
    }
}
