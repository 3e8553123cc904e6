//! Widget authentication: the session token casebridge issues, and the identity JWT a site's
//! backend issues.
//!
//! Both are HS256 JWTs handled by `jsonwebtoken` (the most used JWT crate; built with its
//! RustCrypto backend so no second crypto library such as aws-lc joins *ring*). The algorithm is
//! pinned to HS256 on verification, so `alg: none` and algorithm-confusion tokens are refused,
//! and `exp` is required.
//!
//! - **Session token** (`WIDGET_SECRET`): `sub` = session id, `vid` = the visitor it was issued to,
//!   `exp`. It is bound to one session: a token for session A does not open session B.
//! - **Identity token** (`WIDGET_IDENTITY_SECRET`, signed by the site): `email`, optional `name`,
//!   `exp`. A valid one makes the email verified, so it is used to match the Creatio contact.

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::domain::{SessionId, VerifiedEmail, VisitorId};

/// How long a session token lives; the widget asks for a new one (same session) when it lapses.
pub const SESSION_TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(12);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

fn check_exp(exp: i64, now: Timestamp) -> Result<(), TokenError> {
    if exp + LEEWAY_SECONDS < now.as_second() {
        Err(TokenError::Expired)
    } else {
        Ok(())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionClaims {
    sub: String,
    vid: String,
    exp: i64,
    aud: String,
}

const AUDIENCE: &str = "casebridge-widget";

/// Leeway for clock skew between the site's backend and us.
const LEEWAY_SECONDS: i64 = 30;

fn validation(audience: Option<&str>) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    // `exp` is required, and checked below against the caller's clock (so one clock decides).
    v.set_required_spec_claims(&["exp"]);
    v.validate_exp = false;
    match audience {
        Some(a) => v.set_audience(&[a]),
        None => v.validate_aud = false,
    }
    v
}

fn map_err(e: jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
        _ => TokenError::Invalid,
    }
}

/// A token for `session`, issued to `visitor`, valid until `now` + lifetime.
pub fn issue_session_token(
    secret: &[u8],
    session: SessionId,
    visitor: &VisitorId,
    now: Timestamp,
) -> String {
    let claims = SessionClaims {
        sub: session.to_string(),
        vid: visitor.as_str().to_owned(),
        exp: (now + SESSION_TOKEN_LIFETIME).as_second(),
        aud: AUDIENCE.into(),
    };
    // HS256 over a small struct cannot fail.
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap_or_default()
}

/// The session and visitor a token was issued for.
pub fn verify_session_token(
    secret: &[u8],
    token: &str,
    now: Timestamp,
) -> Result<(SessionId, VisitorId), TokenError> {
    let data = decode::<SessionClaims>(
        token,
        &DecodingKey::from_secret(secret),
        &validation(Some(AUDIENCE)),
    )
    .map_err(map_err)?;
    check_exp(data.claims.exp, now)?;
    let id = SessionId::parse(&data.claims.sub).map_err(|_| TokenError::Invalid)?;
    let vid = VisitorId::parse(&data.claims.vid).map_err(|_| TokenError::Invalid)?;
    Ok((id, vid))
}

#[derive(Debug, Deserialize)]
struct IdentityClaims {
    email: String,
    exp: i64,
    #[serde(default)]
    name: Option<String>,
}

/// A verified visitor identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: VerifiedEmail,
    pub name: Option<String>,
}

pub fn verify_identity(secret: &[u8], token: &str, now: Timestamp) -> Result<Identity, TokenError> {
    let data =
        decode::<IdentityClaims>(token, &DecodingKey::from_secret(secret), &validation(None))
            .map_err(map_err)?;
    check_exp(data.claims.exp, now)?;
    let email = VerifiedEmail::parse(&data.claims.email).map_err(|_| TokenError::Invalid)?;
    let name = data
        .claims
        .name
        .map(|n| n.trim().chars().take(200).collect::<String>())
        .filter(|n| !n.is_empty());
    Ok(Identity { email, name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use hmac::{Hmac, KeyInit, Mac};

    const KEY: &[u8] = b"widget-secret-for-tests-0123456789";

    /// An HS256 JWT built by hand from RFC 7519, independent of the crate under test.
    fn jwt(header: &str, claims: &str, key: &[u8]) -> String {
        let signing_input = format!("{}.{}", B64.encode(header), B64.encode(claims));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            B64.encode(mac.finalize().into_bytes())
        )
    }

    fn future() -> i64 {
        Timestamp::now().as_second() + 600
    }

    #[test]
    fn session_tokens_round_trip_and_are_bound() {
        let id = SessionId::new_random();
        let vid = VisitorId::new_random();
        let t = issue_session_token(KEY, id, &vid, Timestamp::now());
        assert_eq!(
            verify_session_token(KEY, &t, Timestamp::now()),
            Ok((id, vid))
        );
        assert_eq!(
            verify_session_token(b"another-key-0123456789012345678", &t, Timestamp::now()),
            Err(TokenError::Invalid)
        );
        let old = issue_session_token(
            KEY,
            id,
            &VisitorId::new_random(),
            Timestamp::now() - SignedDuration::from_hours(13),
        );
        assert_eq!(
            verify_session_token(KEY, &old, Timestamp::now()),
            Err(TokenError::Expired)
        );
        let mut tampered = t.clone();
        tampered.pop();
        tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            verify_session_token(KEY, &tampered, Timestamp::now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn identity_jwts_are_verified_strictly() {
        let good = jwt(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &format!(
                r#"{{"email":"Ann@Example.COM","name":"Ann Lee","exp":{}}}"#,
                future()
            ),
            KEY,
        );
        let id = verify_identity(KEY, &good, Timestamp::now()).unwrap();
        assert_eq!(id.email.as_str(), "Ann@example.com");
        assert_eq!(id.name.as_deref(), Some("Ann Lee"));
        let expired = jwt(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"email":"ann@example.com","exp":1000}"#,
            KEY,
        );
        assert_eq!(
            verify_identity(KEY, &expired, Timestamp::now()),
            Err(TokenError::Expired)
        );
        let wrong_key = jwt(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"email":"ann@example.com","exp":{}}}"#, future()),
            b"not-the-key",
        );
        assert_eq!(
            verify_identity(KEY, &wrong_key, Timestamp::now()),
            Err(TokenError::Invalid)
        );
        // alg none, unsigned.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(format!(
                r#"{{"email":"ann@example.com","exp":{}}}"#,
                future()
            ))
        );
        assert_eq!(
            verify_identity(KEY, &none, Timestamp::now()),
            Err(TokenError::Invalid)
        );
        // No exp.
        let no_exp = jwt(r#"{"alg":"HS256"}"#, r#"{"email":"ann@example.com"}"#, KEY);
        assert_eq!(
            verify_identity(KEY, &no_exp, Timestamp::now()),
            Err(TokenError::Invalid)
        );
        // Not an email.
        let bad = jwt(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"email":"ann' or 1=1","exp":{}}}"#, future()),
            KEY,
        );
        assert_eq!(
            verify_identity(KEY, &bad, Timestamp::now()),
            Err(TokenError::Invalid)
        );
    }
}
