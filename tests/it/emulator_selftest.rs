//! Self-test of the Tag History API emulator that the registry tests and benchmarks rely on:
//! if these fail, every network test's verdict is suspect.

use crate::support::emulator;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use base64::Engine as _;
use emulator::{Emulator, Entry, Fault, Kind, Quirks, sha256_digest};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::Value;

const DAY: Duration = Duration::from_secs(86_400);

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn token_url(emu: &Emulator, repo: &str) -> String {
    format!(
        "{}/token?scope=repository:{repo}:pull&service=emulator",
        emu.url()
    )
}

/// An anonymous token for `repo`.
fn token(emu: &Emulator, c: &Client, repo: &str) -> String {
    let resp = c.get(token_url(emu, repo)).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Sends `request` with the bearer `token`.
fn send(request: RequestBuilder, token: &str) -> Response {
    request.bearer_auth(token).send().unwrap()
}

fn history_url(emu: &Emulator, repo: &str, tag: &str) -> String {
    format!("{}/v2/{repo}/_chainguard/history/{tag}", emu.url())
}

/// `(timestamp, digest)` pairs of a history body with the documented keys.
fn entries(body: &Value) -> Vec<Entry> {
    body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            Entry::new(
                e["updateTimestamp"].as_str().unwrap(),
                e["digest"].as_str().unwrap(),
            )
        })
        .collect()
}

fn error_code(resp: Response) -> String {
    let body: Value = resp.json().unwrap();
    body["errors"][0]["code"].as_str().unwrap().to_string()
}

#[test]
fn anonymous_token_flow_then_history() {
    let emu = Emulator::start();
    let want = emu.generate_history(
        "chainguard/python",
        "latest",
        3,
        "2024-01-01T00:00:00Z",
        DAY,
    );
    assert_eq!(want[0].timestamp, "2024-01-01T00:00:00Z");
    assert_eq!(want[2].timestamp, "2024-01-03T00:00:00Z");
    let c = client();

    let resp = c
        .get(history_url(&emu, "chainguard/python", "latest"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        format!(
            r#"Bearer realm="{}/token",service="emulator",scope="repository:chainguard/python:pull""#,
            emu.url()
        )
        .as_str()
    );
    assert_eq!(error_code(resp), "UNAUTHORIZED");

    let resp = c.get(token_url(&emu, "chainguard/python")).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["expires_in"], 300);
    let tok = body["token"].as_str().unwrap();

    let resp = send(c.get(history_url(&emu, "chainguard/python", "latest")), tok);
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().unwrap();
    assert!(
        text.starts_with(
            r#"{"history":[{"updateTimestamp":"2024-01-01T00:00:00Z","digest":"sha256:"#
        ),
        "{text}"
    );
    assert_eq!(entries(&serde_json::from_str(&text).unwrap()), want);

    let reqs = emu.requests();
    let kinds: Vec<Kind> = reqs.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, [Kind::History, Kind::Token, Kind::History]);
    assert_eq!(reqs[0].authorization, None);
    assert_eq!(
        reqs[1].query.as_deref(),
        Some("scope=repository:chainguard/python:pull&service=emulator")
    );
    assert_eq!(reqs[2].authorization, Some(format!("Bearer {tok}")));
    assert_eq!(reqs[2].method, "GET");
    assert_eq!(
        reqs[2].path,
        "/v2/chainguard/python/_chainguard/history/latest"
    );
    assert_eq!(emu.count(Kind::History), 2);
    assert_eq!(emu.count(Kind::Token), 1);
    emu.clear_requests();
    assert!(emu.requests().is_empty());
}

#[test]
fn base_endpoint_challenges_without_scope() {
    let emu = Emulator::start();
    let resp = client().get(format!("{}/v2/", emu.url())).send().unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers()["www-authenticate"],
        format!(r#"Bearer realm="{}/token",service="emulator""#, emu.url()).as_str()
    );
    assert_eq!(emu.count(Kind::Other), 1);
}

