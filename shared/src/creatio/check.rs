//! The connection check behind the operator CLI's `doctor`: sign in (finding the identity server
//! when it must be found), read one row each of Case, Activity, Contact and ContactCommunication
//! (what casebridge reads and writes), and say what failed in words an admin can act on: the
//! setting to fix, or the object and the right to grant.

use super::{CreatioClient, CreatioError};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStep {
    pub what: String,
    /// `Ok(())`, or what to do about it.
    pub outcome: Result<(), String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    pub steps: Vec<CheckStep>,
}

impl ConnectionReport {
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.outcome.is_ok())
    }
}

impl std::fmt::Display for ConnectionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.steps {
            match &s.outcome {
                Ok(()) => writeln!(f, "ok    {}", s.what)?,
                Err(why) => writeln!(f, "FAIL  {}: {why}", s.what)?,
            }
        }
        Ok(())
    }
}

impl CreatioClient {
    pub async fn check_connection(&self) -> ConnectionReport {
        let sign_in = match self.auth.current(&self.http).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(&e)),
        };
        let signed_in = sign_in.is_ok();
        let mut steps = vec![CheckStep {
            what: "sign in".into(),
            outcome: sign_in,
        }];
        if signed_in {
            for entity in ["Case", "Activity", "Contact", "ContactCommunication"] {
                let outcome = match self.query(entity, None, &["Id"], Some(1)).await {
                    Ok(_) => Ok(()),
                    Err(e) => Err(self.explain(&e)),
                };
                steps.push(CheckStep {
                    what: format!("read one {entity}"),
                    outcome,
                });
            }
        }
        ConnectionReport { steps }
    }

    fn explain(&self, e: &CreatioError) -> String {
        match e {
            CreatioError::Transport(m) => {
                format!("cannot reach Creatio ({m}): check CREATIO_URL and that the instance is up")
            }
            CreatioError::Auth(m) => m.clone(),
            CreatioError::Api { status: 404, .. } => format!(
                "no OData service at {}: if this is a .NET Core / .NET 6+ instance set CREATIO_NETCORE=true, otherwise set it to false",
                self.odata_root()
            ),
            // Names the entity and the right to grant.
            e @ CreatioError::NoAccess { .. } => e.to_string(),
            other => other.to_string(),
        }
    }
}
