//! The activity tables with party lists (ACT-1): email, appointment, phonecall, letter and fax, and
//! `activityparty`, the records a party list holds.

use std::collections::BTreeMap;

use super::metadata::{ColumnMeta, Options};
use super::tables::{ColumnType, Ownership, Table};

/// The tables a party may point to (`partyid`).
pub const PARTY_TARGETS: &[&str] = &["account", "contact", "lead", "systemuser"];

/// The party-list columns of each activity table, and for each the tables its parties may be (none: any of
/// [`PARTY_TARGETS`]).
pub fn party_lists(table: &str) -> &'static [(&'static str, &'static [&'static str])] {
    match table {
        "email" => &[("from", &[]), ("to", &[]), ("cc", &[]), ("bcc", &[])],
        "appointment" => &[("requiredattendees", &[]), ("optionalattendees", &[]), ("organizer", &["systemuser"])],
        "phonecall" | "fax" => &[("from", &[]), ("to", &[])],
        "letter" => &[("from", &[]), ("to", &[]), ("bcc", &[])],
        _ => &[],
    }
}

/// `participationtypemask`: the part a party plays, by the party-list column that holds it.
pub const PARTICIPATION: &[(i32, &str, &str)] = &[
    (1, "from", "Sender"),
    (2, "to", "To Recipient"),
    (3, "cc", "CC Recipient"),
    (4, "bcc", "BCC Recipient"),
    (5, "requiredattendees", "Required attendee"),
    (6, "optionalattendees", "Optional attendee"),
    (7, "organizer", "Organizer"),
    (8, "regardingobjectid", "Regarding"),
    (9, "ownerid", "Owner"),
    (10, "resources", "Resource"),
    (11, "customers", "Customer"),
];

/// The `participationtypemask` of a party-list column.
pub fn participation(column: &str) -> Option<i32> {
    PARTICIPATION.iter().find(|(_, c, _)| *c == column).map(|(mask, _, _)| *mask)
}

/// Adds the activity tables the built-in list lacks, `activityparty`, and the party lists of each.
pub(super) fn add(tables: &mut Vec<Table>) {
    use ColumnType::*;
    let activity = |name: &str, schema: &str, code: i32| {
        Table::new(name, schema, code, Ownership::UserOwned)
            .privileges("Activity")
            .primary("activityid", "subject")
            .with(&[
                ("description", Memo),
                ("regardingobjectid", Lookup(Vec::new())),
                ("scheduledstart", DateTime),
                ("scheduledend", DateTime),
                ("prioritycode", Picklist),
                ("actualdurationminutes", Integer),
                ("directioncode", Boolean),
            ])
    };
    tables.extend([
        activity("appointment", "Appointment", 4201).with(&[("location", String), ("isalldayevent", Boolean)]),
        activity("phonecall", "PhoneCall", 4210).with(&[("phonenumber", String)]),
        activity("letter", "Letter", 4207).with(&[("address", Memo)]),
        activity("fax", "Fax", 4204).with(&[("faxnumber", String), ("numberofpages", Integer)]),
    ]);
    let activities: Vec<std::string::String> =
        ["email", "appointment", "phonecall", "letter", "fax"].iter().map(|t| (*t).to_owned()).collect();
    let targets = || PARTY_TARGETS.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
    let mut party = Table::new("activityparty", "ActivityParty", 135, Ownership::OrganizationOwned).with(&[
        ("activityid", Lookup(activities)),
        ("partyid", Lookup(targets())),
        ("addressused", String),
        ("participationtypemask", Picklist),
        ("ispartydeleted", Boolean),
    ]);
    let labels: BTreeMap<i32, std::string::String> =
        PARTICIPATION.iter().map(|(mask, _, label)| (*mask, (*label).to_owned())).collect();
    party.column_meta.insert(
        "participationtypemask".into(),
        ColumnMeta {
            display_name: Some("Participation Type".into()),
            options: Options::Labels(labels),
            ..ColumnMeta::default()
        },
    );
    tables.push(party);
    for table in tables.iter_mut() {
        for (column, only) in party_lists(&table.logical_name) {
            let allowed = match only.is_empty() {
                true => targets(),
                false => only.iter().map(|t| (*t).to_owned()).collect(),
            };
            table.columns.insert((*column).to_owned(), PartyList(allowed));
        }
    }
}
