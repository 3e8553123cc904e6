//! casebridge: the common crate of the casebridge Lambda functions.
//!
//! An AI assistant answers customers on SMS and in a website chat widget; when it cannot resolve
//! the conversation it hands it to a person in Creatio CRM as a case, and the rep's replies go
//! back on the same channel. Each Lambda function is a thin crate under `functions/`; everything
//! they share lives here:
//!
//! - [`domain`]: sessions, messages, identities, ids, the session state machine. No AWS types.
//! - [`store`]: the `Store` trait and its DynamoDB and in-memory implementations.
//! - [`assistant`]: the assistant seam (rules, OpenAI-compatible) and the handoff policy.
//! - [`conversation`]: one customer turn (the message and the assistant's answer stored in one
//!   write) and the answer to a message delivered again, the same for both channels.
//! - [`replies`]: a rep's reply from Creatio to the customer: the outbox, the delivery, the
//!   catch-up and case closure.
//! - [`knowledge`]: the team's help articles, indexed for the assistant to answer from.
//! - [`actions`]: lookups in the team's own systems (order status…), with parameters bound to
//!   who the customer is, answered as text and as a widget card.
//! - [`config`]: typed configuration from the environment.
//! - [`sms`]: Twilio signatures, compliance keywords, sending with consent.
//! - [`widget`]: widget session tokens, the site's identity JWT, signed links, file checks.
//! - [`routes`]: the route tables each HTTP function declares once.
//! - [`telemetry`]: JSON logging setup; [`metrics`]: CloudWatch EMF lines for alarms.
//! - [`aws`]: SDK clients on the workspace's one TLS stack; [`s3`] and [`ssm`]: the few S3 and
//!   Parameter Store calls, signed with `aws-sigv4` over the same HTTP client; [`secrets`]: the
//!   secrets a function reads from Parameter Store instead of its environment; [`cloudwatch`]:
//!   the stack's alarms, for `casebridge doctor`.

pub mod actions;
pub mod assistant;
pub mod aws;
pub mod cloudwatch;
pub mod config;
pub mod conversation;
pub mod creatio;
pub mod domain;
pub mod http;
pub mod knowledge;
pub mod metrics;
pub mod replies;
pub mod routes;
pub mod s3;
pub mod secrets;
pub mod sms;
pub mod ssm;
pub mod store;
pub mod telemetry;
pub mod widget;
