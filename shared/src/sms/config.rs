//! The SMS section: Twilio's account, token and sender (a number or a messaging service).

use crate::config::source::*;
use crate::domain::PhoneNumber;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, Clone)]
pub enum TwilioSender {
    From(PhoneNumber),
    MessagingService(String),
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    /// Authenticates sends and checks webhook signatures.
    pub auth_token: SecretString,
    /// While the token is rotated (`TWILIO_AUTH_TOKEN` = "new old"): the old one, still the one
    /// Twilio signs webhooks with until the new one is promoted. Checked, never sent.
    pub previous_auth_token: Option<SecretString>,
    pub sender: TwilioSender,
    pub api_url: BaseUrl,
}

pub(crate) fn twilio_config(src: &dyn Source) -> Result<Option<TwilioConfig>, ConfigError> {
    let Some(account_sid) = var(src, "TWILIO_ACCOUNT_SID") else {
        return Ok(None);
    };
    if !(account_sid.starts_with("AC") && account_sid.len() == 34) {
        return Err(ConfigError::Invalid {
            name: "TWILIO_ACCOUNT_SID",
            reason: "must be the 34-character account SID starting with AC".into(),
        });
    }
    let tokens = secret(src, "TWILIO_AUTH_TOKEN").ok_or(missing(
        "TWILIO_AUTH_TOKEN",
        "signs Twilio webhooks and authenticates sends",
    ))?;
    // One token; or, while it is rotated, the new one (Twilio's secondary token, which
    // authenticates API requests already) and the old primary, which signs the webhooks until
    // the new one is promoted (docs/operations.md, "Secrets").
    let tokens: Vec<SecretString> = tokens
        .expose_secret()
        .split([' ', ',', '\n'])
        .filter(|t| !t.trim().is_empty())
        .map(|t| SecretString::from(t.trim().to_owned()))
        .collect();
    let (auth_token, previous_auth_token) = match <[SecretString; 1]>::try_from(tokens.clone()) {
        Ok([one]) => (one, None),
        Err(_) => match <[SecretString; 2]>::try_from(tokens) {
            Ok([new, old]) => (new, Some(old)),
            Err(_) => {
                return Err(ConfigError::Invalid {
                    name: "TWILIO_AUTH_TOKEN",
                    reason: "must hold one token, or two (new and old) while rotating".into(),
                });
            }
        },
    };
    let sender = match (
        var(src, "TWILIO_FROM"),
        var(src, "TWILIO_MESSAGING_SERVICE_SID"),
    ) {
        (_, Some(ms)) => TwilioSender::MessagingService(ms),
        (Some(from), None) => {
            // In E.164, as Twilio's API takes it and shows it in the console.
            TwilioSender::From(
                PhoneNumber::from_e164(&from).map_err(|e| ConfigError::Invalid {
                    name: "TWILIO_FROM",
                    reason: e.to_string(),
                })?,
            )
        }
        (None, None) => {
            return Err(missing(
                "TWILIO_FROM",
                "set TWILIO_FROM (the sending number) or TWILIO_MESSAGING_SERVICE_SID",
            ));
        }
    };
    let api_url = match var(src, "TWILIO_API_URL") {
        Some(u) => BaseUrl::parse("TWILIO_API_URL", &u)?,
        None => BaseUrl("https://api.twilio.com".into()),
    };
    Ok(Some(TwilioConfig {
        account_sid,
        auth_token,
        previous_auth_token,
        sender,
        api_url,
    }))
}
