//! Self-test of the real-registry harness (`tests/support/registry.rs`) against Debian's
//! `docker-registry` 2.8.2, and a record of that registry's `Accept` quirks which the resolver
//! must not fall into.
//!
//! Without the binary: skipped loudly, or a failure when `$CI` is set.

use crate::support::registry;

use registry::{
    ACCEPT_ALL, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ImageKind, OCI_INDEX, OCI_MANIFEST,
    Registry, sha256_digest,
};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};

struct Answer {
    status: u16,
    digest: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    /// The first `errors[].code` and `errors[].message` of a registry error body.
    fn error(&self) -> (String, String) {
        let v: serde_json::Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("error body is not JSON ({e}): {:?}", self.body));
        let first = &v["errors"][0];
        (
            first["code"].as_str().unwrap_or_default().to_owned(),
            first["message"].as_str().unwrap_or_default().to_owned(),
        )
    }
}

/// `METHOD /v2/REPO/manifests/REFERENCE` with the registry's credentials, if any, and
/// `accept` as one `Accept` header (`None`: no `Accept` header at all).
fn manifest(
    reg: &Registry,
    method: Method,
    repo: &str,
    reference: &str,
    accept: Option<&str>,
) -> Answer {
    let url = format!("{}/v2/{repo}/manifests/{reference}", reg.url());
    let mut req = reg.request(method, &url);
    if let Some(accept) = accept {
        req = req.header(ACCEPT, accept);
    }
    answer(req.send().expect("manifest request"))
}

fn answer(resp: reqwest::blocking::Response) -> Answer {
    let h = |name| {
        resp.headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let status = resp.status().as_u16();
    let digest = h("docker-content-digest");
    let content_type = h(CONTENT_TYPE.as_str());
    let body = resp.bytes().expect("body").to_vec();
    Answer {
        status,
        digest,
        content_type,
        body,
    }
}

#[test]
fn every_kind_resolves_with_the_full_accept_list() {
    let Some(reg) = Registry::start_or_skip("every_kind_resolves_with_the_full_accept_list", None)
    else {
        return;
    };
    assert!(reg.host().starts_with("127.0.0.1:"));
    assert_eq!(reg.url(), format!("http://{}", reg.host()));

    let mut seen = Vec::new();
    for (i, kind) in ImageKind::ALL.into_iter().enumerate() {
        let repo = format!("selftest/kind{i}");
        let pushed = reg.push_full(&repo, "v1", kind, "");
        assert!(
            pushed.digest.starts_with("sha256:") && pushed.digest.len() == 71,
            "{pushed:?}"
        );
        assert_eq!(pushed.digest, sha256_digest(&pushed.manifest));
        assert_eq!(pushed.media_type, kind.media_type());
        let multi = matches!(kind, ImageKind::OciIndex | ImageKind::DockerManifestList);
        assert_eq!(pushed.children.len(), if multi { 2 } else { 0 });

        for method in [Method::HEAD, Method::GET] {
            let a = manifest(&reg, method.clone(), &repo, "v1", Some(ACCEPT_ALL));
            assert_eq!(a.status, 200, "{kind:?} {method}");
            assert_eq!(
                a.digest.as_deref(),
                Some(pushed.digest.as_str()),
                "{kind:?}"
            );
            assert_eq!(a.content_type.as_deref(), Some(kind.media_type()));
            if method == Method::GET {
                // The registry serves the exact bytes that were PUT.
                assert_eq!(a.body, pushed.manifest, "{kind:?}");
            }
        }
        // Children are reachable by digest with the full list too.
        for (_, child) in &pushed.children {
            let a = manifest(&reg, Method::HEAD, &repo, child, Some(ACCEPT_ALL));
            assert_eq!((a.status, a.digest.as_deref()), (200, Some(child.as_str())));
        }
        seen.push(pushed.digest.clone());
        // `push` is deterministic; other tags and salts give other digests (checked for one
        // single-manifest kind and one index kind, to keep the test fast).
        if matches!(kind, ImageKind::OciManifest | ImageKind::OciIndex) {
            assert_eq!(reg.push(&repo, "v1", kind), pushed.digest);
            seen.push(reg.push(&repo, "v2", kind));
            let salted = reg.push_full(&repo, "v1", kind, "moved").digest;
            assert_eq!(
                manifest(&reg, Method::HEAD, &repo, "v1", Some(ACCEPT_ALL)).digest,
                Some(salted.clone()),
                "re-pushing a tag moves it"
            );
            seen.push(salted);
        }
        seen.extend(pushed.children.into_iter().map(|(_, d)| d));
    }
    let n = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "digests must all differ");

    // Accept given as several header lines works like one comma-separated header.
    let repo = "selftest/kind2"; // OciIndex, tag v1 now at the "moved" digest
    let url = format!("{}/v2/{repo}/manifests/v1", reg.url());
    let mut req = reg.request(Method::HEAD, &url);
    for t in [
        OCI_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_MANIFEST,
        DOCKER_MANIFEST,
    ] {
        req = req.header(ACCEPT, t);
    }
    let a = answer(req.send().unwrap());
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type.as_deref(), Some(OCI_INDEX));

    // Deletion is enabled.
    let d = reg.push("selftest/delete", "v1", ImageKind::OciManifest);
    reg.delete_manifest("selftest/delete", &d);
    let a = manifest(&reg, Method::GET, "selftest/delete", "v1", Some(ACCEPT_ALL));
    assert_eq!(a.status, 404);
    assert_eq!(a.error().0, "MANIFEST_UNKNOWN");
}

