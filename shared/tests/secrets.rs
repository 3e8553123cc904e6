//! Secrets from SSM Parameter Store on moto (`casebridge::secrets`): a configuration that names
//! its secrets' parameters reads them at start-up, a missing one is named, and a rotated one is
//! used once the refresh is due.
//!
//! Needs moto (`AWS_ENDPOINT_URL_DYNAMODB`: moto serves SSM on the same port); skipped with a
//! note without it, unless `CASEBRIDGE_REQUIRE_MOTO` is set.

use std::collections::HashMap;
use std::time::Duration;

use casebridge::config::{Config, ConfigError};
use casebridge::secrets::{self, Live};
use casebridge::ssm::Ssm;
use secrecy::ExposeSecret;

/// A parameter path no other test uses.
fn path(name: &str) -> String {
    format!("/casebridge/test-{}/{name}", uuid::Uuid::new_v4().simple())
}

/// The environment a function would have: Lambda's identity, SSM on moto, and `extra`.
fn env<'a>(endpoint: &'a str, extra: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
    let mut env = HashMap::from([
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_ENDPOINT_URL_SSM", endpoint),
    ]);
    env.extend(extra.iter().copied());
    env
}

fn message(r: Result<(Config, Option<secrets::Secrets>), ConfigError>) -> String {
    match r {
        Ok(_) => panic!("expected a start-up error"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn named_secrets_are_read_at_start_up_and_a_missing_one_is_named() {
    let Some(endpoint) = test_support::moto::endpoint() else {
        return;
    };
    // GIVEN the Creatio password and the webhook token in Parameter Store
    let ssm = Ssm::local(&endpoint).unwrap();
    let (password, token) = (path("creatio-password"), path("webhook-token"));
    ssm.put_secure_string(&password, "s3cret-password")
        .await
        .unwrap();
    ssm.put_secure_string(&token, "webhook-token-0123456789")
        .await
        .unwrap();
    // WHEN a function starts with their names instead of their values
    let env = env(
        &endpoint,
        &[
            ("CREATIO_URL", "https://example.creatio.com"),
            ("CREATIO_USERNAME", "Supervisor"),
            ("CREATIO_PASSWORD_PARAMETER", &password),
            ("CREATIO_WEBHOOK_TOKEN_PARAMETER", &token),
        ],
    );
    let (config, secrets) = secrets::load(&env).await.unwrap();
    // THEN its configuration holds the values
    assert!(secrets.is_some());
    let tokens = config.webhook_tokens().unwrap();
    assert_eq!(tokens[0].expose_secret(), "webhook-token-0123456789");
    match &config.creatio().unwrap().auth {
        casebridge::config::CreatioAuth::Forms { password, .. } => {
            assert_eq!(password.expose_secret(), "s3cret-password")
        }
        other => panic!("forms login expected, got {other:?}"),
    }
    // AND a parameter that does not exist stops the start-up, named with its variable
    let gone = path("twilio-token");
    let err =
        message(secrets::load(&env_with(&env, &[("TWILIO_AUTH_TOKEN_PARAMETER", &gone)])).await);
    assert!(
        err.contains("TWILIO_AUTH_TOKEN_PARAMETER") && err.contains(&gone),
        "{err}"
    );
    // AND so does a value and a parameter for the same secret, or a name that is not a path
    let err = message(secrets::load(&env_with(&env, &[("CREATIO_PASSWORD", "plain")])).await);
    assert!(err.contains("CREATIO_PASSWORD_PARAMETER"), "{err}");
    let err = message(
        secrets::load(&env_with(
            &env,
            &[("OPENAI_API_KEY_PARAMETER", "openai key")],
        ))
        .await,
    );
    assert!(err.contains("OPENAI_API_KEY_PARAMETER"), "{err}");
    // AND without any name, nothing is read from SSM
    let plain = HashMap::from([("CREATIO_WEBHOOK_TOKEN", "plain-token-0123456789")]);
    let (config, secrets) = secrets::load(&plain).await.unwrap();
    assert!(secrets.is_none());
    assert_eq!(
        config.webhook_tokens().unwrap()[0].expose_secret(),
        "plain-token-0123456789"
    );
}

fn env_with<'a>(
    env: &HashMap<&'a str, &'a str>,
    extra: &[(&'a str, &'a str)],
) -> HashMap<&'a str, &'a str> {
    let mut env = env.clone();
    env.extend(extra.iter().copied());
    env
}

#[tokio::test]
async fn a_rotated_secret_is_used_once_the_refresh_is_due() {
    let Some(endpoint) = test_support::moto::endpoint() else {
        return;
    };
    let ssm = Ssm::local(&endpoint).unwrap();
    let token = path("webhook-token");
    ssm.put_secure_string(&token, "old-token-0123456789")
        .await
        .unwrap();
    let env = env(&endpoint, &[("CREATIO_WEBHOOK_TOKEN_PARAMETER", &token)]);
    let first_token = |config: &Config| -> Result<String, ConfigError> {
        Ok(config.webhook_tokens()?[0].expose_secret().to_owned())
    };
    // GIVEN a function started with the old token, refreshing every 200 ms
    let (config, secrets) = secrets::load(&env).await.unwrap();
    let secrets = secrets
        .unwrap()
        .refreshing_every(Duration::from_millis(200));
    let live = Live::new(first_token(&config).unwrap(), Some(secrets));
    assert_eq!(*live.get(&env, first_token).await, "old-token-0123456789");
    // WHEN the token is rotated, the old one is still used before the refresh is due …
    ssm.put_secure_string(&token, "new-token-0123456789 old-token-0123456789")
        .await
        .unwrap();
    assert_eq!(*live.get(&env, first_token).await, "old-token-0123456789");
    // … THEN the new one once it is
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(*live.get(&env, first_token).await, "new-token-0123456789");
    // AND an unchanged parameter rebuilds nothing
    tokio::time::sleep(Duration::from_millis(250)).await;
    let rebuilt = std::sync::atomic::AtomicBool::new(false);
    live.get(&env, |c| {
        rebuilt.store(true, std::sync::atomic::Ordering::SeqCst);
        first_token(c)
    })
    .await;
    assert!(!rebuilt.load(std::sync::atomic::Ordering::SeqCst));
}
