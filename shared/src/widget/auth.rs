//! Widget authentication: the session token casebridge issues, and the identity JWT a site's
//! backend issues.
//!
//! Both are HS256 JWTs handled by `jsonwebtoken` (the most used JWT crate). The algorithm is
//! pinned to HS256 on verification, so `alg: none` and algorithm-confusion tokens are refused,
//! and `exp` is required.
//!
//! `jsonwebtoken` is built with no crypto backend: its `rust_crypto` feature brings RSA, P-256,
//! P-384, Ed25519 and `rand` for algorithms casebridge never accepts, and a second `hmac`/`sha2`
//! beside ours. Instead `hs256_only` below is installed as its process-wide `CryptoProvider`: HMAC-SHA256
//! from the `hmac`/`sha2` the rest of the crate already uses, and `InvalidAlgorithm` for anything
//! else. It is installed on first use from this module (a `OnceLock`), so no `main` has to
//! remember it.
//!
//! - **Session token** (`WIDGET_SECRET`): `sub` = session id, `vid` = the visitor it was issued to,
//!   `exp`. It is bound to one session: a token for session A does not open session B.
//! - **Identity token** (`WIDGET_IDENTITY_SECRET`, signed by the site): `email`, optional `name`,
//!   `exp`, and `nbf`, `iat`, `aud`, `iss` when the site sets them. A valid one makes the email
//!   verified, so it is used to match the Creatio contact and resumes the visitor's conversation
//!   on any device; so it is held to more than a signature: `nbf` honoured, a lifetime no longer
//!   than `WIDGET_IDENTITY_MAX_MINUTES`, and `aud` / `iss` equal to `WIDGET_IDENTITY_AUDIENCE` /
//!   `WIDGET_IDENTITY_ISSUER` when those are set.
//! - **Visitor proof and socket proof**: the visitor secret is an HMAC of the visitor id
//!   ([`visitor_proof`]); the WebSocket's URL carries instead a proof keyed with that secret and
//!   valid minutes ([`socket_proof`]), so the secret itself never travels in a URL.
//!
//! Time checks use the caller's clock with 30 s of leeway, in saturating arithmetic: a claim of
//! `i64::MAX` is refused, not an overflow.

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation, decode, encode,
};
use serde::{Deserialize, Serialize};

use crate::domain::{SessionId, VerifiedEmail, VisitorId};

/// jsonwebtoken's crypto backend: HS256 and nothing else (see the module doc).
mod hs256_only {
    use hmac::{KeyInit, Mac};
    use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
    use jsonwebtoken::errors::{ErrorKind, Result};

    use super::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};

    type HmacSha256 = hmac::Hmac<sha2::Sha256>;

    pub struct Hs256(HmacSha256);

    impl Hs256 {
        fn new(family: AlgorithmFamily, key: &[u8], alg: &Algorithm) -> Result<Self> {
            if *alg != Algorithm::HS256 {
                return Err(ErrorKind::InvalidAlgorithm.into());
            }
            if family != AlgorithmFamily::Hmac {
                return Err(ErrorKind::InvalidKeyFormat.into());
            }
            HmacSha256::new_from_slice(key)
                .map(Self)
                .map_err(|_| ErrorKind::InvalidKeyFormat.into())
        }
    }

    impl signature::Signer<Vec<u8>> for Hs256 {
        fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
            let mut mac = self.0.clone();
            mac.update(msg);
            Ok(mac.finalize().into_bytes().to_vec())
        }
    }

    impl signature::Verifier<Vec<u8>> for Hs256 {
        fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
            let mut mac = self.0.clone();
            mac.update(msg);
            // `verify_slice` compares in constant time.
            mac.verify_slice(sig).map_err(|_| signature::Error::new())
        }
    }

    impl JwtSigner for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    impl JwtVerifier for Hs256 {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
    }

    static PROVIDER: CryptoProvider = CryptoProvider {
        signer_factory: |alg, key: &EncodingKey| {
            Ok(Box::new(Hs256::new(key.family(), key.as_bytes(), alg)?))
        },
        verifier_factory: |alg, key: &DecodingKey| {
            Ok(Box::new(Hs256::new(
                key.family(),
                key.try_get_as_bytes()?,
                alg,
            )?))
        },
        // No JWKs here; these are never called.
        key_utils: KeyUtils::new_unimplemented(),
    };

    /// Installs [`PROVIDER`] once per process. Another provider already installed (none is, in
    /// this workspace) would be kept: `install_default` refuses a second one.
    pub fn ensure_installed() {
        static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        ONCE.get_or_init(|| {
            let _ = PROVIDER.install_default();
        });
    }
}

