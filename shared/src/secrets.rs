//! Secrets out of the Lambda environment: SSM Parameter Store SecureStrings, named by
//! `<SECRET>_PARAMETER` variables, read once per container and refreshed on a bound.
//!
//! - **Which.** The seven secrets in [`SECRETS`]. For each, a deployment sets either the value
//!   (`CREATIO_PASSWORD`: the local stack and the tests) or the name of a SecureString parameter
//!   holding it (`CREATIO_PASSWORD_PARAMETER=/casebridge/prod/creatio-password`: template.yaml
//!   sets only these). Both at once is a start-up error, as is a name that is not a path.
//! - **Why Parameter Store, not Secrets Manager.** Standard SecureString parameters cost nothing
//!   to keep; Secrets Manager charges per secret per month and per 10,000 calls, and its automatic
//!   rotation needs a rotation function per secret, which none of these secrets (a Creatio
//!   password, a Twilio token, HMAC keys) has: people rotate them. One `GetParameters` request
//!   reads all seven (up to 10 names a request), where Secrets Manager is one call per secret.
//!   Encrypted with the account's `aws/ssm` key, whose policy lets the account's principals
//!   decrypt; a customer key needs `kms:Decrypt` (template.yaml's `SecretsKeyArn`).
//! - **When.** [`load`] reads them before the configuration is parsed, so a missing parameter
//!   stops the start-up naming its variable and parameter. [`Live`] keeps the dependencies built
//!   from them and, on the first invocation after `CASEBRIDGE_SECRETS_REFRESH_SECONDS` (default
//!   300), asks SSM again (one request); when a version changed it rebuilds them from the new
//!   values. A rotated secret is therefore in use within that bound in every warm container (a
//!   new container reads the new value at once).
//! - **Never logged.** Values live in `SecretString`s and [`crate::ssm::Parameter`]'s `Debug`
//!   leaves them out; logs name variables, parameters and versions only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::aws::LambdaEnv;
use crate::config::source::{positive, var};
use crate::config::{Config, ConfigError, Source};
use crate::ssm::Ssm;

/// Each secret variable, and the variable that may name its SSM parameter instead.
pub const SECRETS: [(&str, &str); 7] = [
    ("CREATIO_PASSWORD", "CREATIO_PASSWORD_PARAMETER"),
    ("CREATIO_CLIENT_SECRET", "CREATIO_CLIENT_SECRET_PARAMETER"),
    ("CREATIO_WEBHOOK_TOKEN", "CREATIO_WEBHOOK_TOKEN_PARAMETER"),
    ("TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN_PARAMETER"),
    ("WIDGET_SECRET", "WIDGET_SECRET_PARAMETER"),
    ("WIDGET_IDENTITY_SECRET", "WIDGET_IDENTITY_SECRET_PARAMETER"),
    ("OPENAI_API_KEY", "OPENAI_API_KEY_PARAMETER"),
];

/// A secret to read: its variable, the variable that named it, the parameter.
#[derive(Debug, Clone)]
struct Named {
    secret: &'static str,
    variable: &'static str,
    parameter: String,
}

/// The parameters the environment names, checked.
fn named(env: &dyn Source) -> Result<Vec<Named>, ConfigError> {
    let mut out = Vec::new();
    for (secret, variable) in SECRETS {
        let Some(parameter) = var(env, variable) else {
            continue;
        };
        if var(env, secret).is_some() {
            return Err(ConfigError::Invalid {
                name: variable,
                reason: format!("{secret} is set too; set one of them"),
            });
        }
        let path = parameter.starts_with('/')
            && parameter.len() > 1
            && parameter
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
        if !path && !parameter.starts_with("arn:") {
            return Err(ConfigError::Invalid {
                name: variable,
                reason: format!(
                    "{parameter:?} is not a parameter path such as /casebridge/prod/{}",
                    secret.to_ascii_lowercase().replace('_', "-")
                ),
            });
        }
        out.push(Named {
            secret,
            variable,
            parameter,
        });
    }
    Ok(out)
}

/// The values read, by secret variable, and the versions they had.
struct Values {
    values: HashMap<&'static str, SecretString>,
    versions: Vec<i64>,
}

async fn fetch(ssm: &Ssm, named: &[Named]) -> Result<Values, ConfigError> {
    let names: Vec<String> = named.iter().map(|n| n.parameter.clone()).collect();
    let found = ssm
        .get_parameters(&names)
        .await
        .map_err(|e| ConfigError::Invalid {
            name: named[0].variable,
            reason: format!("SSM Parameter Store could not be read: {e}"),
        })?;
    let mut values = HashMap::new();
    let mut versions = Vec::new();
    for n in named {
        let Some(p) = found.parameters.get(&n.parameter) else {
            return Err(ConfigError::Invalid {
                name: n.variable,
                reason: format!(
                    "SSM Parameter Store has no parameter {:?} (create it as a SecureString)",
                    n.parameter
                ),
            });
        };
        values.insert(n.secret, SecretString::from(p.value.clone()));
        versions.push(p.version);
    }
    Ok(Values { values, versions })
}

