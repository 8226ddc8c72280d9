//! Registry authentication: `WWW-Authenticate` challenges, the token cache, and the
//! [`AuthRecord`] the client exports about a registry (and is seeded with on the next run; the
//! on-disk cache only stores it).
//!
//! A challenge is parsed properly (RFC 7235 auth-params; quoted values may hold commas and
//! escaped quotes; several challenges may share one header). Bearer tokens are cached per
//! (registry, scope) until they expire (60 s when the server does not say); cgr.dev scopes are
//! one repository, so a token is never reused across repositories.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a token grants: pull access to one repository. Its string form,
/// `repository:NAME:pull`, exists only on the wire (the token request) and in the cache file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub repository: String,
}

impl Scope {
    pub fn pull(repository: &str) -> Scope {
        Scope {
            repository: repository.to_owned(),
        }
    }

    /// Reads the string form back (from a cache file); anything else is `None`.
    pub fn parse(text: &str) -> Option<Scope> {
        let repository = text.strip_prefix("repository:")?.strip_suffix(":pull")?;
        (!repository.is_empty() && !repository.contains(':')).then(|| Scope::pull(repository))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "repository:{}:pull", self.repository)
    }
}

impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Scope::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not a pull scope: {text:?}")))
    }
}

/// Where a token is kept: one per (registry, scope).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey {
    pub registry: String,
    pub scope: Scope,
}

/// A registry's auth scheme and its anonymous tokens, as the client exports them (and is
/// seeded with by a later run). The cache stores it as it is handed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuthRecord {
    /// `anonymous`, `basic` or `bearer`.
    pub scheme: String,
    pub realm: Option<String>,
    pub service: Option<String>,
    /// When this scheme was learned (seconds since the epoch); trusted for a day.
    pub learned_at: i64,
    /// scope → (token, expiry in seconds since the epoch).
    pub tokens: BTreeMap<Scope, (String, i64)>,
}

/// One parsed challenge, e.g. `Bearer realm="…",service="…",scope="…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Lowercased scheme: `bearer`, `basic`.
    pub scheme: String,
    /// Lowercased parameter names → unquoted values.
    pub params: HashMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Parses every challenge in a `WWW-Authenticate` header value.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let bytes = header.as_bytes();
    let mut pos = 0;
    let mut out: Vec<Challenge> = Vec::new();
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let skip = |pos: &mut usize, set: &[u8]| {
        while *pos < bytes.len() && set.contains(&bytes[*pos]) {
            *pos += 1;
        }
    };
    let token = |pos: &mut usize| {
        let start = *pos;
        while *pos < bytes.len() && is_tchar(bytes[*pos]) {
            *pos += 1;
        }
        &header[start..*pos]
    };
    loop {
        skip(&mut pos, b" \t,");
        if pos >= bytes.len() {
            break;
        }
        let before = pos;
        let name = token(&mut pos);
        if name.is_empty() {
            // Not a token character: skip it whole (it may be several bytes of UTF-8).
            pos += header[pos..].chars().next().map_or(1, char::len_utf8);
            continue;
        }
        let after_name = pos;
        skip(&mut pos, b" \t");
        let is_param =
            pos < bytes.len() && bytes[pos] == b'=' && !out.is_empty() && after_name > before;
        if !is_param {
            out.push(Challenge {
                scheme: name.to_ascii_lowercase(),
                params: HashMap::new(),
            });
            continue;
        }
        pos += 1;
        skip(&mut pos, b" \t");
        let value = if bytes.get(pos) == Some(&b'"') {
            pos += 1;
            let mut value = String::new();
            while pos < bytes.len() && bytes[pos] != b'"' {
                if bytes[pos] == b'\\' && pos + 1 < bytes.len() {
                    pos += 1;
                }
                let ch = header[pos..].chars().next().unwrap_or('\u{fffd}');
                value.push(ch);
                pos += ch.len_utf8();
            }
            pos += 1;
            value
        } else {
            let start = pos;
            while pos < bytes.len() && !b", \t".contains(&bytes[pos]) {
                pos += 1;
            }
            header[start..pos].to_owned()
        };
        if let Some(last) = out.last_mut() {
            last.params.insert(name.to_ascii_lowercase(), value);
        }
    }
    out
}

/// How long a token lives when the server does not say (the distribution token spec's default).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// The longest a token is kept, whatever the server says: expiry arithmetic never overflows and
/// a token never outlives the day its auth scheme is trusted for.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

/// A token endpoint's answer.
#[derive(Debug, serde::Deserialize)]
pub struct TokenResponse {
    pub token: Option<String>,
    pub access_token: Option<String>,
    /// Any JSON value: a number of any size or sign, or garbage (see [`token_ttl`]).
    pub expires_in: Option<serde_json::Value>,
}