/// How long a session token lives; the widget asks for a new one (same session) when it lapses.
pub const SESSION_TOKEN_LIFETIME: SignedDuration = SignedDuration::from_hours(12);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token lives longer than allowed ({0} minutes)")]
    TooLong(i64),
    #[error("the token is for another audience (aud)")]
    WrongAudience,
    #[error("the token is from another issuer (iss)")]
    WrongIssuer,
    #[error("the token is not valid")]
    Invalid,
}

/// `exp` (and `nbf` when present) against `now`, and at most `max_lifetime` ahead.
fn check_times(
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    now: Timestamp,
    max_lifetime: SignedDuration,
) -> Result<(), TokenError> {
    let now = now.as_second();
    if exp.saturating_add(LEEWAY_SECONDS) < now {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf.saturating_sub(LEEWAY_SECONDS) > now) {
        return Err(TokenError::NotYetValid);
    }
    let max = max_lifetime.as_secs();
    let from = iat.unwrap_or(now).min(now);
    if exp.saturating_sub(from) > max.saturating_add(LEEWAY_SECONDS) {
        return Err(TokenError::TooLong(max / 60));
    }
    Ok(())
}

/// What a site's identity token must also satisfy (`WIDGET_IDENTITY_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPolicy {
    pub audience: Option<String>,
    pub issuer: Option<String>,
    pub max_lifetime: SignedDuration,
}

