//! Sending through Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`),
//! form-encoded with HTTP basic auth, over the process's one reqwest client.
//!
//! Error mapping follows Twilio's JSON error body (`{"code":…,"message":…,"status":…}`):
//! 21610 → opted out, 21211/21614 → invalid number, 401/20003 → credentials (all permanent);
//! 429 and 5xx and transport failures → transient, retried here with jittered backoff.

use async_trait::async_trait;
use backon::Retryable;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::config::{TwilioConfig, TwilioSender};
use super::{MAX_BODY_CHARS, SendError, Sent, SmsProvider, segments, split_body};
use crate::domain::{PhoneNumber, ProviderMessageId};
use crate::http::RetryPolicy;

pub struct TwilioClient {
    http: reqwest::Client,
    config: TwilioConfig,
    /// `PUBLIC_BASE_URL/sms/status`, when the public URL is known.
    status_callback: Option<String>,
    retry: RetryPolicy,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
    #[serde(default)]
    message: String,
}

/// The SMS provider a function sends with (status callbacks to `PUBLIC_BASE_URL/sms/status`
/// when the public URL is known), or None when Twilio is not configured.
pub fn provider(
    config: &crate::config::Config,
    http: &reqwest::Client,
) -> Option<std::sync::Arc<dyn SmsProvider>> {
    let twilio = config.twilio().ok()?;
    let callback = config
        .public_base_url
        .as_ref()
        .map(|b| b.join("/sms/status"));
    Some(std::sync::Arc::new(TwilioClient::new(
        http.clone(),
        twilio.clone(),
        callback,
        RetryPolicy::default(),
    )))
}

impl TwilioClient {
    pub fn new(
        http: reqwest::Client,
        config: TwilioConfig,
        status_callback: Option<String>,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            http,
            config,
            status_callback,
            retry,
        }
    }

    async fn send_one(&self, to: &PhoneNumber, body: &str) -> Result<Sent, SendError> {
        let url = self.config.api_url.join(&format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            self.config.account_sid
        ));
        let mut form: Vec<(&str, &str)> = vec![("To", to.as_e164()), ("Body", body)];
        match &self.config.sender {
            TwilioSender::From(from) => form.push(("From", from.as_e164())),
            TwilioSender::MessagingService(ms) => form.push(("MessagingServiceSid", ms)),
        }
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb));
        }
        let started = std::time::Instant::now();
        let response = self
            .http
            .post(url)
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose_secret()),
            )
            .form(&form)
            .send()
            .await
            .map_err(|e| SendError::Transient(e.without_url().to_string()))?;
        crate::metrics::emit(crate::metrics::Metric::TwilioLatency {
            ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| SendError::Transient(e.without_url().to_string()))?;
        if status.is_success() {
            let created: Created = serde_json::from_str(&text).map_err(|_| {
                SendError::Transient("Twilio answered without a message sid".into())
            })?;
            let sid = ProviderMessageId::parse(&created.sid)
                .map_err(|_| SendError::Transient("Twilio answered a malformed sid".into()))?;
            return Ok(Sent {
                sid,
                status: created.status,
            });
        }
        let err: TwilioError = serde_json::from_str(&text).unwrap_or(TwilioError {
            code: None,
            message: String::new(),
        });
        Err(match (status.as_u16(), err.code) {
            (_, Some(21610)) => SendError::OptedOut,
            (_, Some(code @ (21211 | 21614))) => SendError::InvalidNumber { code },
            (401, _) | (_, Some(20003)) => SendError::Credentials,
            (429, _) | (500..=599, _) => SendError::Transient(format!("HTTP {status}")),
            (_, code) => SendError::Rejected {
                code: code.unwrap_or(0),
                message: err.message.chars().take(300).collect(),
            },
        })
    }
}

#[async_trait]
impl SmsProvider for TwilioClient {
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<Vec<Sent>, SendError> {
        let mut sent = Vec::new();
        let mut billed = 0;
        for part in split_body(body, MAX_BODY_CHARS) {
            billed += segments(&part).1;
            let one = (|| self.send_one(to, &part))
                .retry(self.retry.backoff())
                .when(SendError::is_transient)
                .notify(|e, after| {
                    tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "Twilio send failed; retrying")
                })
                .await?;
            sent.push(one);
        }
        // Segments are what the carrier bills; the count goes with every send.
        tracing::info!(parts = sent.len(), segments = billed, "sms sent");
        Ok(sent)
    }
}
