//! Signing in to Creatio, and noticing when the sign-in has lapsed.
//!
//! Two modes, chosen by configuration: OAuth 2.0 client credentials (a bearer token, cached until
//! shortly before it expires) and forms login (cookies plus the `BPMCSRF` header). Either way the
//! current credentials live behind one async mutex, so concurrent callers wait for one login
//! instead of each logging in, and a generation number makes "log in again" happen once per
//! lapse, not once per caller that noticed it.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, SET_COOKIE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::error::{CreatioError, error_message};

/// Renew an OAuth token this long before Creatio says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub(crate) enum Credentials {
    Bearer(SecretString),
    Cookies { cookie: SecretString, csrf: String },
}

pub(crate) struct Current {
    pub creds: Credentials,
    pub generation: u64,
}

struct Cached {
    creds: Credentials,
    generation: u64,
    valid_until: Option<Instant>,
}

pub(crate) enum Mode {
    OAuth {
        client_id: String,
        client_secret: SecretString,
        token_url: String,
    },
    Forms {
        username: String,
        password: SecretString,
        login_url: String,
    },
}

pub(crate) struct Authenticator {
    mode: Mode,
    cached: Mutex<Option<Cached>>,
    generation: std::sync::atomic::AtomicU64,
}

impl Authenticator {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            cached: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn is_forms(&self) -> bool {
        matches!(self.mode, Mode::Forms { .. })
    }

    /// The credentials to use now, signing in first if there are none or they are about to lapse.
    pub async fn current(&self, http: &reqwest::Client) -> Result<Current, CreatioError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && c.valid_until.is_none_or(|t| Instant::now() < t)
        {
            return Ok(Current {
                creds: c.creds.clone(),
                generation: c.generation,
            });
        }
        let (creds, valid_until) = self.sign_in(http).await?;
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        *cached = Some(Cached {
            creds: creds.clone(),
            generation,
            valid_until,
        });
        Ok(Current { creds, generation })
    }

    /// Forgets the credentials of `generation` (they stopped working). Credentials a concurrent
    /// caller already renewed are kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.generation == generation) {
            *cached = None;
        }
    }

    async fn sign_in(
        &self,
        http: &reqwest::Client,
    ) -> Result<(Credentials, Option<Instant>), CreatioError> {
        match &self.mode {
            Mode::OAuth {
                client_id,
                client_secret,
                token_url,
            } => {
                let resp = http
                    .post(token_url)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", client_id.as_str()),
                        ("client_secret", client_secret.expose_secret()),
                    ])
                    .send()
                    .await
                    .map_err(transport)?;
                let status = resp.status().as_u16();
                let body = resp.text().await.map_err(transport)?;
                if status == 400 || status == 401 {
                    return Err(CreatioError::Auth(format!(
                        "the identity server refused client {client_id}: {} (check CREATIO_CLIENT_ID/CREATIO_CLIENT_SECRET, that the secret has not expired, and that the app's grant type is Client Credentials)",
                        error_message(status, &body)
                    )));
                }
                if status >= 300 {
                    return Err(CreatioError::Api {
                        status,
                        message: error_message(status, &body),
                    });
                }
                #[derive(Deserialize)]
                struct Token {
                    access_token: String,
                    #[serde(default)]
                    expires_in: Option<u64>,
                }
                let token: Token = serde_json::from_str(&body).map_err(|_| {
                    CreatioError::Protocol("the token endpoint did not answer with a token".into())
                })?;
                let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
                let valid_for = lifetime.checked_sub(TOKEN_MARGIN).unwrap_or(lifetime / 2);
                Ok((
                    Credentials::Bearer(SecretString::from(token.access_token)),
                    Some(Instant::now() + valid_for),
                ))
            }
            Mode::Forms {
                username,
                password,
                login_url,
            } => {
                let resp = http
                    .post(login_url)
                    .header("Content-Type", "application/json; charset=utf-8")
                    .header("ForceUseSession", "true")
                    .json(&serde_json::json!({
                        "UserName": username,
                        "UserPassword": password.expose_secret(),
                    }))
                    .send()
                    .await
                    .map_err(transport)?;
                let status = resp.status().as_u16();
                let cookies = cookies_from(resp.headers());
                let body = resp.text().await.map_err(transport)?;
                if status == 404 {
                    return Err(CreatioError::Api {
                        status,
                        message: "no login service at this address: check CREATIO_URL (the site root, without /0)".into(),
                    });
                }
                if status >= 300 {
                    return Err(CreatioError::Api {
                        status,
                        message: error_message(status, &body),
                    });
                }
                #[derive(Deserialize)]
                struct LoginAnswer {
                    #[serde(rename = "Code")]
                    code: i64,
                    #[serde(rename = "Message", default)]
                    message: Option<String>,
                }
                let answer: LoginAnswer = serde_json::from_str(&body).map_err(|_| {
                    CreatioError::Protocol(
                        "the login service did not answer with a login result".into(),
                    )
                })?;
                // 200 with Code 1 is how Creatio says "wrong user name or password".
                if answer.code != 0 {
                    return Err(CreatioError::Auth(format!(
                        "login as {username} failed: {}",
                        answer
                            .message
                            .unwrap_or_else(|| format!("code {}", answer.code))
                    )));
                }
                let csrf = cookies
                    .iter()
                    .find(|(k, _)| k == "BPMCSRF")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let cookie = cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                if cookie.is_empty() {
                    return Err(CreatioError::Protocol(
                        "the login succeeded but set no session cookie".into(),
                    ));
                }
                Ok((
                    Credentials::Cookies {
                        cookie: SecretString::from(cookie),
                        csrf,
                    },
                    None,
                ))
            }
        }
    }
}

/// `name=value` pairs of every `Set-Cookie` header (attributes dropped).
fn cookies_from(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

pub(crate) fn transport(e: reqwest::Error) -> CreatioError {
    // reqwest's Display includes the URL, never headers or bodies: safe for logs.
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    CreatioError::Transport(format!("{kind}: {}", e.without_url()))
}
