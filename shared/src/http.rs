//! The one way casebridge builds an outbound HTTP client (Creatio, Twilio, OpenAI).
//!
//! reqwest is compiled with `rustls-no-provider`: we install rustls' *ring* provider for the
//! process, the same one the AWS SDK client uses (see `aws.rs`), so one TLS stack is linked.
//! Redirects are never followed: a Creatio session expiry shows up as a redirect to a login page,
//! and the Creatio client must see it.

use std::time::Duration;

/// Builds a client with a whole-request timeout. Build once per container and reuse it.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // Err means a provider is already installed (ours, by an earlier call): fine either way.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("casebridge/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// How hard to try before giving up on a transient failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 200 ms doubling to at most 2 s, jittered: about 3 s of waiting at worst, well
    /// inside a Lambda timeout, after which the stream's own retry takes over.
    fn default() -> Self {
        Self {
            attempts: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// A JSON answer with `status` (an unknown code becomes 500), for the HTTP functions' one error
/// mapping each. Plain `http` types: the function crates turn the body into lambda_http's.
pub fn json_response(status: u16, body: &serde_json::Value) -> http::Response<String> {
    let mut r = http::Response::new(body.to_string());
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}
