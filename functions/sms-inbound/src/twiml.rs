//! TwiML answers. Text is XML-escaped with `quick-xml`'s escaper (a well-kept XML crate already
//! in the dependency tree through the AWS SDK), so `<`, `&` and quotes in a reply reach the
//! customer as typed.

use lambda_http::{Body, Response};

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// `<Response><Message>text</Message></Response>`, or `<Response/>` for no reply.
pub fn reply(text: Option<&str>) -> Response<Body> {
    let xml = match text {
        Some(t) => format!(
            "{DECLARATION}<Response><Message>{}</Message></Response>",
            quick_xml::escape::escape(t)
        ),
        None => format!("{DECLARATION}<Response/>"),
    };
    let mut r = Response::new(Body::from(xml));
    r.headers_mut()
        .insert("content-type", http::HeaderValue::from_static("text/xml"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        let r = reply(Some("<b>Tom & \"Jerry\"</b>"));
        let Body::Text(body) = r.body() else {
            panic!("text body");
        };
        assert!(body.ends_with(
            "<Response><Message>&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;</Message></Response>"
        ));
        assert_eq!(r.headers()["content-type"], "text/xml");
    }
}
