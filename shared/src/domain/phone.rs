//! `PhoneNumber`: an E.164 number, parsed once with libphonenumber's metadata.
//!
//! Crate choice: `phonenumber` is the maintained Rust port of Google's libphonenumber. It costs
//! ~0.5 MB of metadata in the binary, decoded lazily on first use; a hand-written normaliser would
//! get national prefixes, country codes and lengths wrong for somebody. We check that a number is
//! *possible* (a known country code and a plausible length), not that it is assigned: Twilio test
//! numbers and fictional 555 numbers are possible but not "valid", and Twilio itself decides
//! deliverability.
//!
//! Cold start: the crate's metadata is decoded on first use, and decoding checks the syntax of
//! every region's patterns: 84 ms on the bench machine (`scripts/bench`), about 50 times a
//! hello-world Lambda's whole init. Numbers that arrive already in E.164 form (`+15551234567`:
//! everything Twilio sends, every stored value, `TWILIO_FROM`) therefore take a fast path over a
//! table of calling codes and possible lengths generated *from that same metadata*
//! ([`super::phone_codes`]). The fast path only ever accepts; for anything it is not sure of (a
//! national prefix, a region with prefix-rewriting rules, a leading zero, any punctuation) it
//! defers to the crate. Two tests keep it honest: the table must equal what the crate's metadata
//! says today, and every number the fast path accepts must parse to the same value through the
//! crate.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::phone_codes::CALLING_CODES;

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
    #[error("phone number is not in E.164 form (expected e.g. +15551234567)")]
    NotE164,
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
        match Self::parse_e164(s) {
            Some(number) => Ok(number),
            None => Self::parse_with_metadata(s, default_country),
        }
    }

    /// A number already in E.164 form, as Twilio sends it and as casebridge stores it: `+`, a
    /// known calling code, at most 15 digits in all, nothing else. It is not checked again
    /// against the numbering plan: that needs the `phonenumber` crate's metadata and its regex
    /// engine (about 1 MB of a function's binary), which a function that never reads a number a
    /// person typed should not carry. Numbers people type go through [`PhoneNumber::parse`].
    pub fn from_e164(s: &str) -> Result<Self, InvalidPhoneNumber> {
        let s = s.trim();
        if s.is_empty() {
            return Err(InvalidPhoneNumber::Empty);
        }
        let digits = s.strip_prefix('+').ok_or(InvalidPhoneNumber::NotE164)?;
        if !(2..=15).contains(&digits.len())
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(InvalidPhoneNumber::NotE164);
        }
        let known = (1..=3).any(|n| {
            digits[..n]
                .parse::<u16>()
                .is_ok_and(|v| CALLING_CODES.binary_search_by_key(&v, |c| c.code).is_ok())
        });
        if !known {
            return Err(InvalidPhoneNumber::UnknownCountry);
        }
        Ok(Self(s.to_owned()))
    }

    /// The general path: whatever a person may type, read with libphonenumber's rules.
    fn parse_with_metadata(
        s: &str,
        default_country: Option<DefaultCountry>,
    ) -> Result<Self, InvalidPhoneNumber> {
        // Reject early what cannot be a number at all: letters other than an extension marker make
        // libphonenumber try "vanity" decoding (1-800-FLOWERS), which we do not want for customers.
        if s.chars().any(|c| c.is_alphabetic()) {
            return Err(InvalidPhoneNumber::NotANumber);
        }
        let international = s.starts_with('+');
        if default_country.is_none() && !international {
            // Reading bare digits as international would be a guess (`5551234567` would become a
            // Brazilian number), so without a default country a `+` is required.
            return Err(InvalidPhoneNumber::NoCountry);
        }
        // With a `+` the number names its own country: the default country must not take part
        // (the crate would otherwise strip the *default* country's national prefix from it).
        let country = default_country.filter(|_| !international).map(|c| c.0);
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
        if !possible_lengths(meta).contains(&len) {
            return Err(InvalidPhoneNumber::ImpossibleLength(len as usize));
        }
        let e164 = format!("+{}{}", parsed.code().value(), national);
        // E.164 numbers have at most 15 digits; longer ones (some metadata lengths reach 17)
        // could not be stored and read back ([`PhoneNumber::from_e164`]).
        if e164.len() > 16 {
            return Err(InvalidPhoneNumber::ImpossibleLength(len as usize));
        }
        Ok(Self(e164))
    }

    /// The fast path for a number already in E.164 form: `+`, a calling code, a national number
    /// of a possible length for it, nothing else. `None` means "ask the crate", never "invalid".
    fn parse_e164(s: &str) -> Option<Self> {
        let digits = s.strip_prefix('+')?;
        // E.164 allows at most 15 digits; longer ones (some metadata lengths reach 17) defer.
        let e164 = digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit());
        if !e164 || digits.starts_with('0') {
            return None;
        }
        // Calling codes are a prefix code (no code is the start of another), so the first of the
        // 1-, 2- and 3-digit prefixes that is a code is the code.
        let code = (1..=3.min(digits.len())).find_map(|n| {
            let value: u16 = digits[..n].parse().ok()?;
            let i = CALLING_CODES
                .binary_search_by_key(&value, |c| c.code)
                .ok()?;
            Some((n, &CALLING_CODES[i]))
        });
        let (n, code) = code?;
        let national = &digits[n..];
        let prefixed = national.starts_with('0')
            || code
                .national_prefixes
                .iter()
                .any(|p| national.starts_with(p))
            || code.prefix_rule_applies(national);
        if prefixed {
            return None;
        }
        let len = u8::try_from(national.len()).ok()?;
        code.lengths.contains(&len).then(|| Self(s.to_owned()))
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

    /// The country calling code's digits (`1` of `+15551234567`). Calling codes are a prefix
    /// code, so the first of the 1-, 2- and 3-digit prefixes that is one is the one; read from
    /// the generated table, without libphonenumber's metadata.
    pub fn calling_code(&self) -> &str {
        let digits = self.digits();
        (1..=3.min(digits.len()))
            .find(|&n| {
                digits[..n]
                    .parse::<u16>()
                    .is_ok_and(|v| CALLING_CODES.binary_search_by_key(&v, |c| c.code).is_ok())
            })
            .map(|n| &digits[..n])
            .unwrap_or("")
    }

    /// The national significant number (`5551234567` of `+15551234567`): what every way of
    /// typing the number ends with.
    pub fn national_digits(&self) -> &str {
        &self.digits()[self.calling_code().len()..]
    }

    /// Is `typed` (a number as a person typed it into a contact, in any national or
    /// international form) this number? Its digits must be the national number, preceded by
    /// nothing, the calling code, a national trunk prefix (`0`, `1`, `8`) or an international
    /// one (`00`, `011`) with the calling code. No metadata is read.
    pub fn is_typed_as(&self, typed: &str) -> bool {
        let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
        let national = self.national_digits();
        let Some(lead) = digits.strip_suffix(national) else {
            return false;
        };
        let cc = self.calling_code();
        matches!(lead, "" | "0" | "1" | "8")
            || lead == cc
            || lead
                .strip_suffix(cc)
                .is_some_and(|p| matches!(p, "00" | "011"))
            || (lead.ends_with('0') && lead.strip_suffix('0') == Some(cc))
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

/// Possible national-number lengths of a country: the metadata keeps them per number type
/// (general is often empty), and a number is possible when some type allows its length.
fn possible_lengths(meta: &phonenumber::metadata::Metadata) -> std::collections::BTreeSet<u16> {
    let d = meta.descriptors();
    [
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
    .flat_map(|desc| desc.possible_length().iter().copied())
    .collect()
}

/// What the E.164 fast path knows about one calling code; the table of them,
/// [`super::phone_codes::CALLING_CODES`], is generated from the crate's metadata.
#[derive(Debug)]
pub(crate) struct CallingCode {
    pub code: u16,
    /// Possible national-number lengths, from the code's main region (as the slow path reads it).
    pub lengths: &'static [u8],
    /// National prefixes of every region sharing the code (`1` for NANP, `8` for Russia).
    pub national_prefixes: &'static [&'static str],
    /// The "national prefix for parsing" patterns of every region sharing the code (Argentina's
    /// `15` carrier codes, the Caribbean's seven-digit local numbers): where one matches at the
    /// start of the national number, libphonenumber may strip or rewrite digits, so the fast path
    /// defers.
    pub prefix_rules: &'static [&'static str],
    /// `prefix_rules` compiled on first use of this code only (regex-lite: a handful of small
    /// patterns, microseconds), so one country's rules never cost another's start-up.
    compiled: std::sync::OnceLock<Vec<regex_lite::Regex>>,
}

