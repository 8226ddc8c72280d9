//! The Bearer token dance: challenges, `/token` (Basic credentials for private organisations),
//! and which repository a request's token was minted for.

use super::*;

impl Shared {
    pub(super) fn challenge(&self, repo: Option<&str>) -> HeaderValue {
        let mut value = format!(
            r#"Bearer realm="{}/token",service="{SERVICE}""#,
            self.base_url
        );
        if let Some(repo) = repo {
            value.push_str(&format!(r#",scope="repository:{repo}:pull""#));
        }
        HeaderValue::from_str(&value).expect("emulator: challenge header")
    }

    pub(super) fn unauthorized(&self, repo: Option<&str>) -> Response {
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
    pub(super) fn bearer_repository(&self, headers: &HeaderMap) -> Option<String> {
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
    pub(super) fn authorize(&self, headers: &HeaderMap, repo: &str) -> Option<Response> {
        if self.bearer_repository(headers).as_deref() == Some(repo) {
            None
        } else {
            Some(self.unauthorized(Some(repo)))
        }
    }
}

pub(super) fn token(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> Response {
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
