//! Hostile modes: a registry that attacks its client's memory, time or credentials, and a thief
//! server that records whatever reaches it. Served before any normal handling (authentication
//! included) to every request whose path and query contain the pattern, for as long as set.

use super::*;

/// How the emulator misbehaves for matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hostile {
    /// `200` with a chunked body that never ends: a history document whose entries go on for
    /// ever (history paths) or an endless manifest (manifest paths: `HEAD` answers `200` without
    /// `Docker-Content-Digest`, so the client must `GET` it).
    EndlessBody,
    /// `200` announcing `Content-Length: length`, then one byte every 100 ms.
    HugeLength { length: u64 },
    /// `status` with `Location: to` followed by the request's own path and query.
    Redirect { status: u16, to: String },
    /// A token response (authentication as usual) whose token is `bytes` long.
    HugeToken { bytes: usize },
    /// A token response (authentication as usual) with `"expires_in": raw`, `raw` verbatim.
    ExpiresIn { raw: String },
}

impl Emulator {
    /// Every later request whose path (and query) contains `path_contains` gets `mode`; the
    /// first matching rule wins.
    pub fn hostile(&self, path_contains: &str, mode: Hostile) {
        self.shared
            .hostile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((path_contains.to_string(), mode));
    }
}

pub(super) async fn hostile_response(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Response> {
    let target = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .to_string();
    let mode = shared
        .hostile
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(pattern, _)| target.contains(pattern.as_str()))
        .map(|(_, mode)| mode.clone())?;
    let kind = Kind::of(uri.path());
    Some(match mode {
        Hostile::EndlessBody if kind == Kind::Manifest && method == Method::HEAD => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(INDEX_MEDIA_TYPE),
            );
            resp
        }
        Hostile::EndlessBody => {
            let (head, item): (&'static str, String) = if kind == Kind::Manifest {
                (
                    r#"{"schemaVersion":2,"manifests":["#,
                    format!(
                        r#"{{"mediaType":"{INDEX_MEDIA_TYPE}","size":1,"digest":"sha256:{}"}},"#,
                        "0".repeat(64)
                    ),
                )
            } else {
                (
                    r#"{"history":["#,
                    format!(
                        r#"{{"updateTimestamp":"2024-01-01T00:00:00Z","digest":"sha256:{}"}},"#,
                        "0".repeat(64)
                    ),
                )
            };
            // 64 KiB a chunk, for ever.
            let chunk = bytes::Bytes::from(item.repeat((64 << 10) / item.len()));
            let first = futures_util::stream::once(async move {
                Ok::<_, io::Error>(bytes::Bytes::from_static(head.as_bytes()))
            });
            let rest = futures_util::stream::repeat_with(move || Ok(chunk.clone()));
            let mut resp = Response::new(Body::from_stream(futures_util::StreamExt::chain(
                first, rest,
            )));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Hostile::HugeLength { length } => {
            let slow = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, io::Error>(bytes::Bytes::from_static(b" ")), ()))
            });
            let mut resp = Response::new(Body::from_stream(slow));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            resp
        }
        Hostile::Redirect { status, to } => {
            let status = StatusCode::from_u16(status).expect("emulator: redirect status");
            let location = format!("{}{target}", to.trim_end_matches('/'));
            let mut resp = status.into_response();
            resp.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&location).expect("emulator: location"),
            );
            resp
        }
        Hostile::HugeToken { bytes } => {
            let minted = minted_token(shared, uri, headers).await?;
            let body = format!(
                r#"{{"token":{},"padding":"{}"}}"#,
                json_string(&minted),
                "x".repeat(bytes)
            );
            json_response(StatusCode::OK, body)
        }
        Hostile::ExpiresIn { raw } => {
            let minted = minted_token(shared, uri, headers).await?;
            let body = format!(r#"{{"token":{},"expires_in":{raw}}}"#, json_string(&minted));
            json_response(StatusCode::OK, body)
        }
    })
}

/// A real token from the normal `/token` handling, or `None` when it refused.
pub(super) async fn minted_token(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<String> {
    let resp = token(shared, uri, headers);
    if resp.status() != StatusCode::OK {
        return None;
    }
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.ok()?;
    let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let key = shared.lock().quirks.token_key;
    value[key].as_str().map(str::to_string)
}

/// One request as it reached a [`Thief`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stolen {
    pub method: String,
    pub target: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

/// A plain HTTP/1.1 server on `127.0.0.1:0` that records every request (head and body) and
/// answers each with a tempting token response. Stops when dropped.
pub struct Thief {
    addr: SocketAddr,
    stolen: Arc<Mutex<Vec<Stolen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Thief {
    pub fn start() -> Thief {
        let listener = StdTcpListener::bind("127.0.0.1:0").expect("thief: bind");
        listener.set_nonblocking(true).expect("thief: nonblocking");
        let addr = listener.local_addr().expect("thief: addr");
        let stolen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (stolen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let log = log.clone();
                        std::thread::spawn(move || thief_serve(stream, &log));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Thief {
            addr,
            stolen,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn stolen(&self) -> Vec<Stolen> {
        self.stolen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Thief {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub(super) fn thief_serve(mut stream: std::net::TcpStream, log: &Mutex<Vec<Stolen>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let (mut length, mut authorization) = (0usize, None);
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "authorization" => authorization = Some(value.trim().to_string()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap_or_else(|e| e.into_inner()).push(Stolen {
            method,
            target,
            authorization,
            body,
        });
        let answer = r#"{"token":"stolen-token","expires_in":300}"#;
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
