//! Twilio's request signature, written out from Twilio's documentation (the URL, then each
//! parameter name and value in name order, HMAC-SHA1 under the auth token, base64) rather than
//! taken from the code under test: a test that signs with the function's own `sign` would pass
//! whatever that function got wrong.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};

pub fn signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac =
        Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key");
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