#[test]
fn private_org_needs_basic_credentials() {
    let emu = Emulator::start();
    emu.add_private_org("foo.com", "alice", "s3cret");
    emu.generate_history("foo.com/base", "latest", 2, "2024-01-01T00:00:00Z", DAY);
    let c = client();
    let url = token_url(&emu, "foo.com/base");

    let resp = c.get(&url).send().unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(resp), "UNAUTHORIZED");
    let resp = c
        .get(&url)
        .basic_auth("alice", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let resp = c
        .get(&url)
        .basic_auth("alice", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let tok = resp.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = send(c.get(history_url(&emu, "foo.com/base", "latest")), &tok);
    assert_eq!(resp.status(), StatusCode::OK);

    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:s3cret")
    );
    assert_eq!(
        emu.requests()[2].authorization.as_deref(),
        Some(expected.as_str())
    );
    // The public organisation stays anonymous.
    token(&emu, &c, "chainguard/python");
}

#[test]
fn token_is_valid_for_one_repository_only() {
    let emu = Emulator::start();
    emu.generate_history("chainguard/a", "latest", 1, "2024-01-01T00:00:00Z", DAY);
    emu.generate_history("chainguard/b", "latest", 1, "2024-01-01T00:00:00Z", DAY);
    let c = client();
    let tok_a = token(&emu, &c, "chainguard/a");

    let ok = send(c.get(history_url(&emu, "chainguard/a", "latest")), &tok_a);
    assert_eq!(ok.status(), StatusCode::OK);
    let resp = send(c.get(history_url(&emu, "chainguard/b", "latest")), &tok_a);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .ends_with(r#"scope="repository:chainguard/b:pull""#)
    );
    let resp = send(
        c.head(format!("{}/v2/chainguard/b/manifests/latest", emu.url())),
        &tok_a,
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = send(
        c.get(history_url(&emu, "chainguard/a", "latest")),
        "not-a-token",
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn history_is_capped_at_the_oldest_1000() {
    let emu = Emulator::start();
    let all = emu.generate_history(
        "chainguard/big",
        "latest",
        2500,
        "2020-01-01T00:00:00Z",
        Duration::from_secs(3600),
    );
    // Stored newest first: the cap still takes the oldest.
    let mut reversed = all.clone();
    reversed.reverse();
    emu.set_history("chainguard/big", "reversed", reversed);
    let c = client();
    let tok = token(&emu, &c, "chainguard/big");
    for tag in ["latest", "reversed"] {
        let body: Value = send(c.get(history_url(&emu, "chainguard/big", tag)), &tok)
            .json()
            .unwrap();
        assert_eq!(entries(&body), all[..1000], "{tag}");
    }

    let url = format!(
        "{}?start={}",
        history_url(&emu, "chainguard/big", "latest"),
        all[2000].timestamp
    );
    let body: Value = send(c.get(url), &tok).json().unwrap();
    assert_eq!(entries(&body), all[2000..]);

    let url = format!(
        "{}?start={}&end={}",
        history_url(&emu, "chainguard/big", "latest"),
        all[100].timestamp,
        all[1500].timestamp
    );
    let body: Value = send(c.get(url), &tok).json().unwrap();
    assert_eq!(entries(&body), all[100..1100]);
}

#[test]
fn start_and_end_are_inclusive_instants_and_timestamps_are_served_verbatim() {
    let emu = Emulator::start();
    let e = |ts: &str, n: u8| Entry::new(ts, format!("sha256:{}", format!("{n:x}").repeat(64)));
    // Given out of order, with 0, 1, 3 and 9 fractional digits and a non-UTC offset.
    emu.set_history(
        "chainguard/x",
        "latest",
        vec![
            e("2024-01-03T00:00:00.123456789Z", 3),
            e("2024-01-01T00:00:00Z", 1),
            e("2024-01-02T01:00:00.5+01:00", 2),
            e("2024-01-04T00:00:00.000Z", 4),
        ],
    );
    let c = client();
    let tok = token(&emu, &c, "chainguard/x");
    let get = |query: &str| -> Vec<String> {
        let url = format!("{}?{query}", history_url(&emu, "chainguard/x", "latest"));
        let resp = send(c.get(url), &tok);
        assert_eq!(resp.status(), StatusCode::OK, "{query}");
        entries(&resp.json().unwrap())
            .into_iter()
            .map(|e| e.timestamp)
            .collect()
    };

    assert_eq!(
        get(""),
        [
            "2024-01-01T00:00:00Z",
            "2024-01-02T01:00:00.5+01:00",
            "2024-01-03T00:00:00.123456789Z",
            "2024-01-04T00:00:00.000Z"
        ]
    );
    // Bounds equal to entries, written differently, include them.
    assert_eq!(
        get("start=2024-01-02T00:00:00.500Z&end=2024-01-03T00:00:00.123456789Z"),
        [
            "2024-01-02T01:00:00.5+01:00",
            "2024-01-03T00:00:00.123456789Z"
        ]
    );
    assert_eq!(get("end=2024-01-01T00:00:00Z"), ["2024-01-01T00:00:00Z"]);
    assert_eq!(
        get("start=2024-01-04T00:00:00Z"),
        ["2024-01-04T00:00:00.000Z"]
    );
    assert_eq!(
        get("start=2024-01-03T00:00:00.12345679Z"),
        ["2024-01-04T00:00:00.000Z"]
    );
    assert!(get("start=2025-01-01T00:00:00Z").is_empty());

    let resp = send(
        c.get(format!(
            "{}?start=yesterday",
            history_url(&emu, "chainguard/x", "latest")
        )),
        &tok,
    );
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn unknown_repository_and_tag() {
    let emu = Emulator::start();
    emu.generate_history("chainguard/x", "latest", 1, "2024-01-01T00:00:00Z", DAY);
    let c = client();
    let tok = token(&emu, &c, "chainguard/nope");
    let resp = send(c.get(history_url(&emu, "chainguard/nope", "latest")), &tok);
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp), "NAME_UNKNOWN");

    let tok = token(&emu, &c, "chainguard/x");
    let resp = send(c.get(history_url(&emu, "chainguard/x", "nope")), &tok);
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp), "MANIFEST_UNKNOWN");
    let resp = send(
        c.get(format!("{}/v2/chainguard/x/manifests/nope", emu.url())),
        &tok,
    );
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp), "MANIFEST_UNKNOWN");
}

