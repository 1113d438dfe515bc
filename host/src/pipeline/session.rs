//! A case's session: top-level requests by users, plain or impersonated from outside (IMP-6..8), and the
//! asynchronous jobs they queue.

use std::sync::Arc;

use xrm_model::{Fault, Request, Response, Uuid, codes};

use chrono::{DateTime, Utc};

use super::frame::{Call, run};
use super::{CaseState, Event, Pipeline, TraceRecord, identity, jobs};
use crate::clock::{Clock, Period};
use crate::store::{Store, Transactional};

/// Runs `f` where plug-ins may run (a case thread, [`crate::threads`]); a failure to get there is the request's.
fn on_a_case_thread<T: Send>(f: impl FnOnce() -> Result<T, Fault> + Send) -> Result<T, Fault> {
    crate::threads::on_a_case_thread(f).unwrap_or_else(|e| Err(Fault::new(codes::SANDBOX_WORKER_NOT_AVAILABLE, e)))
}

/// One case's view of a pipeline: requests run here see and change only this case's data.
pub struct Session {
    pipeline: Arc<Pipeline>,
    state: CaseState,
    /// Inside [`Session::transaction`]: requests run in its transaction rather than owning one.
    in_transaction: bool,
}

impl Session {
    /// A session starting from the organization's data (an O(1) copy-on-write clone).
    pub fn new(pipeline: Arc<Pipeline>) -> Self {
        let mut data = pipeline.org.data.clone();
        data.journal_writes();
        let store = Transactional::new(data);
        let clock = Clock::new(pipeline.org.settings.now);
        let meter = crate::budget::Meter::new(pipeline.org.settings.case_memory_bytes);
        Session { pipeline, state: CaseState { store, clock, meter, ..CaseState::default() }, in_transaction: false }
    }

    /// Runs `f` as one transaction, all or nothing (PIPE-10), as `ExecuteTransaction` runs its requests (PIPE-17)
    /// but with requests chosen one after the other (a Web API changeset, whose parts name what earlier parts
    /// created): the top-level requests `f` sends run inside it; when `f` fails, every write they made, their
    /// plug-ins' included, is rolled back and their asynchronous steps are never queued; when it succeeds, all
    /// is kept and their asynchronous steps are queued (PIPE-11). Inside another transaction, `f` simply runs
    /// in it.
    pub fn transaction<T, E>(&mut self, f: impl FnOnce(&mut Session) -> Result<T, E>) -> Result<T, E> {
        if self.in_transaction {
            return f(self);
        }
        let _budget = crate::budget::Scope::enter(self.state.meter.clone());
        // Trace records are kept whatever the transaction does, as the platform keeps its trace logs.
        self.state.store_traces();
        let queued_before = self.state.pending_jobs.len();
        self.state.store.begin();
        self.in_transaction = true;
        let result = f(self);
        self.in_transaction = false;
        match result {
            Ok(_) => {
                self.state.store.commit();
                jobs::enqueue(&self.pipeline, &mut self.state, queued_before);
            }
            Err(_) => {
                self.state.store.rollback();
                self.state.pending_jobs.truncate(queued_before);
            }
        }
        self.state.doomed = false;
        result
    }

    /// Sets the case's clock, where it stands until moved (QRY-2).
    pub fn set_clock(&mut self, at: DateTime<Utc>) {
        self.state.clock.set(at);
    }

    /// Moves the case's clock by `period` (QRY-2).
    pub fn advance_clock(&mut self, period: &Period) -> Result<(), String> {
        self.state.clock.advance(period)
    }

    /// What "now" is in this case.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    /// Runs a top-level request as `caller`, with an optional `tag` (PIPE-7).
    pub fn execute(&mut self, caller: Uuid, request: Request, tag: Option<String>) -> Result<Response, Fault> {
        self.send(caller, None, request, RequestOptions { tag, ..RequestOptions::default() })
    }