/// What docker-registry 2.8.2 does when the `Accept` list lacks a type (observed, not
/// guessed). The resolver must always send all four types, or it gets these answers.
#[test]
fn accept_quirks_of_distribution_2_8() {
    let Some(reg) = Registry::start_or_skip("accept_quirks_of_distribution_2_8", None) else {
        return;
    };
    let index = reg.push_full("quirks/oci-index", "v1", ImageKind::OciIndex, "");
    let list = reg.push_full(
        "quirks/docker-list",
        "v1",
        ImageKind::DockerManifestList,
        "",
    );
    let oci = reg.push("quirks/oci", "v1", ImageKind::OciManifest);
    let docker = reg.push("quirks/docker", "v1", ImageKind::DockerV2Manifest);
    let manifests_only = format!("{OCI_MANIFEST}, {DOCKER_MANIFEST}");

    for method in [Method::HEAD, Method::GET] {
        let is_get = method == Method::GET;
        let m = || method.clone();

        // (1) An OCI index tag without the OCI index type in Accept is a 404
        // MANIFEST_UNKNOWN ("OCI index found, but accept header does not support OCI
        // indexes"), with no Docker-Content-Digest: it looks like a missing tag. Same with
        // only the manifest types, with no Accept at all, with `*/*`, and with only the Docker
        // list type. Even by digest without Accept it is a 404.
        for accept in [
            Some(manifests_only.as_str()),
            Some(DOCKER_MANIFEST),
            Some(OCI_MANIFEST),
            Some(DOCKER_MANIFEST_LIST),
            Some("*/*"),
            None,
        ] {
            let a = manifest(&reg, m(), "quirks/oci-index", "v1", accept);
            assert_eq!((a.status, a.digest.as_deref()), (404, None), "{accept:?}");
            if is_get {
                assert_eq!(
                    a.error(),
                    (
                        "MANIFEST_UNKNOWN".to_owned(),
                        "OCI index found, but accept header does not support OCI indexes"
                            .to_owned()
                    )
                );
            }
        }
        let a = manifest(&reg, m(), "quirks/oci-index", &index.digest, None);
        assert_eq!(a.status, 404, "OCI index by digest without Accept");
        // The index type alone is enough.
        let a = manifest(&reg, m(), "quirks/oci-index", "v1", Some(OCI_INDEX));
        assert_eq!((a.status, a.digest), (200, Some(index.digest.clone())));

        // (2) A Docker manifest list tag requested with the Docker v2 manifest type but without
        // the list type is a 200 with the linux/amd64 child: a DIFFERENT digest, silently.
        let (amd64_platform, amd64) = &list.children[0];
        assert_eq!(amd64_platform, "linux/amd64");
        assert_ne!(amd64, &list.digest);
        for accept in [DOCKER_MANIFEST, manifests_only.as_str()] {
            let a = manifest(&reg, m(), "quirks/docker-list", "v1", Some(accept));
            assert_eq!(a.status, 200, "{accept}");
            assert_eq!(a.digest.as_deref(), Some(amd64.as_str()), "{accept}");
            assert_eq!(a.content_type.as_deref(), Some(DOCKER_MANIFEST));
        }
        // With the list type it's the list itself.
        let a = manifest(
            &reg,
            m(),
            "quirks/docker-list",
            "v1",
            Some(DOCKER_MANIFEST_LIST),
        );
        assert_eq!((a.status, a.digest), (200, Some(list.digest.clone())));

        // (3) A Docker v2 manifest, or a Docker list, requested without the Docker v2 type (no
        // Accept, `*/*`, or only OCI types) is a 400 MANIFEST_INVALID: the registry tries to
        // down-convert to schema 1 and fails. The OCI index type alone does not help a list.
        for (repo, accepts) in [
            (
                "quirks/docker",
                vec![None, Some("*/*"), Some(OCI_MANIFEST), Some(OCI_INDEX)],
            ),
            (
                "quirks/docker-list",
                vec![None, Some("*/*"), Some(OCI_MANIFEST), Some(OCI_INDEX)],
            ),
        ] {
            for accept in accepts {
                let a = manifest(&reg, m(), repo, "v1", accept);
                assert_eq!(
                    (a.status, a.digest.as_deref()),
                    (400, None),
                    "{repo} {accept:?}"
                );
                if is_get {
                    assert_eq!(a.error().0, "MANIFEST_INVALID", "{repo} {accept:?}");
                }
            }
        }
        // By digest there is no conversion: no Accept is fine for Docker types.
        let a = manifest(&reg, m(), "quirks/docker", &docker, None);
        assert_eq!((a.status, a.digest), (200, Some(docker.clone())));
        let a = manifest(&reg, m(), "quirks/docker-list", &list.digest, None);
        assert_eq!((a.status, a.digest), (200, Some(list.digest.clone())));

        // (4) An OCI manifest tag without the OCI manifest type in Accept is a 404
        // MANIFEST_UNKNOWN ("OCI manifest found, but accept header does not support OCI
        // manifests").
        for accept in [
            Some(DOCKER_MANIFEST),
            Some(OCI_INDEX),
            Some(DOCKER_MANIFEST_LIST),
            Some("*/*"),
            None,
        ] {
            let a = manifest(&reg, m(), "quirks/oci", "v1", accept);
            assert_eq!((a.status, a.digest.as_deref()), (404, None), "{accept:?}");
            if is_get {
                assert_eq!(
                    a.error(),
                    (
                        "MANIFEST_UNKNOWN".to_owned(),
                        "OCI manifest found, but accept header does not support OCI manifests"
                            .to_owned()
                    )
                );
            }
        }
        let a = manifest(&reg, m(), "quirks/oci", "v1", Some(OCI_MANIFEST));
        assert_eq!((a.status, a.digest), (200, Some(oci.clone())));

        // (5) A missing tag, and a missing repository, are 404 MANIFEST_UNKNOWN too.
        for (repo, tag) in [("quirks/oci", "nope"), ("quirks/no-such-repo", "v1")] {
            let a = manifest(&reg, m(), repo, tag, Some(ACCEPT_ALL));
            assert_eq!((a.status, a.digest.as_deref()), (404, None));
            if is_get {
                assert_eq!(a.error().0, "MANIFEST_UNKNOWN");
            }
        }
    }
}

