//! Who the customer is, as far as casebridge can prove it.
//!
//! Only proven identities match Creatio contacts: a phone number Twilio delivered from, or an email
//! the site vouched for in a signed JWT. What a visitor merely typed stays an anonymous visitor.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::phone::{PhoneNumber, mask_phone};

/// The channel a conversation runs on. Replies go back on the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Widget,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Widget => "widget",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Channel::Sms),
            "widget" => Some(Channel::Widget),
            _ => None,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An email address the site's backend vouched for (signed identity JWT).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VerifiedEmail(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email address is not valid: {0}")]
pub struct InvalidEmail(&'static str);

impl VerifiedEmail {
    /// Syntax check with `email_address` (RFC 5322 addr-spec, tiny, no dependencies), then the
    /// whole address lower-cased: `Pat@x.com` and `pat@x.com` are one customer. (RFC 5321 lets a
    /// server treat local parts case-sensitively; none of the mail providers customers use does,
    /// and two records for one person is the worse failure.)
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidEmail("empty"));
        }
        if s.len() > 254 {
            return Err(InvalidEmail("longer than 254 characters"));
        }
        let parsed: email_address::EmailAddress =
            s.parse().map_err(|_| InvalidEmail("not an address"))?;
        Ok(Self(format!(
            "{}@{}",
            parsed.local_part().to_lowercase(),
            parsed.domain().to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: first character of the local part and the domain.
    pub fn masked(&self) -> String {
        match self.0.split_once('@') {
            Some((local, domain)) => {
                format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
            }
            None => "***".into(),
        }
    }
}

impl fmt::Debug for VerifiedEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifiedEmail({})", self.masked())
    }
}

impl TryFrom<String> for VerifiedEmail {
    type Error = InvalidEmail;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<VerifiedEmail> for String {
    fn from(e: VerifiedEmail) -> String {
        e.0
    }
}

/// An anonymous widget visitor: an id casebridge issued (244 random bits, 64 hex characters),
/// which the widget keeps in the browser with the proof that goes with it
/// (`casebridge::widget::auth::visitor_proof`). The id alone resumes nothing, and what Creatio,
/// the logs and the transcript page show is [`VisitorId::label`], not the id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VisitorId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("visitor id must be 8 to 64 characters of letters, digits, '-' or '_'")]
pub struct InvalidVisitorId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "visitor_id must be one this widget issued (64 hexadecimal characters); leave it out to start as a new visitor"
)]
pub struct NotIssuedVisitorId;