#[test]
fn manifests_by_tag_and_digest() {
    let emu = Emulator::start();
    let entries = emu.generate_history("chainguard/m", "latest", 3, "2024-01-01T00:00:00Z", DAY);
    let newest = &entries[2];
    let c = client();
    let tok = token(&emu, &c, "chainguard/m");
    let url = format!("{}/v2/chainguard/m/manifests/latest", emu.url());

    let resp = send(c.head(&url), &tok);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        resp.headers()["docker-content-digest"],
        newest.digest.as_str()
    );
    let head_length: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(resp.bytes().unwrap().is_empty());

    let resp = send(c.get(&url), &tok);
    assert_eq!(
        resp.headers()["docker-content-digest"],
        newest.digest.as_str()
    );
    let body = resp.bytes().unwrap();
    assert_eq!(body.len(), head_length);
    assert_eq!(sha256_digest(&body), newest.digest);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["schemaVersion"],
        2
    );

    for e in &entries {
        let resp = send(
            c.get(format!(
                "{}/v2/chainguard/m/manifests/{}",
                emu.url(),
                e.digest
            )),
            &tok,
        );
        assert_eq!(resp.headers()["docker-content-digest"], e.digest.as_str());
        assert_eq!(sha256_digest(&resp.bytes().unwrap()), e.digest);
    }

    // A registered body is served for its digest; the newest is by time, not by position.
    let custom = emu.add_manifest(br#"{"schemaVersion":2,"manifests":[]}"#);
    emu.set_history(
        "chainguard/m",
        "shared",
        vec![
            Entry::new("2024-02-01T00:00:00Z", custom.clone()),
            entries[0].clone(),
        ],
    );
    let resp = send(
        c.get(format!("{}/v2/chainguard/m/manifests/shared", emu.url())),
        &tok,
    );
    assert_eq!(resp.headers()["docker-content-digest"], custom.as_str());
    assert_eq!(sha256_digest(&resp.bytes().unwrap()), custom);
}

