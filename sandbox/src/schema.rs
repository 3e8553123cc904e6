//! The entities the sandbox serves, with Creatio's column types, sizes and required columns, and
//! the base lookup rows of a Creatio 8.x install.
//!
//! Column types decide what Creatio refuses (a text longer than its column, a lookup whose row
//! does not exist, a required column left empty: all HTTP 500, see `errors`) and how an empty
//! value reads back (the zero GUID, `""`, `0001-01-01T00:00:00Z`, `false`; never `null`).
//! Sizes are Creatio's text column types: short 50, medium 250, long 500, maximum unlimited.

/// A column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The record's own `Id`.
    Key,
    /// Text of at most this many characters; 0 is unlimited ("maximum size").
    Text(usize),
    /// A lookup: the GUID of a row of this entity (written and read as `<Name>Id`).
    Lookup(String),
    Date,
    Bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
    pub required: bool,
}

/// A custom column an installation adds (`Usr…`), for tests of AI fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomColumn {
    pub entity: String,
    pub column: Column,
}

impl CustomColumn {
    pub fn text(entity: &str, name: &str, max: usize) -> Self {
        Self {
            entity: entity.into(),
            column: Column {
                name: name.into(),
                kind: Kind::Text(max),
                required: false,
            },
        }
    }

    pub fn lookup(entity: &str, name: &str, target: &str) -> Self {
        Self {
            entity: entity.into(),
            column: Column {
                name: name.into(),
                kind: Kind::Lookup(target.into()),
                required: false,
            },
        }
    }
}

fn col(name: &str, kind: Kind) -> Column {
    Column {
        name: name.into(),
        kind,
        required: false,
    }
}

fn required(name: &str, kind: Kind) -> Column {
    Column {
        name: name.into(),
        kind,
        required: true,
    }
}

fn lookup(name: &str, target: &str) -> Column {
    col(name, Kind::Lookup(target.into()))
}

/// Columns every entity has.
fn system(mut cols: Vec<Column>) -> Vec<Column> {
    cols.insert(0, col("Id", Kind::Key));
    cols.extend([
        col("CreatedOn", Kind::Date),
        col("ModifiedOn", Kind::Date),
        lookup("CreatedById", "Contact"),
        lookup("ModifiedById", "Contact"),
    ]);
    cols
}

/// Lookup tables: Id, Name, Description.
pub const LOOKUPS: &[&str] = &[
    "CaseStatus",
    "CaseOrigin",
    "CasePriority",
    "CaseCategory",
    "ActivityType",
    "ActivityStatus",
    "ActivityCategory",
    "EmailType",
    "CommunicationType",
    "SysAdminUnit",
    "KnowledgeBaseType",
];

/// The base columns of `entity` (OData names), or None for an entity set Creatio does not have.
pub fn base_columns(entity: &str) -> Option<Vec<Column>> {
    use Kind::*;
    Some(match entity {
        "Case" => system(vec![
            required("Subject", Text(500)),
            col("Symptoms", Text(0)),
            lookup("ContactId", "Contact"),
            lookup("AccountId", "Account"),
            lookup("OwnerId", "Contact"),
            lookup("GroupId", "SysAdminUnit"),
            lookup("StatusId", "CaseStatus"),
            lookup("PriorityId", "CasePriority"),
            lookup("OriginId", "CaseOrigin"),
            lookup("CategoryId", "CaseCategory"),
            col("Number", Text(250)),
            col("RegisteredOn", Date),
            col("Notes", Text(0)),
            col("Solution", Text(0)),
            col("ClosureDate", Date),
        ]),
        "Activity" => system(vec![
            required("Title", Text(500)),
            lookup("TypeId", "ActivityType"),
            lookup("ActivityCategoryId", "ActivityCategory"),
            lookup("StatusId", "ActivityStatus"),
            col("StartDate", Date),
            col("DueDate", Date),
            col("DetailedResult", Text(0)),
            col("Notes", Text(0)),
            col("Body", Text(0)),
            lookup("OwnerId", "Contact"),
            lookup("AuthorId", "Contact"),
            lookup("ContactId", "Contact"),
            lookup("CaseId", "Case"),
            col("Sender", Text(500)),
            col("Recepient", Text(0)),
            lookup("MessageTypeId", "EmailType"),
            col("IsHtmlBody", Bool),
            col("IsAutoSubmitted", Bool),
            col("HeaderProperties", Text(0)),
            col("SendDate", Date),
        ]),
        "Contact" => system(vec![
            required("Name", Text(250)),
            col("MobilePhone", Text(250)),
            col("Phone", Text(250)),
            col("Email", Text(250)),
            lookup("AccountId", "Account"),
            // "Preferred language" (CrtCoreBase): Creatio fills it with the default message
            // language for new contacts.
            lookup("LanguageId", "SysLanguage"),
        ]),
        // A `BaseCodeLookup`: `Code` is a culture such as `en-US`.
        "SysLanguage" => system(vec![
            required("Name", Text(250)),
            col("Description", Text(250)),
            col("Code", Text(50)),
        ]),
        "ContactCommunication" => system(vec![
            Column {
                name: "ContactId".into(),
                kind: Lookup("Contact".into()),
                required: true,
            },
            Column {
                name: "CommunicationTypeId".into(),
                kind: Lookup("CommunicationType".into()),
                required: true,
            },
            required("Number", Text(250)),
            col("SearchNumber", Text(250)),
        ]),
        "Account" => system(vec![required("Name", Text(250))]),
        // Knowledge base articles: `Notes` is the body as HTML; `NotHtmlNote` the same without
        // tags, filled by the article page and so empty for rows written by API or import.
        "KnowledgeBase" => system(vec![
            required("Name", Text(250)),
            col("Notes", Text(0)),
            col("NotHtmlNote", Text(0)),
            col("Keywords", Text(0)),
            col("Code", Text(50)),
            Column {
                name: "TypeId".into(),
                kind: Lookup("KnowledgeBaseType".into()),
                required: true,
            },
        ]),
        e if LOOKUPS.contains(&e) => system(vec![
            required("Name", Text(250)),
            col("Description", Text(250)),
        ]),
        _ => return None,
    })
}