/// The lifetime of a token from its `expires_in`: a number of seconds between 1 s and
/// [`MAX_TTL`] (0, negative and fractional values under a second: 1 s; huge ones: the cap;
/// fractions are cut); absent, `null` or not a number: [`DEFAULT_TTL`].
pub fn token_ttl(expires_in: Option<&serde_json::Value>) -> Duration {
    match expires_in.and_then(serde_json::Value::as_f64) {
        Some(secs) if !secs.is_nan() => {
            Duration::from_secs(secs.clamp(1.0, MAX_TTL.as_secs() as f64) as u64)
        }
        _ => DEFAULT_TTL,
    }
}

impl TokenResponse {
    /// The token, whichever key it came under.
    pub fn into_token(self) -> Option<(String, Duration)> {
        let ttl = token_ttl(self.expires_in.as_ref());
        self.token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))
            .map(|t| (t, ttl))
    }
}

/// `ttl` from now, saturating far in the future instead of overflowing.
fn expiry(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl)
        .or_else(|| now.checked_add(MAX_TTL))
        .unwrap_or(now)
}

#[derive(Clone)]
struct Cached {
    token: String,
    expires: Instant,
    /// Fetched without credentials: harmless to keep on disk.
    anonymous: bool,
}

/// A token as a token endpoint handed it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub token: String,
    pub ttl: Duration,
    pub anonymous: bool,
}

/// One slot per (registry, scope); the async mutex makes concurrent users of one scope wait
/// for a single token request instead of each fetching their own.
type Slot = Arc<tokio::sync::Mutex<Option<Cached>>>;

#[derive(Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<TokenKey, Slot>>,
}