#[test]
fn tags_list_paginates_with_link() {
    let emu = Emulator::start();
    for tag in ["latest", "3.12", "latest-dev", "3.11"] {
        emu.generate_history("chainguard/py", tag, 1, "2024-01-01T00:00:00Z", DAY);
    }
    let c = client();
    let tok = token(&emu, &c, "chainguard/py");
    let url = format!("{}/v2/chainguard/py/tags/list", emu.url());

    let body: Value = send(c.get(&url), &tok).json().unwrap();
    assert_eq!(
        body,
        serde_json::json!({"name": "chainguard/py", "tags": ["3.11", "3.12", "latest", "latest-dev"]})
    );

    let resp = send(c.get(format!("{url}?n=3")), &tok);
    assert_eq!(
        resp.headers()["link"],
        r#"</v2/chainguard/py/tags/list?n=3&last=latest>; rel="next""#
    );
    assert_eq!(
        resp.json::<Value>().unwrap()["tags"],
        serde_json::json!(["3.11", "3.12", "latest"])
    );
    let resp = send(c.get(format!("{url}?n=3&last=latest")), &tok);
    assert!(resp.headers().get("link").is_none());
    assert_eq!(
        resp.json::<Value>().unwrap()["tags"],
        serde_json::json!(["latest-dev"])
    );
    assert_eq!(emu.count(Kind::TagsList), 3);
}

#[test]
fn status_and_rate_limit_faults_then_recovery() {
    let emu = Emulator::start();
    emu.generate_history("chainguard/f", "latest", 1, "2024-01-01T00:00:00Z", DAY);
    let c = client();
    let tok = token(&emu, &c, "chainguard/f");
    let url = history_url(&emu, "chainguard/f", "latest");

    emu.inject("/_chainguard/history/", Fault::Status(503), 2);
    emu.inject(
        "/_chainguard/history/",
        Fault::TooManyRequests {
            retry_after_secs: 7,
        },
        1,
    );
    for _ in 0..2 {
        let resp = send(c.get(&url), &tok);
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.json::<Value>().unwrap()["errors"][0]["code"].is_string());
    }
    let resp = send(c.get(&url), &tok);
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(error_code(resp), "TOOMANYREQUESTS");
    assert_eq!(send(c.get(&url), &tok).status(), StatusCode::OK);

    // Faults come before authentication, and may target the token endpoint.
    emu.inject("/token", Fault::Status(500), 1);
    let resp = c.get(token_url(&emu, "chainguard/f")).send().unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    token(&emu, &c, "chainguard/f");
    // The pattern also sees the query.
    emu.inject("start=2030", Fault::Status(502), 1);
    assert_eq!(send(c.get(&url), &tok).status(), StatusCode::OK);
    let resp = send(c.get(format!("{url}?start=2030-01-01T00:00:00Z")), &tok);
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
}

