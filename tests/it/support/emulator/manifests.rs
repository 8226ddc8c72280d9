//! Manifests by tag or digest (`/v2/REPO/manifests/REF`), with `Docker-Content-Digest`.

use super::*;

pub(super) fn manifest(shared: &Shared, repo: &str, reference: &str) -> Response {
    let inner = shared.lock();
    let Some(tags) = inner.repos.get(repo) else {
        return name_unknown(repo);
    };
    // (served digest, body)
    let found: Option<(String, Vec<u8>)> = if reference.contains(':') {
        tags.iter()
            .flat_map(|(tag, history)| history.iter().map(move |s| (tag, s)))
            .find(|(_, s)| s.entry.digest == reference)
            .map(|(tag, s)| (s.entry.digest.clone(), body_for(&inner, repo, tag, s)))
    } else {
        tags.get(reference).and_then(|history| {
            let s = &history[newest(history)?];
            let digest = inner
                .quirks
                .bad_digest
                .clone()
                .unwrap_or_else(|| s.entry.digest.clone());
            Some((digest, body_for(&inner, repo, reference, s)))
        })
    };
    let Some((digest, body)) = found else {
        return manifest_unknown(repo, reference);
    };
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(INDEX_MEDIA_TYPE),
    );
    if !inner.quirks.omit_content_digest {
        if let Ok(value) = HeaderValue::from_str(&digest) {
            h.insert("docker-content-digest", value);
        }
    }
    resp
}

pub(super) fn body_for(inner: &Inner, repo: &str, tag: &str, s: &Stored) -> Vec<u8> {
    inner
        .manifests
        .get(&s.entry.digest)
        .cloned()
        .unwrap_or_else(|| synthetic_manifest(repo, tag, &s.entry.timestamp))
}