#[test]
fn htpasswd_basic_auth() {
    let Some(reg) = Registry::start_or_skip("htpasswd_basic_auth", Some(("alice", "s3cr3t pw")))
    else {
        return;
    };
    assert_eq!(reg.credentials(), Some(("alice", "s3cr3t pw")));
    let client = reqwest::blocking::Client::new();
    let v2 = format!("{}/v2/", reg.url());

    // Without credentials: 401 with a Basic challenge.
    let resp = client.get(&v2).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(
        resp.headers()[WWW_AUTHENTICATE].to_str().unwrap(),
        "Basic realm=\"digestpin-test\""
    );
    // Wrong password: 401 as well.
    let resp = client
        .get(&v2)
        .basic_auth("alice", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Right credentials: 200.
    let resp = client
        .get(&v2)
        .basic_auth("alice", Some("s3cr3t pw"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        reg.basic_auth_header().unwrap(),
        "Basic YWxpY2U6czNjcjN0IHB3"
    );

    // Pushing works with auth; resolving needs the credentials.
    let digest = reg.push("private/app", "1.0", ImageKind::OciIndex);
    let url = format!("{}/v2/private/app/manifests/1.0", reg.url());
    let resp = client.head(&url).header(ACCEPT, ACCEPT_ALL).send().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().get("docker-content-digest").is_none());
    let resp = client
        .head(&url)
        .header(ACCEPT, ACCEPT_ALL)
        .header(AUTHORIZATION, reg.basic_auth_header().unwrap())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["docker-content-digest"].to_str().unwrap(),
        digest
    );
}
