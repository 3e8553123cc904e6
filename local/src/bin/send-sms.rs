//! `cargo run -p casebridge-local --bin send-sms -- <from> <text> [to]`: posts an SMS to the local
//! stack's `/sms/inbound`, form-encoded and signed exactly as Twilio signs it (with
//! `TWILIO_AUTH_TOKEN`, or the local stack's development token), and prints the TwiML answer.

use casebridge::sms::signature::sign;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(from), Some(text)) = (args.first(), args.get(1)) else {
        eprintln!("usage: send-sms <from, e.g. +15551234567> <text> [to]");
        std::process::exit(2);
    };
    let to = args
        .get(2)
        .map(String::as_str)
        .unwrap_or(casebridge_local::LOCAL_TWILIO_FROM);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let base =
        std::env::var("PUBLIC_BASE_URL").unwrap_or_else(|_| format!("http://127.0.0.1:{port}"));
    let token = std::env::var("TWILIO_AUTH_TOKEN")
        .unwrap_or_else(|_| casebridge_local::LOCAL_TWILIO_TOKEN.into());
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let params: Vec<(String, String)> = [
        ("MessageSid", sid.as_str()),
        ("AccountSid", casebridge_local::LOCAL_TWILIO_SID),
        ("From", from.as_str()),
        ("To", to),
        ("Body", text.as_str()),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let url = format!("{}/sms/inbound", base.trim_end_matches('/'));
    let signature = sign(&token, &url, &params);
    let response = casebridge::http::client(std::time::Duration::from_secs(30))?
        .post(&url)
        .header("x-twilio-signature", signature)
        .form(&params)
        .send()
        .await?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}