impl TokenCache {
    fn slot(&self, registry: &str, scope: &Scope) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .entry(TokenKey {
                registry: registry.to_owned(),
                scope: scope.clone(),
            })
            .or_default()
            .clone()
    }

    /// The cached token for (registry, scope), or the one `fetch` gets (then cached).
    pub async fn get_or_fetch<F, Fut, E>(
        &self,
        registry: &str,
        scope: &Scope,
        fetch: F,
    ) -> Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Fetched, E>>,
    {
        let slot = self.slot(registry, scope);
        let mut guard = slot.lock().await;
        if let Some(cached) = guard.as_ref() {
            if cached.expires > Instant::now() {
                return Ok(cached.token.clone());
            }
        }
        let fetched = fetch().await?;
        // Renew a little early so a token does not expire in flight.
        let ttl = fetched.ttl.min(MAX_TTL);
        let margin = (ttl / 10).min(Duration::from_secs(10));
        *guard = Some(Cached {
            token: fetched.token.clone(),
            expires: expiry(ttl - margin),
            anonymous: fetched.anonymous,
        });
        Ok(fetched.token)
    }

    /// Adds a token remembered from an earlier run (anonymous, valid for `ttl` more).
    pub fn seed(&self, registry: &str, scope: &Scope, token: String, ttl: Duration) {
        let slot = self.slot(registry, scope);
        if let Ok(mut guard) = slot.try_lock() {
            *guard = Some(Cached {
                token,
                expires: expiry(ttl.min(MAX_TTL)),
                anonymous: true,
            });
        }
    }

    /// The unexpired anonymous tokens of `registry`: (scope, token, time left).
    pub fn anonymous_tokens(&self, registry: &str) -> Vec<(Scope, String, Duration)> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        slots
            .iter()
            .filter(|(key, _)| key.registry == registry)
            .filter_map(|(TokenKey { scope, .. }, slot)| {
                let guard = slot.try_lock().ok()?;
                let cached = guard.as_ref()?;
                (cached.anonymous && cached.expires > now)
                    .then(|| (scope.clone(), cached.token.clone(), cached.expires - now))
            })
            .collect()
    }

    /// Forgets a token the registry rejected.
    pub async fn invalidate(&self, registry: &str, scope: &Scope) {
        let slot = self.slot(registry, scope);
        *slot.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_commas_in_quotes() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example.com/token"));
        assert_eq!(c[0].param("service"), Some("registry.example.com"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
    }

    #[test]
    fn several_challenges_and_odd_spacing() {
        let c = parse_challenges(
            r#"Basic realm="Registry Realm", Bearer realm = "https://x/token" , error="insufficient_scope",quoted="a \"b\" c""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("https://x/token"));
        assert_eq!(c[1].param("error"), Some("insufficient_scope"));
        assert_eq!(c[1].param("quoted"), Some("a \"b\" c"));
        let unquoted = parse_challenges("Bearer realm=https://x/token,service=svc");
        assert_eq!(unquoted[0].param("service"), Some("svc"));
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn non_ascii_and_stray_characters_never_split_a_character() {
        for header in [
            "é",
            "Bearer é realm=\"x\"",
            "€=1",
            "Bearer realm=é,service=\"ü\"",
            "\"unterminated",
        ] {
            let _ = parse_challenges(header);
        }
        let c = parse_challenges("Bearer é realm=\"x\"");
        assert_eq!(c[0].param("realm"), Some("x"));
    }

    #[test]
    fn scope_string_form_round_trips_and_refuses_anything_else() {
        let scope = Scope::pull("chainguard/go");
        assert_eq!(scope.to_string(), "repository:chainguard/go:pull");
        assert_eq!(Scope::parse(&scope.to_string()), Some(scope));
        for bad in [
            "",
            "repository::pull",
            "repository:a:push",
            "repository:a:b:pull",
            "registry:catalog:*",
            "chainguard/go",
        ] {
            assert_eq!(Scope::parse(bad), None, "{bad:?}");
        }
        let record: Result<AuthRecord, _> = serde_json::from_str(
            r#"{"scheme":"bearer","realm":null,"service":null,"learned_at":0,
                "tokens":{"repository:a:push":["t",1]}}"#,
        );
        assert!(
            record.is_err(),
            "a record with a foreign scope is refused whole"
        );
    }

    #[test]
    fn token_keys() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(
            t.into_token(),
            Some(("abc".into(), Duration::from_secs(300)))
        );
        let t: TokenResponse = serde_json::from_str(r#"{"token":"xyz"}"#).unwrap();
        assert_eq!(
            t.into_token(),
            Some(("xyz".into(), Duration::from_secs(60)))
        );
        let t: TokenResponse = serde_json::from_str(r#"{"token":""}"#).unwrap();
        assert_eq!(t.into_token(), None);
    }

    #[test]
    fn token_expiry_saturates_whatever_the_server_says() {
        let ttl = |expires_in: &str| {
            let t: TokenResponse =
                serde_json::from_str(&format!(r#"{{"token":"t","expires_in":{expires_in}}}"#))
                    .unwrap();
            t.into_token().unwrap().1.as_secs()
        };
        for (given, secs) in [
            ("18446744073709551615", 86_400),
            ("1e300", 86_400),
            ("100000000000000000000000000000000", 86_400),
            ("0", 1),
            ("-1", 1),
            ("-9223372036854775808", 1),
            ("0.5", 1),
            ("300.9", 300),
            ("300", 300),
            ("null", 60),
            (r#""300""#, 60),
            ("[1]", 60),
            ("{}", 60),
        ] {
            assert_eq!(ttl(given), secs, "expires_in {given}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_huge_ttl_is_cached_without_overflow() {
        let cache = TokenCache::default();
        let fetched = || async {
            Ok::<_, ()>(Fetched {
                token: "t".to_owned(),
                ttl: Duration::MAX,
                anonymous: true,
            })
        };
        assert_eq!(
            cache.get_or_fetch("r", &Scope::pull("s"), fetched).await,
            Ok("t".to_owned())
        );
        cache.seed("r", &Scope::pull("s2"), "u".into(), Duration::MAX);
        let left = cache.anonymous_tokens("r");
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|(_, _, d)| *d <= MAX_TTL));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn cache_fetches_once_per_scope_until_expiry() {
        let cache = TokenCache::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, ()>(Fetched {
                token: "t".to_owned(),
                ttl: Duration::from_secs(60),
                anonymous: true,
            })
        };
        cache
            .get_or_fetch("cgr.dev", &Scope::pull("a"), fetch)
            .await
            .unwrap();
        cache
            .get_or_fetch("cgr.dev", &Scope::pull("a"), fetch)
            .await
            .unwrap();
        cache
            .get_or_fetch("cgr.dev", &Scope::pull("b"), fetch)
            .await
            .unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        cache.invalidate("cgr.dev", &Scope::pull("a")).await;
        cache
            .get_or_fetch("cgr.dev", &Scope::pull("a"), fetch)
            .await
            .unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(cache.anonymous_tokens("cgr.dev").len(), 2);
        cache.seed(
            "ghcr.io",
            &Scope::pull("x"),
            "old".into(),
            Duration::from_secs(30),
        );
        assert_eq!(
            cache
                .get_or_fetch("ghcr.io", &Scope::pull("x"), fetch)
                .await,
            Ok("old".to_owned())
        );
    }
}
