//! `PhoneNumber`: an E.164 number, parsed once with libphonenumber's metadata.
//!
//! Crate choice: `phonenumber` is the maintained Rust port of Google's libphonenumber. It costs
//! ~0.5 MB of metadata in the binary, decoded lazily on first use; a hand-written normaliser would
//! get national prefixes, country codes and lengths wrong for somebody. We check that a number is
//! *possible* (a known country code and a plausible length), not that it is assigned: Twilio test
//! numbers and fictional 555 numbers are possible but not "valid", and Twilio itself decides
//! deliverability.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The country used to read numbers written without a `+country` prefix, e.g. `(555) 123-4567`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultCountry(phonenumber::country::Id);

impl DefaultCountry {
    pub const US: DefaultCountry = DefaultCountry(phonenumber::country::Id::US);

    /// From an ISO 3166-1 alpha-2 code such as `US`, `GB`, `DE`.
    pub fn parse(code: &str) -> Option<Self> {
        code.trim().to_ascii_uppercase().parse().ok().map(Self)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPhoneNumber {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number is not a phone number (expected e.g. +15551234567)")]
    NotANumber,
    #[error("phone number has no country code and no default country is configured")]
    NoCountry,
    #[error("phone number has an unknown country code")]
    UnknownCountry,
    #[error("phone number has {0} digits, which is not a possible length for its country")]
    ImpossibleLength(usize),
}

/// A phone number in E.164 form (`+15551234567`). Display masks nothing: use [`PhoneNumber::masked`]
/// in logs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses what a person or a provider wrote. Without a `+`, the number is read in
    /// `default_country` (`15551234567` in the US is `+15551234567`); with no default country a
    /// `+` is required.
    pub fn parse(
        raw: &str,
        default_country: Option<DefaultCountry>,
    ) -> Result<Self, InvalidPhoneNumber> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidPhoneNumber::Empty);
        }
        // Reject early what cannot be a number at all: letters other than an extension marker make
        // libphonenumber try "vanity" decoding (1-800-FLOWERS), which we do not want for customers.
        if s.chars().any(|c| c.is_alphabetic()) {
            return Err(InvalidPhoneNumber::NotANumber);
        }
        let country = default_country.map(|c| c.0);
        if country.is_none() && !s.starts_with('+') {
            // Reading bare digits as international would be a guess (`5551234567` would become a
            // Brazilian number), so without a default country a `+` is required.
            return Err(InvalidPhoneNumber::NoCountry);
        }
        let parsed = phonenumber::parse(country, s).map_err(|e| match e {
            phonenumber::ParseError::InvalidCountryCode => InvalidPhoneNumber::UnknownCountry,
            _ => InvalidPhoneNumber::NotANumber,
        })?;
        // By country code, not `parsed.metadata()`: that one resolves the region from an
        // assigned number range, so it finds nothing for possible-but-unassigned numbers.
        let meta = phonenumber::metadata::DATABASE
            .by_code(&parsed.code().value())
            .and_then(|m| m.into_iter().next())
            .ok_or(InvalidPhoneNumber::UnknownCountry)?;
        let national = parsed.national().to_string();
        let len = national.len() as u16;
        // The metadata keeps possible lengths per number type (general is often empty); a number
        // is possible when some type of its country allows its length.
        let d = meta.descriptors();
        let possible = [
            Some(d.general()),
            d.fixed_line(),
            d.mobile(),
            d.toll_free(),
            d.premium_rate(),
            d.shared_cost(),
            d.personal_number(),
            d.voip(),
            d.pager(),
            d.uan(),
            d.voicemail(),
        ]
        .into_iter()
        .flatten()
        .any(|desc| desc.possible_length().contains(&len));
        if !possible {
            return Err(InvalidPhoneNumber::ImpossibleLength(len as usize));
        }
        Ok(Self(format!("+{}{}", parsed.code().value(), national)))
    }

    /// The E.164 form, `+15551234567`.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// For logs: the first two and last two characters only (`+1********67`).
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }

    /// The number without the `+` (`15551234567`): one of the forms Creatio may hold it in.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// The ways a CRM user may have typed this number into a contact: E.164, digits only,
    /// national (`(555) 123-4567`), national digits (`5551234567`), international
    /// (`+1 555-123-4567`). Formatting is libphonenumber's, through `phonenumber`.
    pub fn stored_forms(&self) -> Vec<String> {
        let mut forms = vec![self.0.clone(), self.digits().to_owned()];
        if let Ok(p) = phonenumber::parse(None, &self.0) {
            forms.push(p.national().to_string());
            for mode in [
                phonenumber::Mode::National,
                phonenumber::Mode::International,
            ] {
                forms.push(p.format().mode(mode).to_string());
            }
        }
        let mut seen = std::collections::HashSet::new();
        forms.retain(|f| seen.insert(f.clone()));
        forms
    }
}

