//! A conversation's turns, the same for both channels: [`turn::take`] stores the customer's
//! message with the assistant's reply in one write; [`redelivery`] answers a message that was
//! stored before (Twilio's redelivery, the widget's retried POST) from what is stored, so the
//! customer hears the same answer and nothing is written twice. [`sms`] is the SMS channel's
//! flow around them (continuity, consent and the STOP / START / HELP keywords). The channels
//! (sms-inbound, widget-inbound) only read their requests and write their answers around these.

pub mod redelivery;
pub mod sms;
pub mod turn;
