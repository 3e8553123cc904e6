//! CloudWatch, as much of it as `casebridge doctor` uses: which of the stack's alarms are in
//! alarm (`DescribeAlarms`).
//!
//! One signed request a page on the workspace's client, as [`crate::s3`] and [`crate::ssm`]:
//! CloudWatch's Query protocol (`POST /`, a form body with `Action=DescribeAlarms` and
//! `Version=2010-08-01`, an XML answer paged by `NextToken`). The template does not name its
//! alarms, so CloudFormation names them `<stack>-<logical id>-<suffix>`; the stack's are those
//! whose name starts with `<stack>-`.

use crate::aws::{Access, PostError};
use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    #[error("CloudWatch answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("CloudWatch could not be reached: {0}")]
    Transport(String),
    #[error("cannot sign the CloudWatch request: {0}")]
    Signing(String),
    #[error("CloudWatch's answer could not be read: {0}")]
    Unreadable(String),
}

/// One alarm and where it stands (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    pub name: String,
    pub state: String,
    pub reason: String,
}

impl Alarm {
    pub fn in_alarm(&self) -> bool {
        self.state == "ALARM"
    }
}

#[derive(Clone, Debug)]
pub struct CloudWatch {
    access: Access,
}

impl CloudWatch {
    pub fn new(access: Access) -> Self {
        Self { access }
    }

    /// On an operator's machine (the CLI), with the SDK's full credential chain and
    /// `AWS_ENDPOINT_URL_CLOUDWATCH` (else `AWS_ENDPOINT_URL`).
    pub async fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Access::operator(sdk, "AWS_ENDPOINT_URL_CLOUDWATCH")
            .await
            .map(Self::new)
    }

    /// A local CloudWatch (moto) with static dummy credentials: the tests use it.
    pub fn local(endpoint: &str) -> Result<Self, ConfigError> {
        Access::local(endpoint).map(Self::new)
    }

    /// Every metric alarm whose name starts with `prefix`, all pages.
    pub async fn alarms(&self, prefix: &str) -> Result<Vec<Alarm>, CloudWatchError> {
        let url = match &self.access.endpoint {
            Some(e) => format!("{e}/"),
            None => format!("https://monitoring.{}.amazonaws.com/", self.access.region),
        };
        let mut alarms = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("Action", "DescribeAlarms")
                .append_pair("Version", "2010-08-01")
                .append_pair("AlarmNamePrefix", prefix)
                .append_pair("AlarmTypes.member.1", "MetricAlarm");
            if let Some(t) = &token {
                form.append_pair("NextToken", t);
            }
            let body = form.finish();
            let headers = [(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )];
            let (status, text) = self
                .access
                .post_signed("monitoring", &url, &headers, body)
                .await
                .map_err(|e| match e {
                    PostError::Signing(e) => CloudWatchError::Signing(e),
                    PostError::Transport(e) => CloudWatchError::Transport(e),
                })?;
            if !(200..300).contains(&status) {
                let (mut code, mut message) = (String::new(), String::new());
                let _ = crate::aws::walk_xml(&text, |path, t| match (path.last(), t) {
                    (Some(&"Code"), Some(t)) => code = t.to_owned(),
                    (Some(&"Message"), Some(t)) => message = t.to_owned(),
                    _ => {}
                });
                return Err(CloudWatchError::Refused {
                    status,
                    code,
                    message,
                });
            }
            let mut next = None;
            let mut current = Alarm {
                name: String::new(),
                state: String::new(),
                reason: String::new(),
            };
            crate::aws::walk_xml(&text, |path, t| {
                let tail: Vec<&str> = path.iter().rev().take(3).copied().collect();
                match (tail.as_slice(), t) {
                    (["AlarmName", "member", "MetricAlarms"], Some(t)) => {
                        current.name = t.to_owned()
                    }
                    (["StateValue", "member", "MetricAlarms"], Some(t)) => {
                        current.state = t.to_owned()
                    }
                    (["StateReason", "member", "MetricAlarms"], Some(t)) => {
                        current.reason = t.to_owned()
                    }
                    (["member", "MetricAlarms", ..], None) => {
                        alarms.push(std::mem::replace(
                            &mut current,
                            Alarm {
                                name: String::new(),
                                state: String::new(),
                                reason: String::new(),
                            },
                        ));
                    }
                    (["NextToken", ..], Some(t)) => next = Some(t.to_owned()),
                    _ => {}
                }
            })
            .map_err(CloudWatchError::Unreadable)?;
            match next {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(alarms),
            }
        }
    }
}
