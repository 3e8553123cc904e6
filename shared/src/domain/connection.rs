//! API Gateway's id for one of the widget's sockets, and how long a socket lives: the store
//! keeps a socket item per open connection (`crate::widget::socket` pushes to them).

/// How long a connection item is kept: API Gateway closes every connection after 2 hours.
pub const CONNECTION_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_hours(2);

/// API Gateway's id for one socket (`L0SM9cOFvHcCIhw=`): 1 to 128 characters of base64 and
/// `-`/`_`, so it is safe in a key and a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 128
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("a connection id is 1 to 128 characters of base64".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
