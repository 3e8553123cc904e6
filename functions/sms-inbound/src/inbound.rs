//! One inbound SMS: Twilio's verified form read into an [`InboundSms`], the channel's flow
//! ([`casebridge::conversation::sms`]: continuity, consent, keywords, the assistant's turn) and
//! its answer written as TwiML.

use casebridge::conversation::sms::{self, InboundSms, SmsFlowError, SmsRules};
use casebridge::domain::MessageText;
use casebridge::store::Store;
use jiff::Timestamp;
use lambda_http::{Body, Response};
use tracing::Instrument;

use crate::webhook::{Form, parse_inbound};
use crate::{Deps, SmsError, twiml};

pub async fn receive(
    store: &dyn Store,
    deps: &Deps,
    form: Form,
    now: Timestamp,
) -> Result<Response<Body>, SmsError> {
    let sms: InboundSms = parse_inbound(&form)?;
    let span = tracing::info_span!(
        "sms_inbound",
        message_sid = sms.sid.as_str(),
        from = %sms.from.masked(),
        session_id = tracing::field::Empty,
    );
    let rules = SmsRules {
        concierge: &deps.concierge,
        idle_timeout: deps.idle_timeout,
    };
    let reply = sms::receive(store, rules, &sms, now)
        .instrument(span)
        .await
        .map_err(|e| match e {
            SmsFlowError::Store(e) => SmsError::Store(e),
            help @ SmsFlowError::HelpText(_) => SmsError::BadRequest(help.to_string()),
        })?;
    Ok(twiml::reply(reply.as_ref().map(MessageText::as_str)))
}