pub const ACTIVITY_TYPE_EMAIL: &str = "e2831dec-cfc0-df11-b00f-001d60e938c6";
pub const ACTIVITY_TYPE_TASK: &str = "fbe0acdc-cfc0-df11-b00f-001d60e938c6";
pub const ACTIVITY_CATEGORY_EMAIL: &str = "8038a396-7825-e011-8165-00155d043204";
pub const ACTIVITY_CATEGORY_TODO: &str = "f51c4643-58e6-df11-971b-001d60e938c6";
pub const ACTIVITY_STATUS_NOT_STARTED: &str = "384d4b84-58e6-df11-971b-001d60e938c6";
pub const EMAIL_TYPE_OUTGOING: &str = "7f6d3f94-f36b-1410-068c-20cf30b39373";
pub const EMAIL_TYPE_INCOMING: &str = "7f9d1f86-f36b-1410-068c-20cf30b39373";
pub const COMMUNICATION_MOBILE: &str = "d4a2dc80-30ca-df11-9b2a-001d60e938c6";
pub const COMMUNICATION_BUSINESS_PHONE: &str = "3dddb3cc-53ee-49c4-a71f-e9e257f59e49";
pub const COMMUNICATION_EMAIL: &str = "ee1c85c3-cfcb-df11-9b2a-001d60e938c6";
/// A support group (`SysAdminUnit`), as a deployment's `CREATIO_CASE_GROUP_ID` would name one.
pub const SUPPORT_GROUP: &str = "a29a3ba5-4b0d-de11-9a51-005056c00008";

/// A knowledge base article type the sandbox seeds (its GUID is the sandbox's own: casebridge
/// never assumes one, it reads the types a deployment names in `CASEBRIDGE_KNOWLEDGE_TYPES`).
pub const KNOWLEDGE_TYPE_GENERAL: &str = "0e1f5a7c-5b6d-4c1e-9f3a-7d2b8c4e6a10";
/// A second one, for articles that must not reach customers.
pub const KNOWLEDGE_TYPE_INTERNAL: &str = "5c8d2e4f-1a3b-4d6e-8f7a-9b0c1d2e3f40";

/// `SysLanguage` rows: (id, name, code). The GUIDs are the sandbox's own: casebridge reads a
/// language's `Code`, never its id.
pub const SYS_LANGUAGES: &[(&str, &str, &str)] = &[
    ("2a3c4d5e-0000-4b6c-8d7e-9f0a1b2c3d40", "English", "en-US"),
    ("2a3c4d5e-0001-4b6c-8d7e-9f0a1b2c3d41", "Spanish", "es-ES"),
    ("2a3c4d5e-0002-4b6c-8d7e-9f0a1b2c3d42", "German", "de-DE"),
    ("2a3c4d5e-0003-4b6c-8d7e-9f0a1b2c3d43", "French", "fr-FR"),
    (
        "2a3c4d5e-0004-4b6c-8d7e-9f0a1b2c3d44",
        "Portuguese",
        "pt-BR",
    ),
    ("2a3c4d5e-0005-4b6c-8d7e-9f0a1b2c3d45", "Russian", "ru-RU"),
];