/// Whether an `io::Error` of kind `ConnectionReset` is somewhere in `err`'s source chain.
fn is_connection_reset(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ConnectionReset {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

#[test]
fn reset_connection_gives_the_client_a_connection_error() {
    let emu = Emulator::start();
    emu.generate_history("chainguard/r", "latest", 1, "2024-01-01T00:00:00Z", DAY);
    let c = client();
    let tok = token(&emu, &c, "chainguard/r");
    let url = history_url(&emu, "chainguard/r", "latest");

    // On the pooled keep-alive connection the token came over.
    emu.inject("/_chainguard/history/", Fault::ResetConnection, 1);
    let err = c.get(&url).bearer_auth(&tok).send().unwrap_err();
    assert!(err.is_request() && is_connection_reset(&err), "{err:?}");
    // On a fresh connection.
    emu.inject("/_chainguard/history/", Fault::ResetConnection, 1);
    let err = client().get(&url).bearer_auth(&tok).send().unwrap_err();
    assert!(is_connection_reset(&err), "{err:?}");
    assert_eq!(
        emu.count(Kind::History),
        2,
        "reqwest must not have retried silently"
    );
    assert_eq!(send(c.get(&url), &tok).status(), StatusCode::OK);

    // On the wire: not a single byte of a response, then a reset (or at least a close).
    emu.inject("/_chainguard/history/", Fault::ResetConnection, 1);
    let mut raw = std::net::TcpStream::connect(emu.host()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        raw,
        "GET /v2/chainguard/r/_chainguard/history/latest HTTP/1.1\r\nHost: {}\r\n\r\n",
        emu.host()
    )
    .unwrap();
    let mut buf = [0u8; 64];
    match raw.read(&mut buf) {
        Ok(n) => panic!("read {n} bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}

#[test]
fn delay_and_latency() {
    let emu = Emulator::start();
    emu.generate_history("chainguard/d", "latest", 1, "2024-01-01T00:00:00Z", DAY);
    let c = client();
    let tok = token(&emu, &c, "chainguard/d");
    let url = history_url(&emu, "chainguard/d", "latest");
    emu.inject("/history/", Fault::Delay(Duration::from_millis(300)), 1);
    let t = Instant::now();
    assert_eq!(send(c.get(&url), &tok).status(), StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(send(c.get(&url), &tok).status(), StatusCode::OK);
    assert!(t.elapsed() < Duration::from_millis(300));

    let slow = Emulator::start_with_latency(Duration::from_millis(100));
    let t = Instant::now();
    let resp = c.get(format!("{}/v2/", slow.url())).send().unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(t.elapsed() >= Duration::from_millis(100));
}

#[test]
fn truncated_json_is_a_200_that_does_not_parse() {
    let emu = Emulator::start();
    emu.generate_history("chainguard/t", "latest", 5, "2024-01-01T00:00:00Z", DAY);
    let c = client();
    let tok = token(&emu, &c, "chainguard/t");
    let url = history_url(&emu, "chainguard/t", "latest");
    let full = send(c.get(&url), &tok).text().unwrap();

    emu.inject("/_chainguard/history/", Fault::TruncatedJson, 1);
    let resp = send(c.get(&url), &tok);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let cut = resp.text().unwrap();
    assert!(!cut.is_empty() && full.starts_with(&cut) && cut.len() < full.len());
    assert!(serde_json::from_str::<Value>(&cut).is_err());
}

#[test]
fn quirks_change_the_response_shape() {
    let emu = Emulator::start();
    let all = emu.generate_history("chainguard/q", "latest", 3, "2024-01-01T00:00:00Z", DAY);
    let bad = "sha256:NOT-HEX".to_string();
    emu.set_quirks(Quirks {
        capitalized_keys: true,
        reverse_order: true,
        token_key: "access_token",
        omit_content_digest: true,
        bad_digest: Some(bad.clone()),
        expires_in: None,
        ignore_range: false,
        half_second_after_start: false,
    });
    let c = client();
    let body: Value = c
        .get(token_url(&emu, "chainguard/q"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        body.get("token").is_none() && body.get("expires_in").is_none(),
        "{body}"
    );
    let tok = body["access_token"].as_str().unwrap().to_string();

    let body: Value = send(c.get(history_url(&emu, "chainguard/q", "latest")), &tok)
        .json()
        .unwrap();
    let got: Vec<(&str, &str)> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["UpdateTimestamp"].as_str().unwrap(),
                e["Digest"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (all[2].timestamp.as_str(), bad.as_str()),
            (all[1].timestamp.as_str(), all[1].digest.as_str()),
            (all[0].timestamp.as_str(), all[0].digest.as_str()),
        ]
    );

    let resp = send(
        c.get(format!("{}/v2/chainguard/q/manifests/latest", emu.url())),
        &tok,
    );
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("docker-content-digest").is_none());
    assert_eq!(sha256_digest(&resp.bytes().unwrap()), all[2].digest);

    emu.set_quirks(Quirks {
        bad_digest: Some(bad.clone()),
        ..Quirks::default()
    });
    let resp = send(
        c.head(format!("{}/v2/chainguard/q/manifests/latest", emu.url())),
        &tok,
    );
    assert_eq!(resp.headers()["docker-content-digest"], bad.as_str());

    // Tokens are honoured for exactly `expires_in` seconds.
    emu.set_quirks(Quirks {
        expires_in: Some(0),
        ..Quirks::default()
    });
    let body: Value = c
        .get(token_url(&emu, "chainguard/q"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["expires_in"], 0);
    let resp = send(
        c.get(history_url(&emu, "chainguard/q", "latest")),
        body["token"].as_str().unwrap(),
    );
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn token_endpoint_rejects_foreign_service_and_bad_scopes() {
    let emu = Emulator::start();
    let c = client();
    let bad = [
        "scope=repository:chainguard/a:pull&service=cgr.dev",
        "service=emulator",
        "scope=repository:chainguard/a:push&service=emulator",
        "scope=repository:chainguard/a:pull&scope=repository:chainguard/b:pull",
    ];
    for query in bad {
        let resp = c
            .get(format!("{}/token?{query}", emu.url()))
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    // The documented curl example sends no service.
    let resp = c
        .get(format!(
            "{}/token?scope=repository:chainguard/a:pull",
            emu.url()
        ))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