impl VisitorId {
    /// The form stored in conversation keys (older ids were shorter).
    pub fn parse(raw: &str) -> Result<Self, InvalidVisitorId> {
        let ok = (8..=64).contains(&raw.len())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidVisitorId)
        }
    }

    /// What a browser may present as its visitor id: the form casebridge issues, no other.
    pub fn parse_issued(raw: &str) -> Result<Self, NotIssuedVisitorId> {
        let ok = raw.len() == 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(NotIssuedVisitorId)
        }
    }

    /// A fresh id: two version-4 UUIDs from the system's random source (244 random bits).
    pub fn new_random() -> Self {
        Self(format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// What a person may see of the visitor (a case, a contact, a log line, the transcript
    /// page): eight characters, enough to tell visitors apart, and not the id.
    pub fn label(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("visitor-label:{}", self.0).as_bytes());
        let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("visitor {hex}")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VisitorId {
    type Error = InvalidVisitorId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<VisitorId> for String {
    fn from(v: VisitorId) -> String {
        v.0
    }
}

/// The customer on the other end of a conversation.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Customer {
    Phone(PhoneNumber),
    Email(VerifiedEmail),
    Visitor(VisitorId),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored customer identity is malformed")]
pub struct InvalidCustomer;

impl Customer {
    /// Stable storage form: `tel:+15551234567`, `email:ann@example.com`, `visitor:abc123…`.
    pub fn storage_key(&self) -> String {
        match self {
            Customer::Phone(p) => format!("tel:{}", p.as_e164()),
            Customer::Email(e) => format!("email:{}", e.as_str()),
            Customer::Visitor(v) => format!("visitor:{}", v.as_str()),
        }
    }

    pub fn from_storage_key(s: &str) -> Result<Self, InvalidCustomer> {
        let (kind, value) = s.split_once(':').ok_or(InvalidCustomer)?;
        match kind {
            "tel" => PhoneNumber::from_e164(value)
                .map(Customer::Phone)
                .map_err(|_| InvalidCustomer),
            "email" => VerifiedEmail::parse(value)
                .map(Customer::Email)
                .map_err(|_| InvalidCustomer),
            "visitor" => VisitorId::parse(value)
                .map(Customer::Visitor)
                .map_err(|_| InvalidCustomer),
            _ => Err(InvalidCustomer),
        }
    }

    /// For logs and spans.
    pub fn masked(&self) -> String {
        match self {
            Customer::Phone(p) => p.masked(),
            Customer::Email(e) => e.masked(),
            Customer::Visitor(v) => v.label(),
        }
    }
}

/// Where a conversation happens: channel, customer, and our side (the Twilio number the customer
/// texted, or the widget's site id). At most one session per key is active at a time.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ConversationKey {
    pub channel: Channel,
    pub customer: Customer,
    pub endpoint: String,
}

impl ConversationKey {
    pub fn new(channel: Channel, customer: Customer, endpoint: impl Into<String>) -> Self {
        Self {
            channel,
            customer,
            endpoint: endpoint.into(),
        }
    }

    /// One string for storage keys. `|` cannot occur in a customer key or an E.164 number.
    pub fn storage_key(&self) -> String {
        format!(
            "{}|{}|{}",
            self.channel,
            self.customer.storage_key(),
            self.endpoint
        )
    }

    pub fn from_storage_key(s: &str) -> Result<Self, InvalidCustomer> {
        let mut parts = s.splitn(3, '|');
        let channel = parts
            .next()
            .and_then(Channel::parse)
            .ok_or(InvalidCustomer)?;
        let customer = Customer::from_storage_key(parts.next().ok_or(InvalidCustomer)?)?;
        let endpoint = parts.next().ok_or(InvalidCustomer)?.to_owned();
        Ok(Self {
            channel,
            customer,
            endpoint,
        })
    }

    /// For logs: masks the customer and, for SMS, our number too.
    pub fn masked(&self) -> String {
        let endpoint = match self.channel {
            Channel::Sms => mask_phone(&self.endpoint),
            Channel::Widget => self.endpoint.clone(),
        };
        format!("{}|{}|{}", self.channel, self.customer.masked(), endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_parse_and_compare_case_insensitively() {
        let e = VerifiedEmail::parse(" Ann.Lee@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ann.lee@example.com");
        assert_eq!(e, VerifiedEmail::parse("ann.lee@example.com").unwrap());
        assert_eq!(e.masked(), "a***@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "a b@example.com"] {
            assert!(VerifiedEmail::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn visitor_ids_are_bounded_and_plain() {
        assert!(VisitorId::parse("abcdef12").is_ok());
        let issued = VisitorId::new_random();
        assert!(VisitorId::parse(&issued.0).is_ok());
        assert_eq!(VisitorId::parse_issued(&issued.0), Ok(issued.clone()));
        for chosen in [
            "weakid01",
            "device-phone-1",
            &"A".repeat(64),
            &"0".repeat(63),
        ] {
            assert!(VisitorId::parse_issued(chosen).is_err(), "{chosen}");
        }
        assert_ne!(VisitorId::new_random(), VisitorId::new_random());
        // The label shows nothing of the id.
        let label = issued.label();
        assert!(
            label.starts_with("visitor ") && label.len() == 16,
            "{label}"
        );
        assert!(!issued.0.contains(&label[8..]));
        assert_eq!(Customer::Visitor(issued.clone()).masked(), label);
        for bad in ["short", "has space here", "quote'in", &"x".repeat(65)] {
            assert!(VisitorId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conversation_keys_round_trip() {
        let key = ConversationKey::new(
            Channel::Sms,
            Customer::Phone(PhoneNumber::parse("+15551234567", None).unwrap()),
            "+15557654321",
        );
        assert_eq!(key.storage_key(), "sms|tel:+15551234567|+15557654321");
        assert_eq!(
            ConversationKey::from_storage_key(&key.storage_key()).unwrap(),
            key
        );
        assert!(!key.masked().contains("1234567"));
        let w = ConversationKey::new(
            Channel::Widget,
            Customer::Email(VerifiedEmail::parse("ann@example.com").unwrap()),
            "site-1",
        );
        assert_eq!(
            ConversationKey::from_storage_key(&w.storage_key()).unwrap(),
            w
        );
        assert!(ConversationKey::from_storage_key("fax|tel:+1|x").is_err());
    }
}