impl CallingCode {
    pub(crate) const fn new(
        code: u16,
        lengths: &'static [u8],
        national_prefixes: &'static [&'static str],
        prefix_rules: &'static [&'static str],
    ) -> Self {
        Self {
            code,
            lengths,
            national_prefixes,
            prefix_rules,
            compiled: std::sync::OnceLock::new(),
        }
    }

    /// Whether some region's prefix rule matches at the start of `national`. A rule regex-lite
    /// cannot compile counts as matching: deferring is always safe.
    fn prefix_rule_applies(&self, national: &str) -> bool {
        if self.prefix_rules.is_empty() {
            return false;
        }
        let compiled = self.compiled.get_or_init(|| {
            self.prefix_rules
                .iter()
                .filter_map(|r| regex_lite::Regex::new(&format!("^(?:{r})")).ok())
                .collect()
        });
        compiled.len() != self.prefix_rules.len() || compiled.iter().any(|r| r.is_match(national))
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
    /// Stored values are E.164, written by [`PhoneNumber::parse`].
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_e164(&s)
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
    fn a_number_is_recognised_however_it_was_typed() {
        let p = PhoneNumber::parse("+15551234567", None).unwrap();
        assert_eq!((p.calling_code(), p.national_digits()), ("1", "5551234567"));
        for typed in [
            "(555) 123-4567",
            "555-123-4567",
            "555.123.4567",
            "+1 (555) 123 4567",
            "+1 555 123 4567",
            "1-555-123-4567",
            "001 555 123 4567",
            "011 1 555 123 4567",
            "+15551234567",
        ] {
            assert!(p.is_typed_as(typed), "{typed}");
        }
        for other in [
            "(555) 123-4568",
            "123-4567",
            "+44 555 123 4567",
            "99 555 123 4567",
        ] {
            assert!(!p.is_typed_as(other), "{other}");
        }
        let uk = PhoneNumber::parse("+442079460958", None).unwrap();
        assert_eq!(
            (uk.calling_code(), uk.national_digits()),
            ("44", "2079460958")
        );
        for typed in [
            "020 7946 0958",
            "+44 (0)20 7946 0958",
            "+44 20 7946 0958",
            "0044 20 7946 0958",
        ] {
            assert!(uk.is_typed_as(typed), "{typed}");
        }
    }

    #[test]
    fn e164_as_twilio_sends_it_and_as_stored_is_read_without_the_crate() {
        for ok in [
            "+15551234567",
            "+390612345678",
            "+78001234567",
            "+442079460958",
        ] {
            assert_eq!(PhoneNumber::from_e164(ok).unwrap().as_e164(), ok);
        }
        for (bad, why) in [
            ("", InvalidPhoneNumber::Empty),
            ("5551234567", InvalidPhoneNumber::NotE164),
            ("+1 555 123 4567", InvalidPhoneNumber::NotE164),
            ("+0123456789", InvalidPhoneNumber::NotE164),
            ("+1234567890123456", InvalidPhoneNumber::NotE164),
            ("+1' or 1 eq 1", InvalidPhoneNumber::NotE164),
            ("+9991234567", InvalidPhoneNumber::UnknownCountry),
        ] {
            assert_eq!(PhoneNumber::from_e164(bad), Err(why), "{bad}");
        }
        // What the parser writes, the stored form reads back.
        let typed = PhoneNumber::parse("06 1234 5678", DefaultCountry::parse("it")).unwrap();
        assert_eq!(PhoneNumber::from_e164(typed.as_e164()), Ok(typed));
    }

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

    /// The generated table, as `phone_codes.rs` must read.
    fn calling_code_table() -> String {
        let db = &*phonenumber::metadata::DATABASE;
        let mut rows = String::new();
        let mut count = 0;
        for code in 1..=999u16 {
            let Some(regions) = db.by_code(&code) else {
                continue;
            };
            let Some(main) = regions.first() else {
                continue;
            };
            let lengths: Vec<String> = possible_lengths(main)
                .iter()
                .map(|l| l.to_string())
                .collect();
            let mut prefixes: Vec<String> = regions
                .iter()
                .filter_map(|m| m.national_prefix())
                .map(|p| format!("{p:?}"))
                .collect();
            prefixes.sort();
            prefixes.dedup();
            let mut rules: Vec<String> = regions
                .iter()
                .filter_map(|m| m.national_prefix_for_parsing())
                .map(|r| format!("{:?}", r.as_str().split_whitespace().collect::<String>()))
                .collect();
            rules.sort();
            rules.dedup();
            count += 1;
            rows.push_str(&format!(
                "    CallingCode::new({code}, &[{}], &[{}], &[{}]),\n",
                lengths.join(", "),
                prefixes.join(", "),
                rules.join(", ")
            ));
        }
        format!(
            "//! Calling codes for the E.164 fast path in [`super::phone`], generated from the \
             metadata of the\n\
             //! `phonenumber` crate. Do not edit: when the crate changes, the test\n\
             //! `calling_code_table_is_the_crate_metadata` fails; regenerate with\n\
             //! `CASEBRIDGE_REGENERATE=1 cargo test -p casebridge --lib calling_code_table`.\n\
             //! Columns: calling code, possible national lengths, national prefixes, prefix rules.\n\n\
             use super::phone::CallingCode;\n\n\
             #[rustfmt::skip]\n\
             pub(crate) static CALLING_CODES: [CallingCode; {count}] = [\n{rows}];\n"
        )
    }

    #[test]
    fn calling_code_table_is_the_crate_metadata() {
        // GIVEN the table the fast path reads, WHEN the crate's metadata is rendered the same way,
        // THEN they are equal (or the file is rewritten on request).
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/domain/phone_codes.rs");
        let expected = calling_code_table();
        if std::env::var_os("CASEBRIDGE_REGENERATE").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let actual = std::fs::read_to_string(path).unwrap();
        assert!(
            actual == expected,
            "{path} is stale: run CASEBRIDGE_REGENERATE=1 cargo test -p casebridge --lib calling_code_table"
        );
        assert!(CALLING_CODES.windows(2).all(|w| w[0].code < w[1].code));
    }

    #[test]
    fn the_fast_path_agrees_with_the_crate_on_every_number_it_accepts() {
        // GIVEN numbers of every length for every calling code, some starting with a national
        // prefix, WHEN the fast path accepts one, THEN libphonenumber reads it the same way.
        let mut rng = fastrand::Rng::with_seed(0x5eed_e164);
        let (mut accepted, mut deferred) = (0, 0);
        for code in &CALLING_CODES {
            let starts: Vec<String> = code
                .national_prefixes
                .iter()
                .map(|p| p.to_string())
                .chain((1..=9).map(|d| d.to_string()))
                .collect();
            for len in 1..=17usize {
                for start in &starts {
                    if start.len() > len {
                        continue;
                    }
                    // Codes with prefix rules get more samples: the rules key on leading digits.
                    let samples = if code.prefix_rules.is_empty() { 2 } else { 12 };
                    for _ in 0..samples {
                        let mut national = start.clone();
                        while national.len() < len {
                            national.push(char::from(b'0' + rng.u8(0..10)));
                        }
                        let raw = format!("+{}{national}", code.code);
                        match PhoneNumber::parse_e164(&raw) {
                            Some(fast) => {
                                accepted += 1;
                                assert_eq!(
                                    PhoneNumber::parse_with_metadata(&raw, None).as_ref(),
                                    Ok(&fast),
                                    "{raw}"
                                );
                            }
                            None => deferred += 1,
                        }
                    }
                }
            }
        }
        eprintln!("fast path: {accepted} accepted, {deferred} deferred");
        // Not vacuous: many well-formed numbers take the fast path.
        assert!(accepted > 2_000 && deferred > 0, "{accepted} {deferred}");
    }

    #[test]
    fn the_fast_path_defers_what_it_cannot_be_sure_of() {
        for raw in [
            "+1 555 123 4567",
            "+0123456789",
            "+440207946095",
            "+4930901820x",
            "+",
            "+999123456",
        ] {
            assert_eq!(PhoneNumber::parse_e164(raw), None, "{raw}");
        }
        assert_eq!(
            PhoneNumber::parse_e164("+15551234567").map(String::from),
            Some("+15551234567".to_owned())
        );
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
