//! Signing in, as Creatio does it: forms login with cookies and `BPMCSRF`, OAuth 2.0 client
//! credentials at a separate identity server (the `-is` host of Creatio cloud), the 8.3+
//! discovery document, and the three ways an expired session shows itself.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use crate::errors::{html, json_response, odata_error};

/// How an expired session shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryStyle {
    Unauthorized,
    RedirectToLogin,
    HtmlLoginPage,
}

struct Session {
    csrf: String,
    started: Instant,
    requests: u64,
}

struct Token {
    expires: Instant,
    started: Instant,
    requests: u64,
}

pub struct Auth {
    pub users: Vec<(String, String)>,
    pub oauth_clients: Vec<(String, String)>,
    pub token_lifetime: Duration,
    pub expire_after_requests: Option<u64>,
    pub expire_after: Option<Duration>,
    pub expiry_style: ExpiryStyle,
    pub netcore: bool,
    sessions: HashMap<String, Session>,
    tokens: HashMap<String, Token>,
}

fn login_answer(code: i64, message: &str) -> Response {
    json_response(
        200,
        json!({"Code": code, "Message": message, "Exception": null, "PasswordChangeUrl": null, "RedirectUrl": null}),
    )
}

pub fn parse_form(body: &str) -> HashMap<String, String> {
    form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn base64_decode(s: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

impl Auth {
    pub fn new(
        users: Vec<(String, String)>,
        oauth_clients: Vec<(String, String)>,
        token_lifetime: Duration,
        netcore: bool,
    ) -> Self {
        Self {
            users,
            oauth_clients,
            token_lifetime,
            expire_after_requests: None,
            expire_after: None,
            expiry_style: ExpiryStyle::Unauthorized,
            netcore,
            sessions: HashMap::new(),
            tokens: HashMap::new(),
        }
    }

    /// `POST /ServiceModel/AuthService.svc/Login`. Without `ForceUseSession: true` Creatio does
    /// not keep a session an API client can use: refused here.
    pub fn login(&mut self, headers: &HeaderMap, body: &[u8]) -> Response {
        let forced = headers
            .get("forceusesession")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !forced {
            return login_answer(1, "The ForceUseSession header is required for this login");
        }
        #[derive(serde::Deserialize)]
        struct Login {
            #[serde(rename = "UserName")]
            user: String,
            #[serde(rename = "UserPassword")]
            password: String,
        }
        let Ok(login) = serde_json::from_slice::<Login>(body) else {
            return login_answer(1, "Invalid request");
        };
        if !self
            .users
            .iter()
            .any(|(u, p)| *u == login.user && *p == login.password)
        {
            return login_answer(
                1,
                "Either user name or password is specified incorrectly or user does not exist",
            );
        }
        let auth = Uuid::new_v4().simple().to_string();
        let csrf = Uuid::new_v4().simple().to_string();
        self.sessions.insert(
            auth.clone(),
            Session {
                csrf: csrf.clone(),
                started: Instant::now(),
                requests: 0,
            },
        );
        let mut resp = login_answer(0, "");
        let h = resp.headers_mut();
        for c in [
            format!(".ASPXAUTH={auth}; path=/; HttpOnly"),
            format!("BPMCSRF={csrf}; path=/"),
            "BPMLOADER=loader; path=/; HttpOnly".to_owned(),
            format!("UserName={}; path=/", login.user),
        ] {
            if let Ok(v) = c.parse() {
                h.append("set-cookie", v);
            }
        }
        resp
    }

    /// `POST /connect/token` on the identity server: client credentials in the form or as HTTP
    /// Basic.
    pub fn token(&mut self, headers: &HeaderMap, body: &[u8]) -> Response {
        let form = parse_form(std::str::from_utf8(body).unwrap_or(""));
        let (mut id, mut secret) = (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        );
        if let Some(basic) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            && let Some(decoded) = base64_decode(basic)
            && let Some((i, s)) = decoded.split_once(':')
        {
            id = Some(i.to_owned());
            secret = Some(s.to_owned());
        }
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return json_response(400, json!({"error": "unsupported_grant_type"}));
        }
        let ok = match (id, secret) {
            (Some(i), Some(s)) => self
                .oauth_clients
                .iter()
                .any(|(ci, cs)| *ci == i && *cs == s),
            _ => false,
        };
        if !ok {
            return json_response(400, json!({"error": "invalid_client"}));
        }
        let token = Uuid::new_v4().simple().to_string();
        self.tokens.insert(
            token.clone(),
            Token {
                expires: Instant::now() + self.token_lifetime,
                started: Instant::now(),
                requests: 0,
            },
        );
        json_response(
            200,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime.as_secs(), "scope": "ApplicationAccess_casebridge"}),
        )
    }

    fn expired(&self, started: Instant, requests: u64) -> bool {
        self.expire_after_requests.is_some_and(|n| requests >= n)
            || self.expire_after.is_some_and(|d| started.elapsed() >= d)
    }

    /// None when the request may proceed; otherwise the answer Creatio would give.
    pub fn authenticate(&mut self, headers: &HeaderMap) -> Option<Response> {
        if let Some(bearer) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            let (expires, started, requests) = match self.tokens.get(bearer) {
                Some(t) => (t.expires, t.started, t.requests),
                None => return Some(odata_error(401, "Unauthorized")),
            };
            if Instant::now() >= expires || self.expired(started, requests) {
                self.tokens.remove(bearer);
                return Some(odata_error(401, "Unauthorized"));
            }
            if let Some(t) = self.tokens.get_mut(bearer) {
                t.requests += 1;
            }
            return None;
        }
        let Some(auth) = cookie(headers, ".ASPXAUTH") else {
            return Some(self.expired_answer());
        };
        let (started, requests, csrf) = match self.sessions.get(&auth) {
            Some(s) => (s.started, s.requests, s.csrf.clone()),
            None => return Some(self.expired_answer()),
        };
        if self.expired(started, requests) {
            self.sessions.remove(&auth);
            return Some(self.expired_answer());
        }
        let header = headers.get("bpmcsrf").and_then(|v| v.to_str().ok());
        if header != Some(csrf.as_str()) {
            return Some(odata_error(
                403,
                "Forbidden: the BPMCSRF token is missing or invalid",
            ));
        }
        if let Some(s) = self.sessions.get_mut(&auth) {
            s.requests += 1;
        }
        None
    }

    pub fn expired_answer(&self) -> Response {
        let login = if self.netcore {
            "/Login/Login.html"
        } else {
            "/Login/NuiLogin.aspx"
        };
        match self.expiry_style {
            ExpiryStyle::Unauthorized => odata_error(401, "Unauthorized"),
            ExpiryStyle::RedirectToLogin => (
                StatusCode::FOUND,
                [("location", format!("{login}?ReturnUrl=%2f0%2fodata"))],
                "",
            )
                .into_response(),
            ExpiryStyle::HtmlLoginPage => html(
                200,
                "<!DOCTYPE html><html><head><title>Creatio</title></head><body><form id=\"login\"></form></body></html>",
            ),
        }
    }

    pub fn expire_all(&mut self) {
        self.sessions.clear();
        self.tokens.clear();
    }

    pub fn rotate_csrf(&mut self) {
        for s in self.sessions.values_mut() {
            s.csrf = Uuid::new_v4().simple().to_string();
        }
    }
}
