//! The one way casebridge builds an outbound HTTP client (Creatio, Twilio, OpenAI, and the AWS
//! SDK through `aws.rs`).
//!
//! reqwest is compiled with `rustls-no-provider` and given a ready rustls configuration: *ring* as
//! the crypto provider and the Mozilla trust roots compiled in (`webpki-roots`). Compiled-in
//! roots cost nothing at start-up, where the platform verifier read and parsed every file under
//! `/etc/ssl/certs` on each cold start (~2 ms here, once per client). A deployment that talks to
//! an on-premises Creatio behind a private CA sets `SSL_CERT_FILE` to a PEM bundle, whose
//! certificates are trusted in addition; an unreadable or empty bundle fails the start-up.
//! Redirects are never followed: a Creatio session expiry shows up as a redirect to a login page,
//! and the Creatio client must see it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why the TLS configuration could not be built. `Clone`, so that the one built per process can
/// hand the same failure to every caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("SSL_CERT_FILE {path}: {reason}")]
    CaBundle { path: String, reason: String },
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Build(#[from] reqwest::Error),
}

/// Builds a client with a whole-request timeout. Build once per container and reuse it.
pub fn client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    // Also the process default, for any other rustls user in it (test helpers' plain reqwest
    // clients). Err means one is already installed: fine either way.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("casebridge/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The process's rustls configuration, built once: every client shares its roots.
fn tls_config() -> Result<rustls::ClientConfig, TlsError> {
    static CONFIG: OnceLock<Result<rustls::ClientConfig, TlsError>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let ca_file = std::env::var("SSL_CERT_FILE")
                .ok()
                .filter(|p| !p.trim().is_empty());
            build_tls_config(ca_file.as_deref())
        })
        .clone()
}

/// Whether `path` is a readable PEM bundle with at least one usable certificate. The
/// configuration reads it at start-up so that a bad path is named there; the clients read it
/// again when the first one is built (only deployments with a private CA pay this twice).
pub fn check_ca_bundle(path: &str) -> Result<(), TlsError> {
    build_tls_config(Some(path)).map(drop)
}

fn build_tls_config(ca_file: Option<&str>) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let bundle_error = |reason: String| TlsError::CaBundle {
            path: path.to_owned(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bundle_error(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bundle_error(e.to_string()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(bundle_error("no usable certificate in the bundle".into()));
        }
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
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

impl RetryPolicy {
    /// The jittered exponential backoff this policy describes, for `backon`'s `retry`.
    pub fn backoff(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter()
    }
}

/// What a 5xx answer says: the cause stays in the log, under the request id the answer carries.
pub const INTERNAL_ERROR: &str = "internal error; the operator can find it by its request_id";

/// The id a 5xx answer and its log line share: the Lambda invocation's request id when there is
/// one (it is also on every line the runtime logs), else a fresh one (the local stack).
pub fn request_id(from_lambda: Option<&str>) -> String {
    match from_lambda {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

/// The JSON answer for an error: the message for a 4xx; for a 5xx [`INTERNAL_ERROR`] and the
/// request id, so that a table name or an SDK message never reaches the caller.
pub fn error_response(status: u16, message: &str, request_id: &str) -> http::Response<String> {
    if status >= 500 {
        json_response(
            status,
            &serde_json::json!({ "error": INTERNAL_ERROR, "request_id": request_id }),
        )
    } else {
        json_response(status, &serde_json::json!({ "error": message }))
    }
}

/// The headers every page casebridge serves carries (the transcript, the attachment links, the
/// local demo and console): no other site may frame it (a click-jacking page cannot put the
/// console's buttons under a visitor's cursor), the browser takes the content type as given (a
/// text answer is never run as a script), and no link followed from it carries its address (the
/// transcript's signature is in its query).
pub fn page_headers(headers: &mut http::HeaderMap) {
    use http::HeaderValue;
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
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

#[cfg(test)]
mod tls_tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_need_no_file() {
        let config = build_tls_config(None).unwrap();
        assert!(config.alpn_protocols.is_empty());
    }

    #[test]
    fn a_bad_private_ca_bundle_fails_the_start_up_by_name() {
        // GIVEN SSL_CERT_FILE pointing at nothing, or at a file without a certificate,
        // THEN building the TLS configuration fails and names the setting.
        let missing = build_tls_config(Some("/nonexistent/ca.pem")).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("SSL_CERT_FILE /nonexistent/ca.pem"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("casebridge-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate\n").unwrap();
        let empty = build_tls_config(dir.to_str()).unwrap_err();
        let _ = std::fs::remove_file(&dir);
        assert!(
            empty.to_string().contains("no usable certificate"),
            "{empty}"
        );
    }
}
