//! Base-data GUIDs from a Creatio 8.x install (the lookup records its base configuration ships with); each is configurable.
//!
//! Creatio facts, so they live with the Creatio client; the settings that override them are
//! read in [`super::config`] and [`crate::replies::config`].

pub const CASE_STATUS_NEW: &str = "ae5f2f10-f46b-1410-fd9a-0050ba5d6c38";
pub const CASE_STATUS_RESOLVED: &str = "ae7f411e-f46b-1410-009b-0050ba5d6c38";
pub const CASE_STATUS_CLOSED: &str = "3e7f420c-f46b-1410-fc9a-0050ba5d6c38";
pub const CASE_STATUS_CANCELED: &str = "6e5f4218-f46b-1410-fe9a-0050ba5d6c38";
pub const CASE_ORIGIN_CALL: &str = "5e5e202a-f46b-1410-3692-0050ba5d6c38";
pub const CASE_ORIGIN_CHAT: &str = "019259af-ec9c-4c87-9565-3c00700c7875";
pub const ACTIVITY_TYPE_TASK: &str = "fbe0acdc-cfc0-df11-b00f-001d60e938c6";
pub const ACTIVITY_TYPE_EMAIL: &str = "e2831dec-cfc0-df11-b00f-001d60e938c6";
pub const ACTIVITY_TYPE_CALL: &str = "e1831dec-cfc0-df11-b00f-001d60e938c6";
pub const ACTIVITY_STATUS_NOT_STARTED: &str = "384d4b84-58e6-df11-971b-001d60e938c6";
pub const ACTIVITY_STATUS_COMPLETED: &str = "4bdbb88f-58e6-df11-971b-001d60e938c6";
pub const ACTIVITY_CATEGORY_TODO: &str = "f51c4643-58e6-df11-971b-001d60e938c6";
/// `EmailType` lookup (`Activity.MessageTypeId`): the direction of an e-mail.
pub const EMAIL_TYPE_OUTGOING: &str = "7f6d3f94-f36b-1410-068c-20cf30b39373";
pub const EMAIL_TYPE_INCOMING: &str = "7f9d1f86-f36b-1410-068c-20cf30b39373";
