//! QualifyLead (LEAD-1): an open lead becomes Qualified, and the account, contact and opportunity the request
//! asks for are created from it, each linked to the lead and to one another. The records are created through
//! the pipeline (child requests as the caller, so their steps fire and their checks apply).

use crate::org::Organization;
use crate::pipeline::authorize::check_record;
use crate::security::{Access, UserPrivileges};
use crate::store::Store;
use xrm_model::{Entity, EntityReference, Fault, ParameterValue, Request, Uuid, Value, codes};

/// What a QualifyLead request asks for.
pub struct Qualify {
    pub lead: EntityReference,
    pub create_account: bool,
    pub create_contact: bool,
    pub create_opportunity: bool,
    pub currency: Option<EntityReference>,
    pub customer: Option<EntityReference>,
    pub status: i32,
}

impl Qualify {
    pub fn of(request: &Request) -> Result<Qualify, Fault> {
        let invalid = |m: &str| Fault::new(codes::INVALID_ARGUMENT, format!("the QualifyLead request needs {m}"));
        let reference = |name: &str| match request.parameter(name) {
            Some(ParameterValue::Value(Value::Lookup(r))) => Some(r.clone()),
            _ => None,
        };
        let flag = |name: &str| matches!(request.parameter(name), Some(ParameterValue::Value(Value::Boolean(true))));
        let lead =
            reference("LeadId").filter(|r| r.logical_name == "lead").ok_or_else(|| invalid("`LeadId`, a lead"))?;
        let status = match request.parameter("Status") {
            Some(ParameterValue::Value(Value::Choice(n) | Value::Integer(n))) => *n,
            _ => return Err(invalid("`Status`, the lead's status once qualified")),
        };
        let customer = reference("OpportunityCustomerId");
        if let Some(c) = &customer
            && !matches!(c.logical_name.as_str(), "account" | "contact")
        {
            return Err(Fault::new(codes::INVALID_ARGUMENT, "`OpportunityCustomerId` is an account or a contact"));
        }
        Ok(Qualify {
            lead,
            create_account: flag("CreateAccount"),
            create_contact: flag("CreateContact"),
            create_opportunity: flag("CreateOpportunity"),
            currency: reference("OpportunityCurrencyId"),
            customer,
            status,
        })
    }
}

/// The lead must be open (state 0).
pub fn check_open(lead: &Entity) -> Result<(), Fault> {
    match lead.get("statecode") {
        Some(Value::Choice(0)) | None => Ok(()),
        _ => Err(Fault::new(
            codes::INVALID_ARGUMENT,
            "The lead is closed. You cannot convert or qualify a lead that is already closed.",
        )),
    }
}

/// Copies `from` the lead's columns, named lead → record.
fn copy(lead: &Entity, into: &mut Entity, columns: &[(&str, &str)]) {
    for (from, to) in columns {
        if let Some(value) = lead.get(from).filter(|v| !v.is_null()) {
            into.attributes.insert((*to).to_owned(), value.clone());
        }
    }
}

/// Creates the records asked for with `create` (a child Create request, answering the new id), in the order
/// account, contact, opportunity, each pointing at those before it; returns them.
pub fn create_records(
    ask: &Qualify,
    lead: &Entity,
    create: &mut dyn FnMut(Entity) -> Result<Uuid, Fault>,
) -> Result<Vec<EntityReference>, Fault> {
    let origin = Value::Lookup(ask.lead.clone());
    let mut created = Vec::new();
    let mut account = None;
    let mut contact = None;
    if ask.create_account {
        let mut e = Entity::new("account");
        copy(
            lead,
            &mut e,
            &[
                ("companyname", "name"),
                ("telephone1", "telephone1"),
                ("emailaddress1", "emailaddress1"),
                ("description", "description"),
            ],
        );
        e.set("originatingleadid", origin.clone());
        let r = EntityReference::new("account", create(e)?);
        account = Some(r.clone());
        created.push(r);
    }
    if ask.create_contact {
        let mut e = Entity::new("contact");
        copy(
            lead,
            &mut e,
            &[
                ("firstname", "firstname"),
                ("lastname", "lastname"),
                ("emailaddress1", "emailaddress1"),
                ("telephone1", "telephone1"),
                ("description", "description"),
            ],
        );
        let full: Vec<String> = ["firstname", "lastname"]
            .iter()
            .filter_map(|c| match lead.get(c) {
                Some(Value::Text(t)) if !t.is_empty() => Some(t.clone()),
                _ => None,
            })
            .collect();
        if !full.is_empty() {
            e.set("fullname", full.join(" "));
        }
        if let Some(a) = &account {
            e.set("parentcustomerid", a.clone());
        }
        e.set("originatingleadid", origin.clone());
        let r = EntityReference::new("contact", create(e)?);
        contact = Some(r.clone());
        created.push(r);
    }
    if ask.create_opportunity {
        let mut e = Entity::new("opportunity");
        copy(lead, &mut e, &[("subject", "name"), ("description", "description")]);
        let customer = account.clone().or_else(|| contact.clone()).or_else(|| ask.customer.clone());
        if let Some(c) = customer {
            e.set("customerid", c);
        }
        if let Some(a) = &account {
            e.set("parentaccountid", a.clone());
        }
        if let Some(c) = &contact {
            e.set("parentcontactid", c.clone());
        }
        if let Some(currency) = &ask.currency {
            e.set("transactioncurrencyid", currency.clone());
        }
        e.set("originatingleadid", origin);
        created.push(EntityReference::new("opportunity", create(e)?));
    }
    Ok(created)
}

/// The lead's own change: Qualified with the status asked for, pointing at what was created from it.
pub fn qualified_lead(ask: &Qualify, created: &[EntityReference]) -> Entity {
    let mut change = Entity::with_id("lead", ask.lead.id);
    change.set("statecode", Value::Choice(1)).set("statuscode", Value::Choice(ask.status));
    for r in created {
        let column = match r.logical_name.as_str() {
            "account" => "parentaccountid",
            "contact" => "parentcontactid",
            _ => "qualifyingopportunityid",
        };
        change.set(column, r.clone());
    }
    change
}

/// The checks of QualifyLead: Read and Write on the lead (the records created are checked by their own
/// requests).
pub fn authorize(org: &Organization, who: &UserPrivileges, store: &Store, request: &Request) -> Result<(), Fault> {
    let ask = Qualify::of(request)?;
    check_record(org, who, store, Access::Read, &ask.lead)?;
    check_record(org, who, store, Access::Write, &ask.lead)
}
