//! Party lists (ACT-1): the `to`, `from`, `cc`, `bcc`, `requiredattendees`, `optionalattendees` and
//! `organizer` columns of activities hold `activityparty` records. A write gives each party its
//! `participationtypemask` (the column's), its `activityid`, an id, and on an email the address it is sent to;
//! and `SendEmail` (ACT-2).

use chrono::{DateTime, Utc};
use xrm_model::{Entity, EntityReference, Fault, ParameterValue, Parameters, Request, Uuid, Value, codes};

use crate::org::activities::participation;
use crate::org::{ColumnType, Organization, Table};
use crate::pipeline::authorize::check_record;
use crate::security::{Access, UserPrivileges};
use crate::store::Store;

/// The table a party-list column's records belong to.
pub const PARTY: &str = "activityparty";

/// The records a value points to: a lookup's, or each party's `partyid` (a party is a lookup: SEC-5's
/// Append and AppendTo apply to it).
pub fn pointed_at(value: &Value) -> Vec<&EntityReference> {
    match value {
        Value::Lookup(r) => vec![r],
        Value::EntityCollection(parties) => parties
            .iter()
            .filter_map(|p| match p.get("partyid") {
                Some(Value::Lookup(r)) => Some(r),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Settles the party lists `record` writes on activity `id` of `table`: each party is an `activityparty`
/// with a `partyid` of the column's tables that exists, or an `addressused` alone; it gets its id, the
/// activity, the column's `participationtypemask` and, on an email, the party's e-mail address when none was
/// given. An email's `torecipients` becomes the addresses of its `to`.
pub fn settle(org: &Organization, store: &Store, table: &Table, id: Uuid, record: &mut Entity) -> Result<(), Fault> {
    let activity = EntityReference::new(table.logical_name.clone(), id);
    let mut recipients = None;
    for (column, value) in record.attributes.iter_mut() {
        let Some(ColumnType::PartyList(targets)) = table.columns.get(column) else { continue };
        let Value::EntityCollection(parties) = value else { continue };
        let mask = participation(column).unwrap_or_default();
        for (i, party) in parties.iter_mut().enumerate() {
            let at = format!("{}.{column}[{i}]", table.logical_name);
            *party = settle_party(org, store, &at, targets, std::mem::take(party), &activity, mask)?;
        }
        if table.logical_name == "email" && column == "to" {
            let addresses: Vec<String> = parties
                .iter()
                .filter_map(|p| match p.get("addressused") {
                    Some(Value::Text(a)) => Some(a.clone()),
                    _ => None,
                })
                .collect();
            recipients = Some(addresses.join(";"));
        }
    }
    if let Some(recipients) = recipients {
        record.attributes.insert("torecipients".into(), Value::Text(recipients));
    }
    Ok(())
}

fn settle_party(
    org: &Organization,
    store: &Store,
    at: &str,
    targets: &[String],
    party: Entity,
    activity: &EntityReference,
    mask: i32,
) -> Result<Entity, Fault> {
    if party.logical_name != PARTY {
        return Err(Fault::new(
            codes::INVALID_ARGUMENT,
            format!("{at}: a party is an {PARTY} record, not `{}`", party.logical_name),
        ));
    }
    let mut party = org.require_table(PARTY)?.check(party)?;
    let partyid = match party.get("partyid") {
        Some(Value::Lookup(r)) => Some(r.clone()),
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                format!("{at}: partyid is a lookup, not {}", other.type_name()),
            ));
        }
    };
    let mut address = match party.get("addressused") {
        Some(Value::Text(a)) if !a.is_empty() => Some(a.clone()),
        _ => None,
    };
    match &partyid {
        Some(r) if !targets.contains(&r.logical_name) => {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                format!("{at}: a party here is one of {}, not `{}`", targets.join(", "), r.logical_name),
            ));
        }
        Some(r) => {
            let row = store.get(&r.logical_name, r.id).ok_or_else(|| crate::query::not_found(&r.logical_name, r.id))?;
            if address.is_none() && activity.logical_name == "email" {
                // A user's mailbox address, else the sign-in name; any other party's first e-mail address.
                let columns: &[&str] = match r.logical_name.as_str() {
                    "systemuser" => &["internalemailaddress", "domainname"],
                    _ => &["emailaddress1"],
                };
                address = columns.iter().find_map(|c| match row.get(c) {
                    Some(Value::Text(a)) if !a.is_empty() => Some(a.clone()),
                    _ => None,
                });
            }
        }
        None if address.is_none() => {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                format!("{at}: a party needs a partyid or an addressused"),
            ));
        }
        None => {}
    }
    let id = party.id.unwrap_or_else(Uuid::new_v4);
    party.id = Some(id);
    let attrs = &mut party.attributes;
    attrs.insert("activitypartyid".into(), Value::Guid(id));
    attrs.insert("activityid".into(), Value::Lookup(activity.clone()));
    attrs.insert("participationtypemask".into(), Value::Choice(mask));
    match address {
        Some(a) => attrs.insert("addressused".into(), Value::Text(a)),
        None => attrs.remove("addressused"),
    };
    if partyid.is_none() {
        attrs.remove("partyid");
    }
    Ok(party)
}

