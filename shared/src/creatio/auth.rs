//! Signing in to Creatio, and noticing when the sign-in has lapsed.
//!
//! Two modes, chosen by configuration: OAuth 2.0 client credentials (a bearer token, cached until
//! shortly before it expires) and forms login (cookies plus the `BPMCSRF` header).
//!
//! The OAuth token endpoint is the configured identity server (`CREATIO_IDENTITY_URL`), or is
//! found at the first sign-in: the instance's discovery document
//! (`/0/.well-known/openid-configuration`, Creatio 8.3+) names it; failing that, on Creatio cloud
//! only, it is the `-is` host. The `-is` rule is cloud's alone: an on-site instance's identity
//! server is whatever its `OAuth20IdentityServerUrl` system setting says. Either way the
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

/// Where the OAuth token comes from.
pub(crate) enum TokenEndpoint {
    Fixed(String),
    /// The discovery document's URL, and the cloud's `-is` token URL when the instance is on
    /// Creatio cloud.
    Discover {
        document: String,
        cloud: Option<String>,
    },
}

pub(crate) enum Mode {
    OAuth {
        client_id: String,
        client_secret: SecretString,
        token: TokenEndpoint,
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
    /// The token URL discovery found, for the life of the container.
    discovered: std::sync::Mutex<Option<String>>,
}

impl Authenticator {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            cached: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
            discovered: std::sync::Mutex::new(None),
        }
    }

    /// The token URL: configured, or discovered (once per container).
    async fn token_url(&self, http: &reqwest::Client) -> Result<String, CreatioError> {
        let Mode::OAuth { token, .. } = &self.mode else {
            return Err(CreatioError::Protocol(
                "forms login has no token URL".into(),
            ));
        };
        let (document, cloud) = match token {
            TokenEndpoint::Fixed(url) => return Ok(url.clone()),
            TokenEndpoint::Discover { document, cloud } => (document, cloud),
        };
        if let Some(url) = self
            .discovered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(url);
        }
        let url = match discover(http, document).await {
            Ok(Some(url)) => url,
            Ok(None) | Err(_) if cloud.is_some() => cloud.clone().unwrap_or_default(),
            Ok(None) => {
                return Err(CreatioError::Auth(format!(
                    "no identity server is known: {document} publishes no token endpoint (Creatio before 8.3 has no discovery document), and the instance is not on Creatio cloud; set CREATIO_IDENTITY_URL to the instance's OAuth20IdentityServerUrl system setting"
                )));
            }
            Err(e) => return Err(e),
        };
        tracing::info!(token_url = %url, "Creatio identity server found");
        *self.discovered.lock().unwrap_or_else(|p| p.into_inner()) = Some(url.clone());
        Ok(url)
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
                ..
            } => {
                let token_url = self.token_url(http).await?;
                let resp = http
                    .post(&token_url)
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

/// The token endpoint a discovery document names; None when there is no usable document.
async fn discover(http: &reqwest::Client, document: &str) -> Result<Option<String>, CreatioError> {
    let resp = http
        .get(document)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(transport)?;
    if !resp.status().is_success() {
        return Ok(None);
    }
    let body: serde_json::Value = match resp.json().await {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    Ok(body
        .get("token_endpoint")
        .and_then(|v| v.as_str())
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .map(str::to_owned))
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