    /// Runs a top-level request sent by `impersonator` on behalf of another user (IMP-6, IMP-7, IMP-8): the
    /// request runs as that user, allowed only where both users pass the checks.
    pub fn execute_impersonating(
        &mut self,
        impersonator: Uuid,
        on_behalf_of: Impersonation,
        request: Request,
        tag: Option<String>,
    ) -> Result<Response, Fault> {
        self.send(impersonator, Some(on_behalf_of), request, RequestOptions { tag, ..RequestOptions::default() })
    }

    /// Runs a top-level request sent by `sender`, on behalf of another user if a header names one (IMP-6),
    /// with what else the client sent along.
    pub fn send(
        &mut self,
        sender: Uuid,
        on_behalf_of: Option<Impersonation>,
        request: Request,
        options: RequestOptions,
    ) -> Result<Response, Fault> {
        on_a_case_thread(|| self.send_here(sender, on_behalf_of, request, options))
    }

    fn send_here(
        &mut self,
        sender: Uuid,
        on_behalf_of: Option<Impersonation>,
        request: Request,
        options: RequestOptions,
    ) -> Result<Response, Fault> {
        // BOX-5: what the request stores counts against the case's budget, wherever it is stored.
        let _budget = crate::budget::Scope::enter(self.state.meter.clone());
        if !self.in_transaction {
            self.state.store_traces();
        }
        let org = &self.pipeline.org;
        if sender == org.system_user {
            return Err(Fault::new(
                codes::INVALID_ARGUMENT,
                "SYSTEM cannot call from outside: it is reached only through CreateOrganizationService(null) (ORG-2)",
            ));
        }
        let Some(on_behalf_of) = on_behalf_of else {
            return self.top_level(sender, None, request, options);
        };
        identity::check_user(org, sender)?;
        let user = match on_behalf_of {
            Impersonation::CallerId(id) | Impersonation::MscrmCallerId(id) => id,
            Impersonation::CallerObjectId(object) => {
                org.users.values().find(|u| u.aad_object_id == Some(object)).map(|u| u.id).ok_or_else(|| {
                    Fault::new(
                        codes::OBJECT_DOES_NOT_EXIST,
                        format!("systemuser With azureactivedirectoryobjectid = {object} Does Not Exist"),
                    )
                })?
            }
        };
        // IMP-9: a header naming the sender itself is no impersonation: no Delegate, no intersection, no stamps.
        if user == sender {
            return self.top_level(sender, None, request, options);
        }
        // IMP-9 [choice]: SYSTEM is not a person and cannot be impersonated, whoever asks; refused before the
        // Delegate check, which would only hide the real problem.
        if user == org.system_user {
            return Err(Fault::new(
                codes::USER_DISABLED,
                format!(
                    "The specified user is either disabled or is not a member of any business unit: SYSTEM ({user}) \
                     cannot be impersonated; CallerId and MSCRMCallerID must name a user (IMP-9)"
                ),
            ));
        }
        identity::check_user(org, user)?;
        // IMP-6: the privilege counts only through a role assigned to the impersonator directly.
        let privileges = self.pipeline.who(&self.state, sender);
        if !privileges.as_ref().is_some_and(|p| p.holds_directly(DELEGATE)) {
            let mut direct = privileges.map(|p| (*p).clone()).unwrap_or_default();
            direct.user = sender;
            direct.keep_direct_only();
            let refused = crate::security::check_plain_privilege(org, &direct, DELEGATE).into_result();
            return Err(refused.err().unwrap_or_else(|| Fault::new(codes::PRIVILEGE_DENIED, DELEGATE)));
        }
        self.top_level(user, Some(sender), request, options)
    }