/// Masks any phone-like string for logs, keeping the first two and last two characters.
pub fn mask_phone(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 4 {
        return "*".repeat(chars.len());
    }
    let mut out = String::with_capacity(chars.len());
    for (i, c) in chars.iter().enumerate() {
        if i < 2 || i + 2 >= chars.len() {
            out.push(*c);
        } else {
            out.push('*');
        }
    }
    out
}

impl fmt::Debug for PhoneNumber {
    // Debug is what ends up in logs by accident: mask it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = InvalidPhoneNumber;
    /// Stored values are already E.164; anything else is re-parsed strictly (no default country).
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s, None)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Option<DefaultCountry> = Some(DefaultCountry::US);

    #[test]
    fn stored_forms_cover_how_people_type_numbers() {
        let p = PhoneNumber::parse("+15551234567", None).unwrap();
        assert_eq!(
            p.stored_forms(),
            [
                "+15551234567",
                "15551234567",
                "5551234567",
                "(555) 123-4567",
                "+1 555-123-4567"
            ]
        );
    }

    #[test]
    fn the_same_number_written_three_ways_is_one_number() {
        let a = PhoneNumber::parse("(555) 123-4567", US).unwrap();
        let b = PhoneNumber::parse("+1 555 123 4567", US).unwrap();
        let c = PhoneNumber::parse("15551234567", US).unwrap();
        let e = PhoneNumber::parse("+1-555-123-4567", None).unwrap();
        assert_eq!(a.as_e164(), "+15551234567");
        for other in [&b, &c, &e] {
            assert_eq!(&a, other);
        }
    }

    #[test]
    fn other_countries_normalise() {
        let uk = PhoneNumber::parse("07700 900123", DefaultCountry::parse("gb")).unwrap();
        assert_eq!(uk.as_e164(), "+447700900123");
        let de = PhoneNumber::parse("+49 30 901820", US).unwrap();
        assert_eq!(de.as_e164(), "+4930901820");
    }

    #[test]
    fn garbage_is_rejected_with_a_clear_error() {
        assert_eq!(PhoneNumber::parse("", US), Err(InvalidPhoneNumber::Empty));
        assert_eq!(
            PhoneNumber::parse("   ", US),
            Err(InvalidPhoneNumber::Empty)
        );
        assert_eq!(
            PhoneNumber::parse("hello", US),
            Err(InvalidPhoneNumber::NotANumber)
        );
        assert_eq!(
            PhoneNumber::parse("1-800-FLOWERS", US),
            Err(InvalidPhoneNumber::NotANumber)
        );
        assert_eq!(
            PhoneNumber::parse("+1' or 1 eq 1", US),
            Err(InvalidPhoneNumber::NotANumber)
        );
        assert!(matches!(
            PhoneNumber::parse("123", US),
            Err(InvalidPhoneNumber::NotANumber | InvalidPhoneNumber::ImpossibleLength(_))
        ));
        assert!(matches!(
            PhoneNumber::parse("+1 555 123 4567 8901 2345", US),
            Err(InvalidPhoneNumber::ImpossibleLength(_) | InvalidPhoneNumber::NotANumber)
        ));
        assert!(PhoneNumber::parse("+999 1234567", US).is_err());
        assert_eq!(
            PhoneNumber::parse("5551234567", None),
            Err(InvalidPhoneNumber::NoCountry)
        );
        assert_eq!(
            PhoneNumber::parse("15551234567", None),
            Err(InvalidPhoneNumber::NoCountry)
        );
        let err = PhoneNumber::parse("+1 555", US).unwrap_err();
        assert!(err.to_string().starts_with("phone number"), "{err}");
    }

    #[test]
    fn logs_see_a_masked_number() {
        let p = PhoneNumber::parse("+15551234567", None).unwrap();
        assert_eq!(p.masked(), "+1********67");
        assert_eq!(format!("{p:?}"), "PhoneNumber(+1********67)");
        assert!(!format!("{p:?}").contains("555123"));
    }

    #[test]
    fn stored_form_round_trips_through_serde() {
        let p = PhoneNumber::parse("(555) 123-4567", US).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"+15551234567\"");
        assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), p);
    }
}