/// Base lookup rows of a Creatio 8.x install.
pub const SEED: &[(&str, &str, &str)] = &[
    ("KnowledgeBaseType", KNOWLEDGE_TYPE_GENERAL, "General"),
    ("KnowledgeBaseType", KNOWLEDGE_TYPE_INTERNAL, "Internal"),
    ("CaseStatus", "ae5f2f10-f46b-1410-fd9a-0050ba5d6c38", "New"),
    (
        "CaseStatus",
        "7e9f1204-f46b-1410-fb9a-0050ba5d6c38",
        "In progress",
    ),
    (
        "CaseStatus",
        "3859c6e7-cbcb-486b-ba53-77808fe6e593",
        "Waiting for response",
    ),
    (
        "CaseStatus",
        "ae7f411e-f46b-1410-009b-0050ba5d6c38",
        "Resolved",
    ),
    (
        "CaseStatus",
        "3e7f420c-f46b-1410-fc9a-0050ba5d6c38",
        "Closed",
    ),
    (
        "CaseStatus",
        "6e5f4218-f46b-1410-fe9a-0050ba5d6c38",
        "Canceled",
    ),
    (
        "CaseStatus",
        "f063ebbe-fdc6-4982-8431-d8cfa52fedcf",
        "Reopened",
    ),
    ("CaseOrigin", "5e5e202a-f46b-1410-3692-0050ba5d6c38", "Call"),
    ("CaseOrigin", "019259af-ec9c-4c87-9565-3c00700c7875", "Chat"),
    (
        "CaseOrigin",
        "7f9e1f1e-f46b-1410-3492-0050ba5d6c38",
        "Email",
    ),
    (
        "CaseOrigin",
        "debf4124-f46b-1410-3592-0050ba5d6c38",
        "Portal",
    ),
    ("CaseOrigin", "d38a1692-5a83-4253-a592-7d19fe00593c", "Site"),
    (
        "CasePriority",
        "afb33208-f46b-1410-ec8c-0050ba5d6c38",
        "Critical",
    ),
    (
        "CasePriority",
        "8b700f24-f46b-1410-ee8c-0050ba5d6c38",
        "High",
    ),
    (
        "CasePriority",
        "d9bd322c-f46b-1410-ee8c-0050ba5d6c38",
        "Medium",
    ),
    (
        "CasePriority",
        "cbb93036-f46b-1410-ef8c-0050ba5d6c38",
        "Low",
    ),
    ("ActivityType", ACTIVITY_TYPE_TASK, "Task"),
    ("ActivityType", ACTIVITY_TYPE_EMAIL, "Email"),
    (
        "ActivityType",
        "e1831dec-cfc0-df11-b00f-001d60e938c6",
        "Call",
    ),
    ("ActivityStatus", ACTIVITY_STATUS_NOT_STARTED, "Not started"),
    (
        "ActivityStatus",
        "394d4b84-58e6-df11-971b-001d60e938c6",
        "In progress",
    ),
    (
        "ActivityStatus",
        "4bdbb88f-58e6-df11-971b-001d60e938c6",
        "Completed",
    ),
    (
        "ActivityStatus",
        "201cfba8-58e6-df11-971b-001d60e938c6",
        "Canceled",
    ),
    ("ActivityCategory", ACTIVITY_CATEGORY_TODO, "To do"),
    ("ActivityCategory", ACTIVITY_CATEGORY_EMAIL, "Email"),
    (
        "ActivityCategory",
        "e52bd583-7825-e011-8165-00155d043204",
        "Call",
    ),
    ("EmailType", EMAIL_TYPE_OUTGOING, "Outgoing"),
    ("EmailType", EMAIL_TYPE_INCOMING, "Incoming"),
    ("CommunicationType", COMMUNICATION_MOBILE, "Mobile phone"),
    (
        "CommunicationType",
        COMMUNICATION_BUSINESS_PHONE,
        "Business phone",
    ),
    (
        "CommunicationType",
        "0da6a26b-d7bc-df11-b00f-001d60e938c6",
        "Home phone",
    ),
    (
        "CommunicationType",
        "6a3fb10c-67cc-df11-9b2a-001d60e938c6",
        "Main phone",
    ),
    ("CommunicationType", COMMUNICATION_EMAIL, "Email"),
    ("SysAdminUnit", SUPPORT_GROUP, "1st-line support"),
];

/// What Creatio keeps in `ContactCommunication.SearchNumber`: a phone's digits reversed (so that
/// matching the end of a number is a `startswith`), an e-mail address lower-cased.
pub fn search_number(number: &str, email: bool) -> String {
    if email {
        number.trim().to_lowercase()
    } else {
        number.chars().filter(char::is_ascii_digit).rev().collect()
    }
}

/// The contact columns Creatio mirrors into `ContactCommunication` rows when a contact is saved.
pub const COMMUNICATION_COLUMNS: &[(&str, &str)] = &[
    ("MobilePhone", COMMUNICATION_MOBILE),
    ("Phone", COMMUNICATION_BUSINESS_PHONE),
    ("Email", COMMUNICATION_EMAIL),
];