    /// A top-level pipeline as `caller` (who is also the initiating user).
    fn top_level(
        &mut self,
        caller: Uuid,
        impersonator: Option<Uuid>,
        request: Request,
        options: RequestOptions,
    ) -> Result<Response, Fault> {
        let call = Call {
            caller,
            initiating: caller,
            depth: 1,
            correlation_id: Uuid::new_v4(),
            parent: None,
            in_transaction: self.in_transaction,
            tag: options.tag,
            via: None,
            impersonator,
            authenticated: impersonator.unwrap_or(caller),
            user_agent: options.user_agent.as_deref().unwrap_or_default().into(),
        };
        run(&self.pipeline, &mut self.state, call, request)
    }

    /// Runs every queued asynchronous job, and the jobs they queue, to completion (PIPE-11); returns how many
    /// ran.
    pub fn run_async(&mut self) -> Result<usize, Fault> {
        on_a_case_thread(|| self.run_async_here())
    }

    fn run_async_here(&mut self) -> Result<usize, Fault> {
        let _budget = crate::budget::Scope::enter(self.state.meter.clone());
        let most = self.pipeline.org.settings.max_async_jobs;
        if !self.state.queue.is_empty() {
            let jobs = self.state.queue.len();
            self.state.record(Event::RunAsync { jobs });
        }
        let mut ran = 0;
        while let Some(job) = self.state.queue.pop_front() {
            // BOX-5: jobs that queue jobs without end stop at the bound; the jobs left are dropped with it.
            if ran >= most {
                let left = self.state.queue.len() + 1;
                self.state.queue.clear();
                drop(job);
                return Err(too_many_jobs(most, left));
            }
            self.state.store_traces();
            jobs::run(&self.pipeline, &mut self.state, job);
            ran += 1;
        }
        Ok(ran)
    }

    /// The asynchronous jobs queued and not yet run.
    pub fn queued_jobs(&self) -> usize {
        self.state.queue.len()
    }

    /// Answers the HTTP requests of this session's plug-ins with `transport` (BOX-6).
    pub fn set_http(&mut self, transport: Box<dyn crate::sandbox::HttpTransport>) {
        self.state.http = Some(transport);
    }

    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// The case's data as it stands between requests, the trace records of finished executions included.
    pub fn store(&mut self) -> &Store {
        let _budget = crate::budget::Scope::enter(self.state.meter.clone());
        self.state.store_traces();
        self.state.store.data()
    }

    /// Events left out of [`Session::log`] because it was full.
    pub fn log_dropped(&self) -> usize {
        self.state.log_dropped
    }

    pub fn log(&self) -> &[Event] {
        &self.state.log
    }

    pub fn traces(&self) -> &[TraceRecord] {
        &self.state.traces
    }
}

/// The fault of a `runasync` that reached its bound of jobs: the platform's infinite-loop code, as for an
/// asynchronous chain it cancels.
fn too_many_jobs(most: usize, left: usize) -> Fault {
    Fault::new(
        codes::INFINITE_LOOP,
        format!(
            "This run of asynchronous jobs was canceled after {most} jobs, the most one run may start \
             (`settings.maxAsyncJobs` in the organization file raises it): the jobs kept queuing jobs, as an \
             infinite loop does; {left} queued jobs were dropped (BOX-5)"
        ),
    )
}

/// How a client outside the sandbox names the user it acts for (IMP-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impersonation {
    /// The SDK's `CallerId`: a `systemuserid`.
    CallerId(Uuid),
    /// The Web API's `CallerObjectId` header: an Entra object id (`azureactivedirectoryobjectid`).
    CallerObjectId(Uuid),
    /// The Web API's `MSCRMCallerID` header: a `systemuserid`.
    MscrmCallerId(Uuid),
}

/// What a client sends along with a request.
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// The request's `tag`, which steps read as the shared variable `tag` (PIPE-7).
    pub tag: Option<String>,
    /// The client's user agent, which steps read as `InitiatingUserAgent` (IMP-11).
    pub user_agent: Option<String>,
}

/// The privilege an impersonator must hold through a role assigned directly (IMP-6).
const DELEGATE: &str = "prvActOnBehalfOfAnotherUser";
