//! Identifiers that cross a trust boundary: parsed once, then impossible to hold in a bad state.
//!
//! `SessionId` is ours (random UUIDv4, rendered lower-case hyphenated). `CaseId`, `ContactId` and
//! `ActivityId` are Creatio record ids; Creatio's business processes send them with or without
//! braces and in either case, so parsing accepts all of those and rendering is canonical.
//!
//! The case and activity ids casebridge writes are *deterministic* (UUIDv5 of the session id and
//! message seq; docs/design-choices.md): a retried create finds its own record, and the reply
//! webhook recognises activities casebridge wrote by id, which stops echo loops.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace for casebridge's UUIDv5 ids. A fixed random UUID: changing it would orphan every
/// case already written, so it never changes.
const CASEBRIDGE_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_3c2e_8b4a_4c1e_9d7e_2a5b_0c3f_1e77);

/// A GUID from outside was not a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{kind} must be a GUID like 3e7f420c-f46b-1410-fc9a-0050ba5d6c38, got {len} characters that are not one"
)]
pub struct InvalidId {
    kind: &'static str,
    len: usize,
}

/// Parses a GUID as Creatio and its processes render it: hyphenated, optional braces, any case.
fn parse_guid(kind: &'static str, raw: &str) -> Result<Uuid, InvalidId> {
    let s = raw.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(s);
    // Only the hyphenated form: `Uuid::parse_str` would also take a urn or a bare 32-digit form,
    // which no Creatio surface sends, and accepting more than we must only widens the input space.
    if s.len() != 36 {
        return Err(InvalidId {
            kind,
            len: raw.len(),
        });
    }
    Uuid::try_parse(s).map_err(|_| InvalidId {
        kind,
        len: raw.len(),
    })
}

macro_rules! guid_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                parse_guid($kind, raw).map(Self)
            }
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.to_string()
            }
        }
    };
}

guid_type!(
    /// One conversation with one customer on one channel, from first message to close.
    SessionId,
    "session id"
);
guid_type!(
    /// A Creatio Case record id.
    CaseId,
    "case id"
);
guid_type!(
    /// A Creatio Contact record id.
    ContactId,
    "contact id"
);
guid_type!(
    /// A Creatio Activity record id.
    ActivityId,
    "activity id"
);
guid_type!(
    /// Any Creatio lookup row (status, origin, priority, owner, group…).
    LookupId,
    "lookup id"
);

impl SessionId {
    /// A fresh random session id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The Creatio case this session becomes: the same session always maps to the same case.
    pub fn case_id(&self) -> CaseId {
        CaseId(Uuid::new_v5(
            &CASEBRIDGE_NAMESPACE,
            format!("case:{}", self.0).as_bytes(),
        ))
    }

    /// The Creatio activity for message `seq` of this session.
    pub fn activity_id(&self, seq: u64) -> ActivityId {
        ActivityId(Uuid::new_v5(
            &CASEBRIDGE_NAMESPACE,
            format!("activity:{}:{seq}", self.0).as_bytes(),
        ))
    }

    /// The activity for the `n`-th note casebridge adds on its own (handoff notes, delivery
    /// failures), numbered per session so that a retry writes the same id again.
    pub fn note_activity_id(&self, key: &str) -> ActivityId {
        ActivityId(Uuid::new_v5(
            &CASEBRIDGE_NAMESPACE,
            format!("note:{}:{key}", self.0).as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_parse_with_braces_and_any_case_and_render_canonically() {
        let a = CaseId::parse("3e7f420c-f46b-1410-fc9a-0050ba5d6c38").unwrap();
        let b = CaseId::parse("{3E7F420C-F46B-1410-FC9A-0050BA5D6C38}").unwrap();
        let c = CaseId::parse("  3E7F420C-f46b-1410-FC9A-0050ba5d6c38 ").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(b.to_string(), "3e7f420c-f46b-1410-fc9a-0050ba5d6c38");
    }

    #[test]
    fn garbage_ids_are_rejected_naming_the_kind() {
        for bad in [
            "",
            "{}",
            "not-a-guid",
            "3e7f420cf46b1410fc9a0050ba5d6c38",
            "urn:uuid:3e7f420c-f46b-1410-fc9a-0050ba5d6c38",
            "{3e7f420c-f46b-1410-fc9a-0050ba5d6c38",
            "3e7f420c-f46b-1410-fc9a-0050ba5d6c3g",
        ] {
            let err = CaseId::parse(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("case id must be a GUID"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn deterministic_ids_are_stable_and_distinct() {
        let s = SessionId::parse("0b5f3a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
        assert_eq!(s.case_id(), s.case_id());
        assert_eq!(s.activity_id(3), s.activity_id(3));
        assert_ne!(s.activity_id(3), s.activity_id(4));
        assert_ne!(s.case_id().as_uuid(), s.activity_id(0).as_uuid());
        let other = SessionId::new_random();
        assert_ne!(s.case_id(), other.case_id());
        // Pinned: a change of namespace or of the derivation would orphan every case in production.
        assert_eq!(
            s.case_id().to_string(),
            CaseId::from_uuid(Uuid::new_v5(
                &CASEBRIDGE_NAMESPACE,
                b"case:0b5f3a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
            ))
            .to_string()
        );
    }

    #[test]
    fn serde_round_trips_through_strings() {
        let s = SessionId::new_random();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        let back: SessionId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert!(serde_json::from_str::<SessionId>("\"nope\"").is_err());
    }
}