/// The environment with the secrets read from SSM in place of their `_PARAMETER` variables.
struct WithSecrets<'a> {
    env: &'a (dyn Source + Sync),
    values: &'a HashMap<&'static str, SecretString>,
}

impl Source for WithSecrets<'_> {
    fn get(&self, name: &str) -> Option<String> {
        match self.values.get(name) {
            Some(v) => Some(v.expose_secret().to_owned()),
            None => self.env.get(name),
        }
    }
}

/// Where the secrets came from, to read them again.
pub struct Secrets {
    ssm: Ssm,
    named: Vec<Named>,
    every: Duration,
    state: tokio::sync::Mutex<Checked>,
}

struct Checked {
    versions: Vec<i64>,
    at: Instant,
}

/// The configuration, with the secrets the environment names read from SSM (one request), and
/// what it takes to read them again (None when no secret is named: nothing to refresh).
pub async fn load(env: &(dyn Source + Sync)) -> Result<(Config, Option<Secrets>), ConfigError> {
    load_with(env, || async {
        Ssm::from_lambda_env(&LambdaEnv::from_env(env)?)
    })
    .await
}

/// [`load`] with an SSM client made by `ssm`, only when a secret is named (the CLI makes one
/// from the SDK's full credential chain).
pub async fn load_with<F, Fut>(
    env: &(dyn Source + Sync),
    ssm: F,
) -> Result<(Config, Option<Secrets>), ConfigError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Ssm, ConfigError>>,
{
    let named = named(env)?;
    if named.is_empty() {
        return Ok((Config::from_source(env)?, None));
    }
    let every =
        Duration::from_secs(positive(env, "CASEBRIDGE_SECRETS_REFRESH_SECONDS", 300)? as u64);
    let ssm = ssm().await?;
    let values = fetch(&ssm, &named).await?;
    let config = Config::from_source(&WithSecrets {
        env,
        values: &values.values,
    })?;
    tracing::info!(
        parameters = named.len(),
        "secrets read from SSM Parameter Store"
    );
    Ok((
        config,
        Some(Secrets {
            ssm,
            named,
            every,
            state: tokio::sync::Mutex::new(Checked {
                versions: values.versions,
                at: Instant::now(),
            }),
        }),
    ))
}

impl Secrets {
    /// The same, refreshed every `every` instead of the configured interval (the tests).
    pub fn refreshing_every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// A new configuration when the refresh is due and a secret's version changed; None
    /// otherwise. A failed read or a configuration the new values break is logged and the
    /// secrets in use are kept (checked again after the interval).
    pub async fn refreshed(&self, env: &(dyn Source + Sync)) -> Option<Config> {
        let mut checked = self.state.lock().await;
        if checked.at.elapsed() < self.every {
            return None;
        }
        checked.at = Instant::now();
        let values = match fetch(&self.ssm, &self.named).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "secrets not refreshed; keeping the ones in use");
                return None;
            }
        };
        if values.versions == checked.versions {
            return None;
        }
        match Config::from_source(&WithSecrets {
            env,
            values: &values.values,
        }) {
            Ok(config) => {
                tracing::info!(versions = ?values.versions, "a secret was rotated; using the new values");
                checked.versions = values.versions;
                Some(config)
            }
            Err(e) => {
                tracing::error!(error = %e, "rotated secrets make a bad configuration; keeping the ones in use");
                None
            }
        }
    }
}

/// A function's dependencies, rebuilt when its secrets rotate: [`Live::get`] on every
/// invocation (invocations of one container never overlap, so a rebuild waits for none).
pub struct Live<D> {
    deps: std::sync::Mutex<Arc<D>>,
    secrets: Option<Secrets>,
}

impl<D> Live<D> {
    pub fn new(deps: D, secrets: Option<Secrets>) -> Self {
        Self {
            deps: std::sync::Mutex::new(Arc::new(deps)),
            secrets,
        }
    }

    /// The dependencies to use now: rebuilt with `build` first when the secrets rotated (a
    /// build that fails is logged and the old dependencies kept).
    pub async fn get(
        &self,
        env: &(dyn Source + Sync),
        build: impl FnOnce(&Config) -> Result<D, ConfigError>,
    ) -> Arc<D> {
        if let Some(secrets) = &self.secrets
            && let Some(config) = secrets.refreshed(env).await
        {
            match build(&config) {
                Ok(deps) => *self.lock() = Arc::new(deps),
                Err(e) => {
                    tracing::error!(error = %e, "dependencies not rebuilt with the rotated secrets")
                }
            }
        }
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<D>> {
        self.deps.lock().unwrap_or_else(|e| e.into_inner())
    }
}