impl Default for IdentityPolicy {
    /// No audience or issuer required; a day at most.
    fn default() -> Self {
        Self {
            audience: None,
            issuer: None,
            max_lifetime: SignedDuration::from_hours(24),
        }
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
    hs256_only::ensure_installed();
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
    hs256_only::ensure_installed();
    let data = decode::<SessionClaims>(
        token,
        &DecodingKey::from_secret(secret),
        &validation(Some(AUDIENCE)),
    )
    .map_err(map_err)?;
    check_times(data.claims.exp, None, None, now, SESSION_TOKEN_LIFETIME)?;
    let id = SessionId::parse(&data.claims.sub).map_err(|_| TokenError::Invalid)?;
    let vid = VisitorId::parse(&data.claims.vid).map_err(|_| TokenError::Invalid)?;
    Ok((id, vid))
}

/// The proof that goes with an anonymous visitor id: HMAC-SHA256 of the id under
/// `WIDGET_SECRET`, base64url. The widget keeps both in the browser and presents both to
/// resume; nothing stores the proof, and it never reaches Creatio, a log or a page. Whoever
/// learns an id (from a case, say) cannot resume the conversation without it.
pub fn visitor_proof(secret: &[u8], visitor: &VisitorId) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(b"casebridge-visitor:");
    mac.update(visitor.as_str().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Does `proof` go with `visitor`? Compared in constant time.
pub fn verify_visitor_proof(secret: &[u8], visitor: &VisitorId, proof: &str) -> bool {
    use subtle::ConstantTimeEq;
    visitor_proof(secret, visitor)
        .as_bytes()
        .ct_eq(proof.trim().as_bytes())
        .into()
}

/// How long a socket proof may be used: a URL is more often logged than a body, so the proof in
/// it expires within minutes.
pub const SOCKET_PROOF_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_mins(5);

/// The proof a socket URL carries instead of the visitor secret: HMAC-SHA256, keyed with the
/// visitor secret ([`visitor_proof`]), of `casebridge-socket:<session>:<expires>`, base64url. The
/// widget computes it in the browser (WebCrypto), so the secret itself never travels in a URL;
/// the server recomputes the secret from the visitor id the token names. A logged URL opens a
/// socket for that session only, and only until `expires`.
pub fn socket_proof(visitor_secret: &str, session: SessionId, expires: i64) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(visitor_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(format!("casebridge-socket:{session}:{expires}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Does `proof` open a socket for `session`, for `visitor`, at `now`? `expires` must be ahead of
/// `now` (30 s of leeway) by at most [`SOCKET_PROOF_LIFETIME`]. Compared in constant time.
pub fn verify_socket_proof(
    widget_secret: &[u8],
    visitor: &VisitorId,
    session: SessionId,
    expires: i64,
    proof: &str,
    now: Timestamp,
) -> bool {
    use subtle::ConstantTimeEq;
    let now = now.as_second();
    let in_time = expires.saturating_add(LEEWAY_SECONDS) >= now
        && expires <= now.saturating_add(SOCKET_PROOF_LIFETIME.as_secs() + LEEWAY_SECONDS);
    let expected = socket_proof(&visitor_proof(widget_secret, visitor), session, expires);
    in_time && bool::from(expected.as_bytes().ct_eq(proof.trim().as_bytes()))
}

#[derive(Debug, Deserialize)]
struct IdentityClaims {
    email: String,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    iss: Option<String>,
}

/// A verified visitor identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: VerifiedEmail,
    pub name: Option<String>,
}

pub fn verify_identity(
    secret: &[u8],
    token: &str,
    policy: &IdentityPolicy,
    now: Timestamp,
) -> Result<Identity, TokenError> {
    hs256_only::ensure_installed();
    let data =
        decode::<IdentityClaims>(token, &DecodingKey::from_secret(secret), &validation(None))
            .map_err(map_err)?;
    let c = data.claims;
    check_times(c.exp, c.nbf, c.iat, now, policy.max_lifetime)?;
    if let Some(want) = &policy.audience {
        let ok = match &c.aud {
            Some(serde_json::Value::String(a)) => a == want,
            Some(serde_json::Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(want)),
            _ => false,
        };
        if !ok {
            return Err(TokenError::WrongAudience);
        }
    }
    if let Some(want) = &policy.issuer
        && c.iss.as_deref() != Some(want.as_str())
    {
        return Err(TokenError::WrongIssuer);
    }
    let email = VerifiedEmail::parse(&c.email).map_err(|_| TokenError::Invalid)?;
    let name = c
        .name
        .map(|n| {
            crate::domain::without_hidden_chars(&n)
                .trim()
                .chars()
                .take(200)
                .collect::<String>()
        })
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
        let id = verify_identity(KEY, &good, &IdentityPolicy::default(), Timestamp::now()).unwrap();
        assert_eq!(id.email.as_str(), "ann@example.com");
        assert_eq!(id.name.as_deref(), Some("Ann Lee"));
        let expired = jwt(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            r#"{"email":"ann@example.com","exp":1000}"#,
            KEY,
        );
        assert_eq!(
            verify_identity(KEY, &expired, &IdentityPolicy::default(), Timestamp::now()),
            Err(TokenError::Expired)
        );
        let wrong_key = jwt(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"email":"ann@example.com","exp":{}}}"#, future()),
            b"not-the-key",
        );
        assert_eq!(
            verify_identity(
                KEY,
                &wrong_key,
                &IdentityPolicy::default(),
                Timestamp::now()
            ),
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
            verify_identity(KEY, &none, &IdentityPolicy::default(), Timestamp::now()),
            Err(TokenError::Invalid)
        );
        // No exp.
        let no_exp = jwt(r#"{"alg":"HS256"}"#, r#"{"email":"ann@example.com"}"#, KEY);
        assert_eq!(
            verify_identity(KEY, &no_exp, &IdentityPolicy::default(), Timestamp::now()),
            Err(TokenError::Invalid)
        );
        // Not an email.
        let bad = jwt(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"email":"ann' or 1=1","exp":{}}}"#, future()),
            KEY,
        );
        assert_eq!(
            verify_identity(KEY, &bad, &IdentityPolicy::default(), Timestamp::now()),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn times_are_checked_without_overflow_and_lifetimes_are_bounded() {
        let now = Timestamp::now();
        let t = |claims: String| jwt(r#"{"alg":"HS256"}"#, &claims, KEY);
        let policy = IdentityPolicy::default();
        // exp = i64::MAX: refused as too long-lived, never an overflow or a panic.
        let forever = t(format!(r#"{{"email":"a@b.co","exp":{}}}"#, i64::MAX));
        assert_eq!(
            verify_identity(KEY, &forever, &policy, now),
            Err(TokenError::TooLong(1440))
        );
        let session = {
            let claims = format!(
                r#"{{"sub":"{}","vid":"{}","exp":{},"aud":"casebridge-widget"}}"#,
                SessionId::new_random(),
                VisitorId::new_random().as_str(),
                i64::MAX
            );
            t(claims)
        };
        assert!(verify_session_token(KEY, &session, now).is_err());
        let ancient = t(format!(r#"{{"email":"a@b.co","exp":{}}}"#, i64::MIN));
        assert!(verify_identity(KEY, &ancient, &policy, now).is_err());
        // A future nbf is not valid yet; a past one is fine.
        let soon = now.as_second() + 600;
        let later = t(format!(
            r#"{{"email":"a@b.co","exp":{},"nbf":{soon}}}"#,
            soon + 60
        ));
        assert_eq!(
            verify_identity(KEY, &later, &policy, now),
            Err(TokenError::NotYetValid)
        );
        let fine = t(format!(
            r#"{{"email":"a@b.co","exp":{},"nbf":{},"iat":{}}}"#,
            future(),
            now.as_second() - 5,
            now.as_second() - 5
        ));
        assert!(verify_identity(KEY, &fine, &policy, now).is_ok());
        // Issued for a week: longer than a day.
        let week = t(format!(
            r#"{{"email":"a@b.co","exp":{},"iat":{}}}"#,
            now.as_second() + 7 * 86_400,
            now.as_second()
        ));
        assert_eq!(
            verify_identity(KEY, &week, &policy, now),
            Err(TokenError::TooLong(1440))
        );
    }

    #[test]
    fn a_visitor_resumes_only_with_the_proof_issued_for_its_id() {
        let v = VisitorId::new_random();
        let proof = visitor_proof(KEY, &v);
        assert!(verify_visitor_proof(KEY, &v, &proof));
        assert!(!verify_visitor_proof(KEY, &VisitorId::new_random(), &proof));
        assert!(!verify_visitor_proof(
            b"another-widget-secret-0123456789",
            &v,
            &proof
        ));
        assert!(!verify_visitor_proof(KEY, &v, ""));
        assert!(!verify_visitor_proof(KEY, &v, &proof[1..]));
    }

    #[test]
    fn audience_and_issuer_are_checked_when_configured() {
        let now = Timestamp::now();
        let t = |claims: &str| jwt(r#"{"alg":"HS256"}"#, claims, KEY);
        let policy = IdentityPolicy {
            audience: Some("casebridge".into()),
            issuer: Some("https://shop.example.com".into()),
            ..IdentityPolicy::default()
        };
        let exp = future();
        let good = t(&format!(
            r#"{{"email":"a@b.co","exp":{exp},"aud":["other","casebridge"],"iss":"https://shop.example.com"}}"#
        ));
        assert!(verify_identity(KEY, &good, &policy, now).is_ok());
        let wrong_aud = t(&format!(
            r#"{{"email":"a@b.co","exp":{exp},"aud":"another-app","iss":"https://shop.example.com"}}"#
        ));
        assert_eq!(
            verify_identity(KEY, &wrong_aud, &policy, now),
            Err(TokenError::WrongAudience)
        );
        let no_aud = t(&format!(
            r#"{{"email":"a@b.co","exp":{exp},"iss":"https://shop.example.com"}}"#
        ));
        assert_eq!(
            verify_identity(KEY, &no_aud, &policy, now),
            Err(TokenError::WrongAudience)
        );
        let wrong_iss = t(&format!(
            r#"{{"email":"a@b.co","exp":{exp},"aud":"casebridge","iss":"https://evil.example"}}"#
        ));
        assert_eq!(
            verify_identity(KEY, &wrong_iss, &policy, now),
            Err(TokenError::WrongIssuer)
        );
        // Unset, neither is required.
        assert!(verify_identity(KEY, &no_aud, &IdentityPolicy::default(), now).is_ok());
    }
}
