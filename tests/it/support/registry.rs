//! Test harness around Debian's real Docker registry (`docker-registry`, distribution 2.8.2).
//!
//! Test modules reach it as `crate::support::registry`.
//!
//! Everything here is synchronous (it uses `reqwest::blocking`), so call it from ordinary
//! `#[test]` functions, never from inside a Tokio runtime.
//!
//! Install the server with `apt-get install -y docker-registry`. The binary is looked up in
//! `$DIGESTPIN_REGISTRY_BIN`, then `docker-registry` on `PATH`, then `/usr/bin/docker-registry`.
//!
//! What 2.8.2 does with the `Accept` header (see `tests/it/registry_selftest.rs`, which asserts it):
//! - an OCI index tag requested without `application/vnd.oci.image.index.v1+json` in `Accept`
//!   is a `404 MANIFEST_UNKNOWN` ("OCI index found, but accept header does not support OCI
//!   indexes"), for HEAD and GET alike, even with `*/*`;
//! - a Docker manifest list tag requested without the manifest-list type but with the Docker v2
//!   manifest type answers `200` with the linux/amd64 child and *its* digest;
//! - a Docker v2 manifest (or a Docker list) requested without the Docker v2 type (no `Accept`,
//!   `*/*`, only OCI types) is a `400 MANIFEST_INVALID` (the registry tries to downconvert to
//!   schema 1 and fails);
//! - an OCI manifest requested without the OCI manifest type is a `404 MANIFEST_UNKNOWN`.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use sha2::{Digest as _, Sha256};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The `Accept` list the spec prescribes for resolution (all four manifest types).
pub const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The platforms of the two children of an index / manifest list, in order.
pub const INDEX_PLATFORMS: [(&str, &str); 2] = [("linux", "amd64"), ("linux", "arm64")];

const SOMETHING_ELSE: &str = "something else answers";
const START_ATTEMPTS: usize = 4;
const START_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// One OCI image manifest (linux/amd64).
    OciManifest,
    /// One Docker image manifest v2 schema 2 (linux/amd64).
    DockerV2Manifest,
    /// An OCI index of two OCI manifests: linux/amd64 and linux/arm64 (in that order).
    OciIndex,
    /// A Docker manifest list of two Docker v2 manifests: linux/amd64 and linux/arm64.
    DockerManifestList,
}

impl ImageKind {
    pub const ALL: [ImageKind; 4] = [
        ImageKind::OciManifest,
        ImageKind::DockerV2Manifest,
        ImageKind::OciIndex,
        ImageKind::DockerManifestList,
    ];

    /// The media type of the top-level manifest pushed for this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            ImageKind::OciManifest => OCI_MANIFEST,
            ImageKind::DockerV2Manifest => DOCKER_MANIFEST,
            ImageKind::OciIndex => OCI_INDEX,
            ImageKind::DockerManifestList => DOCKER_MANIFEST_LIST,
        }
    }

    fn is_docker(self) -> bool {
        matches!(
            self,
            ImageKind::DockerV2Manifest | ImageKind::DockerManifestList
        )
    }

    fn is_multi(self) -> bool {
        matches!(self, ImageKind::OciIndex | ImageKind::DockerManifestList)
    }
}

/// What a push stored.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// Digest of the top-level manifest (`Docker-Content-Digest` of the tag PUT).
    pub digest: String,
    /// Its media type.
    pub media_type: &'static str,
    /// The exact bytes PUT for the top-level manifest.
    pub manifest: Vec<u8>,
    /// For an index / list: `("linux/amd64", digest)`, `("linux/arm64", digest)`. Empty otherwise.
    pub children: Vec<(String, String)>,
}

