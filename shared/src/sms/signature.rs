//! Twilio's request signature (`X-Twilio-Signature`), as the official SDKs compute it.
//!
//! The signed string is the exact URL Twilio called (with its query) followed, for form posts, by
//! every POST parameter as `name` + `value`, names sorted (repeated names: each value, sorted).
//! HMAC-SHA1 keyed with the auth token, base64. Like the SDKs, the URL is also tried with the
//! default port added (`:443` for https, `:80` for http) or removed, because Twilio signs what
//! was configured and proxies differ in whether they keep the port.
//!
//! `hmac` + `sha1` (RustCrypto, already in the dependency tree through the AWS SDK's `digest`) do
//! the maths; `Mac::verify_slice` compares in constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

fn mac(auth_token: &[u8], url: &str, params: &[(String, String)]) -> Option<HmacSha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = HmacSha1::new_from_slice(auth_token).ok()?;
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    Some(mac)
}

/// The signature Twilio would send for this request (used by the local test-SMS sender).
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    mac(auth_token.as_bytes(), url, params)
        .map(|m| STANDARD.encode(m.finalize().into_bytes()))
        .unwrap_or_default()
}

/// The URL as configured, plus its variant with the default port toggled.
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return out,
    };
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(host_end);
    let toggled = match host.strip_suffix(default_port) {
        Some(bare) => bare.to_owned(),
        None if !host.contains(':') => format!("{host}{default_port}"),
        None => return out,
    };
    out.push(format!("{scheme}://{toggled}{tail}"));
    out
}

/// Is `signature` Twilio's signature of this request?
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    url_variants(url).iter().any(|u| {
        mac(auth_token.as_bytes(), u, params).is_some_and(|m| m.verify_slice(&expected).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    // The example in Twilio's security documentation: auth token 12345, this URL and these
    // parameters sign to 0/KCTR6DLpKmkAf8muzZqo1nDgQ=.
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn example() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn twilio_documented_example() {
        assert_eq!(
            sign("12345", URL, &example()),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
        assert!(verify(
            "12345",
            URL,
            &example(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify(
            "12346",
            URL,
            &example(),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!verify("12345", URL, &example(), "not base64!"));
    }

    #[test]
    fn the_default_port_may_be_added_or_removed() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let sig = sign("12345", with_port, &example());
        assert!(verify("12345", URL, &example(), &sig));
        let sig = sign("12345", URL, &example());
        assert!(verify("12345", with_port, &example(), &sig));
        // Another port is another URL.
        let sig = sign(
            "12345",
            "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
            &example(),
        );
        assert!(!verify("12345", URL, &example(), &sig));
    }
}
