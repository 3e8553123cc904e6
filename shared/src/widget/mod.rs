//! The widget's own rules, beside its configuration section ([`config`]): the session token and
//! the site's identity JWT ([`auth`]), signed links to transcripts and files ([`links`]), what an
//! attachment's bytes must be ([`file_type`]), and the push to an open widget socket
//! ([`socket`]). The widget-inbound function is the HTTP side of these.

pub mod auth;
pub mod config;
pub mod file_type;
pub mod links;
pub mod socket;