/// A running `docker-registry` on 127.0.0.1 with filesystem storage in a temp dir.
/// The process is killed (and the storage removed) on drop.
pub struct Registry {
    child: Child,
    addr: String,
    credentials: Option<(String, String)>,
    client: Client,
    // Dropped last (after the child is killed in `Drop::drop`).
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts docker-registry on 127.0.0.1 with filesystem storage in a temp dir.
    /// `None` = no auth; `Some((user, pass))` = htpasswd Basic auth (bcrypt, cost 4, `$2y$`).
    /// Waits until `GET /v2/` answers (200, or 401 with auth).
    ///
    /// Returns `Err(reason)` only when the binary is not installed (callers decide to skip or
    /// fail, see [`Registry::start_or_skip`]). Any other failure to start panics with the
    /// registry's log.
    pub fn start(auth: Option<(&str, &str)>) -> Result<Registry, String> {
        let bin = find_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("digestpin-registry-")
            .tempdir()
            .expect("create temp dir for the registry");
        let storage = dir.path().join("storage");
        fs::create_dir_all(&storage).expect("create registry storage dir");

        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:5000\n  secret: digestpin-test-secret\n",
            yaml_str(&storage)
        );
        if let Some((user, pass)) = auth {
            assert!(
                !user.contains(':') && !user.contains('\n'),
                "htpasswd user names cannot contain ':' or newlines"
            );
            let hash = bcrypt::hash_with_result(pass, 4)
                .expect("bcrypt hash")
                .format_for_version(bcrypt::Version::TwoY);
            let htpasswd = dir.path().join("htpasswd");
            fs::write(&htpasswd, format!("{user}:{hash}\n")).expect("write htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: digestpin-test\n    path: {}\n",
                yaml_str(&htpasswd)
            ));
        }
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).expect("write registry config");

        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .expect("build reqwest client");

        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            let addr = format!("127.0.0.1:{port}");
            let log_path = dir.path().join(format!("registry-{attempt}.log"));
            let log = fs::File::create(&log_path).expect("create registry log");
            let mut child = Command::new(&bin)
                .arg("serve")
                .arg(&config_path)
                .env("REGISTRY_HTTP_ADDR", &addr)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let want = if auth.is_some() { 401 } else { 200 };
            match wait_ready(&mut child, &client, &addr, want) {
                Ok(()) => {
                    return Ok(Registry {
                        child,
                        addr,
                        credentials: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
                        client,
                        dir,
                    });
                }
                Err(reason) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = fs::read_to_string(&log_path).unwrap_or_default();
                    // Someone took the port between our probe and the registry's bind: retry.
                    let port_taken = log.contains("address already in use")
                        || reason.starts_with(SOMETHING_ELSE);
                    if !port_taken || attempt == START_ATTEMPTS {
                        panic!(
                            "docker-registry did not start (attempt {attempt}): {reason}\n\
                             --- registry log ---\n{log}"
                        );
                    }
                }
            }
        }
        unreachable!("the start loop returns or panics")
    }

    /// Like [`Registry::start`], but when the binary is missing: panics if `$CI` is set,
    /// otherwise skips visibly (`support::skip`) and returns `None`.
    pub fn start_or_skip(test: &str, auth: Option<(&str, &str)>) -> Option<Registry> {
        match Registry::start(auth) {
            Ok(r) => Some(r),
            Err(reason) => {
                super::skip::missing(format!(
                    "{test}: docker-registry: {reason}; install it with: \
                     apt-get install -y docker-registry"
                ));
                None
            }
        }
    }

    /// `"127.0.0.1:PORT"`.
    pub fn host(&self) -> String {
        self.addr.clone()
    }

    /// `"http://127.0.0.1:PORT"`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Basic credentials the registry was started with, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `Basic base64(user:pass)`, if the registry has auth.
    pub fn basic_auth_header(&self) -> Option<String> {
        self.credentials().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }

    /// The storage root (for tests that want to corrupt or inspect it).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Everything the registry process has logged so far (level error, no access log).
    pub fn log(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = fs::read_dir(self.dir.path()) {
            let mut logs: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect();
            logs.sort();
            if let Some(last) = logs.last() {
                out = fs::read_to_string(last).unwrap_or_default();
            }
        }
        out
    }

    /// Pushes an image and returns the manifest digest the registry reports
    /// (`Docker-Content-Digest` of the manifest PUT, checked against sha256 of the bytes PUT).
    /// Pushing the same (repo, tag, kind) twice gives the same digest.
    pub fn push(&self, repo: &str, tag: &str, kind: ImageKind) -> String {
        self.push_full(repo, tag, kind, "").digest
    }

    /// Like [`Registry::push`], with a `salt` mixed into the layer contents (push the same tag
    /// with another salt to move it to a new digest), and returning the children's digests.
    pub fn push_full(&self, repo: &str, tag: &str, kind: ImageKind, salt: &str) -> Pushed {
        self.push_created(repo, tag, kind, salt, None)
    }

    /// Like [`Registry::push_full`], with `created` written into each image config (none when
    /// `None`, as reproducible builds may leave it out).
    pub fn push_created(
        &self,
        repo: &str,
        tag: &str,
        kind: ImageKind,
        salt: &str,
        created: Option<&str>,
    ) -> Pushed {
        if !kind.is_multi() {
            let (body, media_type) =
                self.push_image_blobs(repo, tag, kind, INDEX_PLATFORMS[0], salt, created);
            let digest = self.put_manifest(repo, tag, media_type, &body);
            return Pushed {
                digest,
                media_type,
                manifest: body,
                children: Vec::new(),
            };
        }
        let mut children = Vec::new();
        let mut entries = Vec::new();
        for platform in INDEX_PLATFORMS {
            let (body, media_type) =
                self.push_image_blobs(repo, tag, kind, platform, salt, created);
            let digest = self.put_manifest(repo, &sha256_digest(&body), media_type, &body);
            entries.push(serde_json::json!({
                "mediaType": media_type,
                "size": body.len(),
                "digest": digest,
                "platform": {"os": platform.0, "architecture": platform.1},
            }));
            children.push((format!("{}/{}", platform.0, platform.1), digest));
        }
        let media_type = kind.media_type();
        let body = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": entries,
        }))
        .expect("serialize index");
        let digest = self.put_manifest(repo, tag, media_type, &body);
        Pushed {
            digest,
            media_type,
            manifest: body,
            children,
        }
    }

    /// Deletes a manifest by digest (`DELETE /v2/NAME/manifests/DIGEST`; deletion is enabled).
    pub fn delete_manifest(&self, repo: &str, digest: &str) {
        let resp = self
            .request(
                reqwest::Method::DELETE,
                &format!("{}/v2/{repo}/manifests/{digest}", self.url()),
            )
            .send()
            .expect("DELETE manifest");
        assert_eq!(
            resp.status().as_u16(),
            202,
            "DELETE {repo}@{digest}: {:?}",
            resp.text()
        );
    }

    /// A request with the registry's Basic credentials attached (if any).
    pub fn request(&self, method: reqwest::Method, url: &str) -> RequestBuilder {
        let req = self.client.request(method, url);
        match self.basic_auth_header() {
            Some(h) => req.header(AUTHORIZATION, h),
            None => req,
        }
    }

    // ---- internals ----

    /// Uploads config and layer for one platform; returns the manifest bytes (not yet PUT).
    fn push_image_blobs(
        &self,
        repo: &str,
        tag: &str,
        kind: ImageKind,
        (os, arch): (&str, &str),
        salt: &str,
        created: Option<&str>,
    ) -> (Vec<u8>, &'static str) {
        let layer = format!("digestpin test layer\nrepo={repo}\ntag={tag}\nkind={kind:?}\nplatform={os}/{arch}\nsalt={salt}\n")
            .into_bytes();
        let layer_digest = sha256_digest(&layer);
        let mut config = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        });
        if let Some(created) = created {
            config["created"] = serde_json::Value::from(created);
        }
        let config = serde_json::to_vec(&config).expect("serialize config");
        let config_digest = self.upload_blob(repo, &config);
        assert_eq!(self.upload_blob(repo, &layer), layer_digest);

        let (manifest_type, config_type, layer_type) = if kind.is_docker() {
            (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
        } else {
            (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
        };
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": layer_type, "size": layer.len(), "digest": layer_digest}],
        }))
        .expect("serialize manifest");
        (manifest, manifest_type)
    }

    /// Monolithic upload: `POST /v2/NAME/blobs/uploads/`, then `PUT <Location>&digest=…`.
    fn upload_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let start_url = format!("{}/v2/{repo}/blobs/uploads/", self.url());
        let resp = self
            .request(reqwest::Method::POST, &start_url)
            .send()
            .expect("POST blob upload");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(status, 202, "POST {start_url}: {:?}", resp.text());
        let location = location.expect("upload POST without Location");
        // Location may be absolute or relative, and usually carries a `_state` query already.
        let mut put_url = reqwest::Url::parse(&start_url)
            .expect("base url")
            .join(&location)
            .unwrap_or_else(|e| panic!("bad upload Location {location:?}: {e}"));
        put_url.query_pairs_mut().append_pair("digest", &digest);
        let resp = self
            .request(reqwest::Method::PUT, put_url.as_str())
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(data.to_vec())
            .send()
            .expect("PUT blob");
        let status = resp.status().as_u16();
        let reported = header(&resp, "docker-content-digest");
        assert_eq!(status, 201, "PUT blob {digest}: {:?}", resp.text());
        if let Some(reported) = reported {
            assert_eq!(reported, digest, "registry reports another blob digest");
        }
        digest
    }

    /// `PUT /v2/NAME/manifests/REF`; returns `Docker-Content-Digest`, checked against sha256.
    fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> String {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.url());
        let resp = self
            .request(reqwest::Method::PUT, &url)
            .header(CONTENT_TYPE, media_type)
            .body(body.to_vec())
            .send()
            .expect("PUT manifest");
        let status = resp.status().as_u16();
        let reported = header(&resp, "docker-content-digest");
        assert_eq!(status, 201, "PUT {url} ({media_type}): {:?}", resp.text());
        let reported = reported.expect("manifest PUT without Docker-Content-Digest");
        assert_eq!(
            reported,
            sha256_digest(body),
            "Docker-Content-Digest differs from sha256 of the manifest bytes"
        );
        reported
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sha256:<hex>` of the bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for b in hash {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn header(resp: &reqwest::blocking::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A YAML double-quoted scalar for a path.
fn yaml_str(path: &Path) -> String {
    serde_json::to_string(&path.to_string_lossy()).expect("json string")
}

fn find_binary() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("DIGESTPIN_REGISTRY_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!(
                "$DIGESTPIN_REGISTRY_BIN={} is not a file",
                bin.display()
            ))
        };
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("docker-registry");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let fallback = PathBuf::from("/usr/bin/docker-registry");
    if fallback.is_file() {
        return Ok(fallback);
    }
    Err(
        "docker-registry is not installed (not on PATH, not /usr/bin/docker-registry; \
         set $DIGESTPIN_REGISTRY_BIN to use another binary)"
            .to_owned(),
    )
}

/// Polls `GET /v2/` until the registry answers `want` (200, or 401 with auth).
fn wait_ready(child: &mut Child, client: &Client, addr: &str, want: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let url = format!("http://{addr}/v2/");
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("exited with {status}"));
        }
        // No credentials here: with auth, an unauthenticated 401 proves it's up.
        if let Ok(resp) = client
            .get(&url)
            .header(ACCEPT, "application/json")
            .timeout(Duration::from_secs(2))
            .send()
        {
            let status = resp.status().as_u16();
            let is_registry = resp
                .headers()
                .get("docker-distribution-api-version")
                .is_some_and(|v| v.as_bytes() == b"registry/2.0");
            return match (is_registry, status == want) {
                (true, true) => Ok(()),
                (false, _) => Err(format!("{SOMETHING_ELSE} on {addr} (status {status})")),
                (true, false) => Err(format!("GET /v2/ answered {status}, expected {want}")),
            };
        }
        if Instant::now() > deadline {
            return Err(format!("GET {url} did not answer within {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