/// `SendEmail` (ACT-2): `EmailId`, `IssueSend`, optional `TrackingToken`.
pub struct SendEmail {
    pub email: Uuid,
    pub issue_send: bool,
    pub tracking_token: Option<String>,
}

impl SendEmail {
    pub fn of(request: &Request) -> Result<SendEmail, Fault> {
        let missing = |what: &str| Fault::new(codes::INVALID_ARGUMENT, format!("the SendEmail request needs {what}"));
        let value = |name| request.parameter(name).and_then(ParameterValue::as_value);
        let email = match value("EmailId") {
            Some(Value::Guid(id)) => *id,
            Some(Value::Lookup(r)) if r.logical_name == "email" => r.id,
            _ => return Err(missing("EmailId (the email's id)")),
        };
        let issue_send = match value("IssueSend") {
            Some(Value::Boolean(b)) => *b,
            _ => return Err(missing("IssueSend (true: send it; false: record it as sent)")),
        };
        let tracking_token = match value("TrackingToken") {
            Some(Value::Text(t)) if !t.is_empty() => Some(t.clone()),
            _ => None,
        };
        Ok(SendEmail { email, issue_send, tracking_token })
    }
}

/// The record `SendEmail` is about, as steps see it (`PrimaryEntityName` email).
pub fn primary(request: &Request) -> Option<EntityReference> {
    SendEmail::of(request).ok().map(|s| EntityReference::new("email", s.email))
}

/// `SendEmail` needs Read and Write access to the email.
pub fn authorize(org: &Organization, who: &UserPrivileges, store: &Store, request: &Request) -> Result<(), Fault> {
    let email = EntityReference::new("email", SendEmail::of(request)?.email);
    check_record(org, who, store, Access::Read, &email)?;
    check_record(org, who, store, Access::Write, &email)
}

/// Sends an open email that has a recipient: Completed with Pending Send (6) when `IssueSend`, else Sent
/// (3), outgoing, its subject followed by the tracking token; answers `Subject`.
pub fn send_email(
    org: &Organization,
    store: &mut Store,
    (user, on_behalf): (Uuid, Option<Uuid>),
    request: &Request,
    now: DateTime<Utc>,
) -> Result<Parameters, Fault> {
    let send = SendEmail::of(request)?;
    let row = store.get("email", send.email).ok_or_else(|| crate::query::not_found("email", send.email))?;
    if !matches!(row.get("statecode"), Some(Value::Choice(0)) | None) {
        return Err(Fault::new(
            codes::INVALID_ARGUMENT,
            format!("The email {} cannot be sent: only an open (draft) email is sent", send.email),
        ));
    }
    let has_recipient = ["to", "cc", "bcc"]
        .iter()
        .any(|c| matches!(row.get(c), Some(Value::EntityCollection(parties)) if !parties.is_empty()));
    if !has_recipient {
        return Err(Fault::new(
            codes::INVALID_ARGUMENT,
            format!("The email {} cannot be sent: it has no recipient in to, cc or bcc", send.email),
        ));
    }
    let subject = match (row.get("subject"), &send.tracking_token) {
        (Some(Value::Text(s)), Some(token)) => format!("{s} {token}"),
        (_, Some(token)) => token.clone(),
        (Some(Value::Text(s)), None) => s.clone(),
        _ => String::new(),
    };
    let mut change = Entity::with_id("email", send.email);
    change
        .set("statecode", Value::Choice(1))
        .set("statuscode", Value::Choice(if send.issue_send { PENDING_SEND } else { SENT }))
        .set("directioncode", true)
        .set("subject", subject.clone());
    crate::pipeline::core::update(org, store, user, on_behalf, change, now)?;
    Ok(Parameters::from([("Subject".to_owned(), ParameterValue::Value(Value::Text(subject)))]))
}

/// The email's statuses `SendEmail` sets (state Completed).
const SENT: i32 = 3;
const PENDING_SEND: i32 = 6;
