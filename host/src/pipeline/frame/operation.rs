//! The core operation of each message (PIPE-1): the platform's own work, as the pipeline's calling user.

use xrm_model::{ColumnSet, Entity, EntityReference, Fault, ParameterValue, Value, codes, messages};

use std::sync::Arc;

use super::{Call, Frame, run};
use crate::pipeline::messages as msg;
use crate::pipeline::messages::{bulk, upsert};
use crate::pipeline::{CaseState, authorize, core, custom};
use crate::query;

impl Frame<'_> {
    /// The platform's own work for the message, as the pipeline's calling user.
    pub(super) fn core(&mut self, state: &mut CaseState) -> Result<(), Fault> {
        let org = self.org();
        let user = self.call.caller;
        let now = state.clock.now();
        match self.request.message.as_str() {
            messages::RETRIEVE_MULTIPLE => return self.retrieve_multiple(state),
            messages::RETRIEVE_PRINCIPAL_ACCESS => {
                let answer = msg::security::principal_access(self.pipeline, state, &self.request)?;
                self.output.extend(answer);
                return Ok(());
            }
            messages::RETRIEVE_USER_PRIVILEGES => {
                let answer = msg::security::user_privileges(self.pipeline, state, &self.request)?;
                self.output.extend(answer);
                return Ok(());
            }
            _ => {}
        }
        let store = state.store.data_mut();
        let missing = |what: &str| {
            Fault::new(codes::INVALID_ARGUMENT, format!("the {} request needs {what}", self.request.message))
        };
        match self.request.message.as_str() {
            messages::CREATE => {
                let target = self.request.target_entity().cloned().ok_or_else(|| missing("an entity Target"))?;
                let id = core::create(org, store, user, self.call.impersonator, target, now)?;
                self.primary_id = id;
                self.output.insert(messages::ID.into(), ParameterValue::Value(Value::Guid(id)));
                self.post_record = store.get(&self.table, id).cloned();
            }
            messages::UPDATE => {
                let target =
                    self.request.target_entity().cloned().ok_or_else(|| missing("an entity Target with an id"))?;
                core::update(org, store, user, self.call.impersonator, target, now)?;
                self.post_record = store.get(&self.table, self.primary_id).cloned();
            }
            messages::DELETE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                core::delete(org, store, &target)?;
            }
            messages::RETRIEVE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let columns = match self.request.parameter(messages::COLUMN_SET) {
                    Some(ParameterValue::ColumnSet(c)) => c.clone(),
                    _ => ColumnSet::AllColumns,
                };
                let entity = query::retrieve(org, store, &target, &columns)?;
                self.output.insert(messages::ENTITY.into(), ParameterValue::Entity(entity));
            }
            messages::ASSIGN => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let assignee = self.reference(messages::ASSIGNEE).ok_or_else(|| missing("an Assignee"))?;
                core::assign(org, store, user, self.call.impersonator, &target, &assignee, now)?;
                self.post_record = store.get(&self.table, self.primary_id).cloned();
            }
            messages::SET_STATE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let value = |name| self.request.parameter(name).and_then(ParameterValue::as_value).cloned();
                let state_value = value(messages::STATE).ok_or_else(|| missing("a State"))?;
                let status = value(messages::STATUS);
                core::set_state(org, store, user, self.call.impersonator, &target, (state_value, status), now)?;
                self.post_record = store.get(&self.table, self.primary_id).cloned();
            }
            messages::GRANT_ACCESS | messages::MODIFY_ACCESS => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let Some(ParameterValue::PrincipalAccess(pa)) = self.request.parameter(messages::PRINCIPAL_ACCESS)
                else {
                    return Err(missing("a PrincipalAccess"));
                };
                let replace = self.request.message == messages::MODIFY_ACCESS;
                core::share(org, store, &target, &pa.principal, pa.access_mask, replace)?;
            }
            messages::WHO_AM_I => {
                // IMP-10: the user the request runs as: a plug-in's service's user, or the impersonated user.
                let business_unit = core::business_unit_of(org, store, user);
                self.output.insert(messages::USER_ID.into(), Value::Guid(user).into());
                self.output.insert(messages::BUSINESS_UNIT_ID.into(), Value::Guid(business_unit).into());
                self.output.insert(messages::ORGANIZATION_ID.into(), Value::Guid(org.id).into());
            }
            messages::REVOKE_ACCESS => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let revokee = self.reference(messages::REVOKEE).ok_or_else(|| missing("a Revokee"))?;
                core::revoke(store, &target, &revokee);
            }
            messages::ASSOCIATE | messages::DISASSOCIATE => {
                let target = self.request.target_reference().ok_or_else(|| missing("a Target"))?;
                let Some(ParameterValue::Relationship(name)) = self.request.parameter(messages::RELATIONSHIP) else {
                    return Err(missing("a Relationship"));
                };
                let related = match self.request.parameter(messages::RELATED_ENTITIES) {
                    Some(ParameterValue::EntityReferences(refs)) => refs.clone(),
                    _ => return Err(missing("RelatedEntities")),
                };
                core::relate(org, store, name, &target, &related, self.request.message == messages::ASSOCIATE)?;
            }
            messages::UPSERT => upsert::run_upsert(self, state)?,
            messages::CREATE_MULTIPLE => bulk::create_multiple(self, state)?,
            messages::UPDATE_MULTIPLE => bulk::update_multiple(self, state)?,
            messages::UPSERT_MULTIPLE => bulk::upsert_multiple(self, state)?,
            messages::MERGE => {
                let merge = msg::merge::Merge::of(&self.request)?;
                msg::merge::run(org, store, user, self.call.impersonator, &merge, now)?;
            }
            messages::ADD_USER_TO_RECORD_TEAM => {
                self.output.extend(msg::teams::add_user(org, store, user, &self.request, now)?)
            }
            messages::REMOVE_USER_FROM_RECORD_TEAM => {
                self.output.extend(msg::teams::remove_user(org, store, &self.request)?)
            }
            messages::QUALIFY_LEAD => self.qualify_lead(state)?,
            messages::ADD_MEMBERS_TEAM | messages::REMOVE_MEMBERS_TEAM => {
                let add = self.request.message == messages::ADD_MEMBERS_TEAM;
                msg::security::change_members(org, store, &self.request, add)?;
            }
            messages::SEND_EMAIL => {
                let who = (user, self.call.impersonator);
                self.output.extend(msg::activities::send_email(org, store, who, &self.request, now)?);
                self.post_record = store.get("email", self.primary_id).cloned();
            }
            name if msg::metadata::is_metadata(name) => self.output.extend(msg::metadata::run(org, &self.request)?),
            other => match org.custom_apis.get(other) {
                // PIPE-1: the stage-30 plug-in is the core operation of a custom message.
                Some(api) => {
                    self.run_stage(state, 30)?;
                    custom::check_response(api, &self.output)?;
                }
                None => {
                    return Err(Fault::new(
                        codes::INVALID_ARGUMENT,
                        format!(
                            "Unrecognized request: the message `{other}` is neither built in nor a custom API of this organization"
                        ),
                    ));
                }
            },
        }
        Ok(())
    }

    /// RetrieveMultiple: the rows the caller (and an external impersonator) may read (SEC-6).
    fn retrieve_multiple(&mut self, state: &mut CaseState) -> Result<(), Fault> {
        let org = self.org();
        let user = self.call.caller;
        let Some(ParameterValue::Query(q)) = self.request.parameter(messages::QUERY) else {
            return Err(Fault::new(codes::INVALID_ARGUMENT, "the RetrieveMultiple request needs a Query"));
        };
        let who = self.privileges(state);
        let impersonator = self.call.impersonator.and_then(|i| self.pipeline.who(state, i));
        let store = state.store.data();
        let readable = |row: &Entity| {
            who.as_ref().is_none_or(|w| authorize::can_read(org, w, store, row))
                && impersonator.as_ref().is_none_or(|w| authorize::can_read(org, w, store, row))
        };
        let calendar = query::Calendar { now: state.clock.now(), zone: org.settings.time_zone };
        // SEC-10: `eq-businessid` is the caller's business unit as the case stands.
        let business_unit = core::business_unit_of(org, store, user);
        let caller = query::Caller { user, business_unit, readable: &readable, calendar };
        let found = query::retrieve_multiple(org, store, q, &caller)?;
        self.output.insert(messages::ENTITY_COLLECTION.into(), ParameterValue::EntityCollection(found));
        Ok(())
    }

    /// QualifyLead (LEAD-1): the records asked for, created by child requests as the caller, then the lead
    /// qualified and pointing at them.
    fn qualify_lead(&mut self, state: &mut CaseState) -> Result<(), Fault> {
        let ask = msg::qualify::Qualify::of(&self.request)?;
        let lead = state.store.data().get("lead", ask.lead.id).cloned();
        let lead = lead.ok_or_else(|| core::not_found("lead", ask.lead.id))?;
        msg::qualify::check_open(&lead)?;
        let mut create = |entity: Entity| {
            let response = self.child(state, xrm_model::Request::create(entity))?;
            match response.results.get(messages::ID) {
                Some(ParameterValue::Value(Value::Guid(id))) => Ok(*id),
                _ => Err(Fault::new(codes::INVALID_ARGUMENT, "a Create answered no id")),
            }
        };
        let created = msg::qualify::create_records(&ask, &lead, &mut create)?;
        let change = msg::qualify::qualified_lead(&ask, &created);
        let now = state.clock.now();
        core::update(self.org(), state.store.data_mut(), self.call.caller, self.call.impersonator, change, now)?;
        self.output.insert("CreatedEntities".into(), ParameterValue::EntityReferences(created));
        Ok(())
    }

    /// Runs a request the platform makes on this one's behalf (QualifyLead's creates) as a child pipeline: as
    /// the calling user, one level deeper, in this pipeline's transaction, with its context as the parent.
    fn child(&self, state: &mut CaseState, request: xrm_model::Request) -> Result<xrm_model::Response, Fault> {
        let call = Call {
            caller: self.call.caller,
            initiating: self.call.initiating,
            depth: self.call.depth + 1,
            correlation_id: self.call.correlation_id,
            parent: Some(Arc::new(self.base_context(30, self.call.caller, true))),
            in_transaction: true,
            tag: None,
            via: Some("platform"),
            impersonator: None,
            authenticated: self.call.authenticated,
            user_agent: self.call.user_agent.clone(),
        };
        run(self.pipeline, state, call, request)
    }

    /// A request parameter holding a reference (Assignee, Revokee).
    pub(super) fn reference(&self, name: &str) -> Option<EntityReference> {
        self.request.parameter(name).and_then(ParameterValue::as_reference).cloned()
    }
}
