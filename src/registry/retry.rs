//! The retry policy, in one place, owning the loop: [`RetryPolicy::run`] makes the attempts of
//! one logical request, each a call of an async closure that says whether it succeeded, failed
//! for good, or failed transiently (connection errors, timeouts, 429, 5xx, a garbled body the
//! caller could not parse). Transient failures are retried with exponential backoff and full
//! jitter, honouring `Retry-After` (seconds or an HTTP date) up to a cap (a longer one fails
//! instead of waiting), and all of them draw on one bounded budget: nothing nests a second
//! loop inside an attempt. Every retry is logged at `-v`.

use std::future::Future;
use std::time::Duration;

use reqwest::header::RETRY_AFTER;

use super::{RegistryError, Reply};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt: the budget of one logical request.
    pub max_retries: u32,
    pub base: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` we wait for; longer requests fail instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Why one attempt failed, and so whether another may succeed. (The error is boxed: a
/// `Result<T, Failure>` stays small.)
#[derive(Debug)]
pub enum Failure {
    /// Worth another attempt, after `retry_after` when the server said so.
    Transient {
        error: Box<RegistryError>,
        retry_after: Option<Duration>,
    },
    /// Asking again would get the same answer: a 4xx other than 429, a body over its cap, an
    /// invalid digest.
    Permanent(Box<RegistryError>),
}

impl Failure {
    pub fn transient(error: RegistryError, retry_after: Option<Duration>) -> Failure {
        Failure::Transient {
            error: Box::new(error),
            retry_after,
        }
    }

    pub fn permanent(error: RegistryError) -> Failure {
        Failure::Permanent(Box::new(error))
    }

    /// A transport error (connection, timeout, a body cut off in flight) is transient; every
    /// other error is permanent. Statuses go through [`Failure::status`] to keep `Retry-After`.
    pub fn of(error: RegistryError) -> Failure {
        match error {
            RegistryError::Transport { .. } => Failure::transient(error, None),
            other => Failure::permanent(other),
        }
    }

    /// An error status: 429 and 5xx are transient (with the reply's `Retry-After`).
    pub fn status(reply: &Reply, error: RegistryError) -> Failure {
        if reply.status == 429 || reply.status >= 500 {
            Failure::transient(error, retry_after(reply))
        } else {
            Failure::permanent(error)
        }
    }

    /// A body that did not parse (cut off or garbled by a proxy): transient, no `Retry-After`.
    pub fn garbled(error: RegistryError) -> Failure {
        Failure::transient(error, None)
    }
}

impl From<RegistryError> for Failure {
    fn from(error: RegistryError) -> Failure {
        Failure::of(error)
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (0-based), or `None` to give up: the budget
    /// is spent, or the server asks for a wait longer than [`RetryPolicy::max_retry_after`].
    /// Without `Retry-After`, full jitter: uniform in `[0, min(max_backoff, base·2^retry)]`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        if let Some(wait) = retry_after {
            return (wait <= self.max_retry_after).then_some(wait);
        }
        let step = self
            .base
            .saturating_mul(1 << retry.min(16))
            .min(self.max_backoff);
        Some(step.mul_f64(fastrand::f64()))
    }

    /// Runs the attempts of one logical request to `url` (named in the log): `attempt` is called
    /// until it succeeds, fails permanently, or the budget is spent; then the last error is
    /// returned as it is (it names the URL and the last status).
    pub async fn run<T, F, Fut>(&self, url: &str, mut attempt: F) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut retries = 0;
        loop {
            let (error, retry_after) = match attempt().await {
                Ok(value) => return Ok(value),
                Err(Failure::Permanent(error)) => return Err(*error),
                Err(Failure::Transient { error, retry_after }) => (error, retry_after),
            };
            let Some(wait) = self.delay(retries, retry_after) else {
                // The budget is spent, or the server asks for a wait longer than the cap.
                tracing::debug!(
                    url = %url,
                    attempts = retries + 1,
                    retry_after_s = retry_after.map(|d| d.as_secs()),
                    why = %error,
                    "giving up"
                );
                return Err(*error);
            };
            retries += 1;
            tracing::debug!(
                url = %url,
                attempt = retries + 1,
                wait_ms = wait.as_millis() as u64,
                why = %error,
                "retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// The `Retry-After` of a reply, if it has a usable one.
pub fn retry_after(reply: &Reply) -> Option<Duration> {
    reply
        .headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()))
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP date (a date in the past: no wait).
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
    let secs = when.as_second().saturating_sub(now.as_second());
    Some(Duration::from_secs(secs.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn quick() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            ..RetryPolicy::default()
        }
    }

    fn status(code: u16) -> RegistryError {
        RegistryError::Status {
            registry: "r".into(),
            repository: "a".into(),
            url: "http://r/v2/a".into(),
            status: code,
            oci: Default::default(),
        }
    }

    #[test]
    fn full_jitter_stays_within_the_exponential_step() {
        let p = RetryPolicy::default();
        for _ in 0..200 {
            assert!(p.delay(0, None).unwrap() <= Duration::from_millis(250));
            assert!(p.delay(2, None).unwrap() <= Duration::from_millis(1000));
            assert!(p.delay(2, None).unwrap() <= p.max_backoff);
        }
        let huge = RetryPolicy {
            max_retries: 100,
            ..p
        };
        assert!(huge.delay(40, None).unwrap() <= p.max_backoff);
        // Full jitter: waits spread over the whole step, not only its upper half.
        assert!((0..200).any(|_| p.delay(2, None).unwrap() < Duration::from_millis(500)));
    }

    #[test]
    fn budget_and_retry_after_cap() {
        let p = RetryPolicy::default();
        assert!(p.delay(2, None).is_some());
        assert_eq!(p.delay(3, None), None);
        assert_eq!(p.delay(3, Some(Duration::from_secs(1))), None);
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(p.delay(0, Some(Duration::from_secs(61))), None);
        assert_eq!(p.delay(0, Some(Duration::from_secs(3600))), None);
    }

    #[test]
    fn retry_after_forms() {
        let now: jiff::Timestamp = "2015-10-21T07:28:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past: no wait"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn statuses_are_classified_with_their_retry_after() {
        let reply = |code: u16, retry_after: Option<&str>| {
            let mut headers = reqwest::header::HeaderMap::new();
            if let Some(value) = retry_after {
                headers.insert(RETRY_AFTER, value.parse().unwrap());
            }
            Reply {
                status: code,
                headers,
                body: Default::default(),
            }
        };
        let wait = |failure: Failure| match failure {
            Failure::Transient { retry_after, .. } => Some(retry_after),
            Failure::Permanent(_) => None,
        };
        let r = reply(429, Some("2"));
        assert_eq!(
            wait(Failure::status(&r, status(429))),
            Some(Some(Duration::from_secs(2)))
        );
        let r = reply(503, Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(
            wait(Failure::status(&r, status(503))),
            Some(Some(Duration::ZERO)),
            "a date in the past"
        );
        let r = reply(500, Some("soon"));
        assert_eq!(wait(Failure::status(&r, status(500))), Some(None));
        for code in [400, 401, 403, 404, 405] {
            let r = reply(code, Some("1"));
            assert_eq!(wait(Failure::status(&r, status(code))), None, "{code}");
        }
        let too_large = RegistryError::InvalidResponse {
            registry: "r".into(),
            url: "u".into(),
            detail: "manifest larger than 4 MiB: refused".into(),
        };
        assert!(
            wait(Failure::of(too_large)).is_none(),
            "a body over its cap"
        );
        let digest = RegistryError::InvalidDigest {
            registry: "r".into(),
            url: "u".into(),
            value: "sha256:x".into(),
        };
        assert!(wait(Failure::of(digest)).is_none(), "an invalid digest");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_budget_for_every_kind_of_transient_failure() {
        let calls = Cell::new(0);
        let result: Result<(), _> = quick()
            .run("http://r/v2/a", || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    Err(match n % 3 {
                        0 => Failure::garbled(RegistryError::InvalidResponse {
                            registry: "r".into(),
                            url: "http://r/v2/a".into(),
                            detail: "not JSON".into(),
                        }),
                        1 => Failure::transient(status(503), Some(Duration::ZERO)),
                        _ => Failure::of(RegistryError::Transport {
                            registry: "r".into(),
                            url: "http://r/v2/a".into(),
                            detail: "cannot connect".into(),
                        }),
                    })
                }
            })
            .await;
        assert_eq!(calls.get(), 4, "the first attempt and three retries");
        assert!(matches!(
            result,
            Err(RegistryError::Status { status: 503, .. })
        ));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn permanent_failures_and_long_retry_after_are_not_retried() {
        let failures: [fn() -> Failure; 3] = [
            || Failure::permanent(status(404)),
            || Failure::of(status(403)),
            || Failure::transient(status(429), Some(Duration::from_secs(3600))),
        ];
        for failure in failures {
            let calls = Cell::new(0);
            let result: Result<(), _> = quick()
                .run("u", || {
                    calls.set(calls.get() + 1);
                    async move { Err(failure()) }
                })
                .await;
            assert_eq!(calls.get(), 1);
            assert!(result.is_err());
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn success_after_transient_failures() {
        let calls = Cell::new(0);
        let result = quick()
            .run("u", || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    match n {
                        1 => Err(Failure::transient(status(429), Some(Duration::ZERO))),
                        2 => Err(Failure::transient(status(503), None)),
                        _ => Ok(n),
                    }
                }
            })
            .await;
        assert_eq!(result, Ok(3));
    }
}
