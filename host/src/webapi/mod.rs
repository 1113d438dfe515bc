//! `xrm-sandbox serve`: the organization behind a local Dataverse Web API (`/api/data/v9.2/`), so that real
//! client libraries (and the integrations built on them) run against the sandbox, with the organization's
//! plug-ins firing as the right users (docs/serve.md).
//!
//! Data flows one way: each HTTP request is read into an organization request (a bearer token names the
//! caller, `CallerObjectId` / `MSCRMCallerID` impersonate, IMP-6..9) and sent through the same pipeline a
//! suite's request goes through. Unlike a suite case the server keeps one session for its whole life: what a
//! successful request writes stays, a failed request is rolled back as the pipeline rolls it back, and
//! `POST /_sandbox/reset` starts again from the loaded organization.
//!
//! The session lives on one case thread ([`crate::threads`]) outside the async runtime, where plug-ins may
//! run; the HTTP side (hyper on tokio) reads and checks each request, hands the worker a job and awaits its
//! answer. Requests therefore run one at a time, in the order they arrive, as in one organization.

mod actions;
mod auth;
mod batch;
pub mod errors;
mod fetch;
pub mod filter;
mod io;
mod json;
mod metadata;
mod options;
pub mod path;
mod records;
mod refs;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use xrm_model::{Request, Response, Uuid, messages};

pub use auth::UserToken;
use errors::ApiError;
use io::Io;
use json::{key_reference, table_of_set};
use options::{Prefer, QueryOptions};
use path::{Resource, parse_resource, split_api_path};
use records::{count, create, query, retrieve, update, who_am_i};

use crate::org::{Organization, Table};
use crate::pipeline::{Impersonation, Pipeline, RequestOptions, Session};

/// The largest request body read: far above any record, below what would hurt the machine.
const MAX_BODY: usize = 16 << 20;

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    tokens: Vec<UserToken>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Listens on `addr` (port 0: a free port) and serves `pipeline`'s organization, starting from its data.
    /// Returns once the socket is bound, so requests may be sent at once.
    pub fn start(pipeline: Arc<Pipeline>, addr: SocketAddr) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tokens = auth::Tokens::new(pipeline.org());
        let listed = tokens.listed().to_vec();
        let (jobs, worker) = start_worker(pipeline.clone())?;
        let shared = Arc::new(Shared { pipeline, tokens, jobs, addr });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("xrm-sandbox-http")
            .enable_io()
            .enable_time()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("xrm-sandbox-serve".into()).spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        let accepting = tokio::spawn(accept(listener, shared));
                        // A dropped sender stops the server as a sent signal does.
                        let _ = stopped.await;
                        accepting.abort();
                    }
                    Err(e) => eprintln!("error: cannot listen on {addr}: {e}"),
                }
            });
            // Connections still open end with the runtime; then the worker sees its last job and ends.
            runtime.shutdown_background();
            let _ = worker.join();
        })?;
        Ok(Server { addr, tokens: listed, stop: Some(stop), thread: Some(thread) })
    }

    /// The address listened on (with the real port when 0 was asked).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/api/data/v9.2/`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/data/v9.2/", self.addr)
    }

    /// Each user's token, sorted by label.
    pub fn tokens(&self) -> &[UserToken] {
        &self.tokens
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A job for the session's thread.
type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// The thread that owns the session: a case thread (room for nested plug-ins, outside any runtime) running
/// jobs in order until every sender is gone. A job that panics is reported to its request (its answer is
/// never sent) and the thread goes on.
fn start_worker(pipeline: Arc<Pipeline>) -> std::io::Result<(mpsc::Sender<Job>, std::thread::JoinHandle<()>)> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let thread = std::thread::Builder::new().name("xrm-sandbox-session".into()).spawn(move || {
        let run = crate::threads::on_case_thread("xrm-sandbox-session", move || {
            let mut session = Session::new(pipeline);
            for job in queue {
                let _ = catch_unwind(AssertUnwindSafe(|| job(&mut session)));
            }
        });
        if let Err(e) = run {
            eprintln!("error: the session thread stopped: {e}");
        }
    })?;
    Ok((jobs, thread))
}

/// What every request handler shares.
struct Shared {
    pipeline: Arc<Pipeline>,
    tokens: auth::Tokens,
    jobs: mpsc::Sender<Job>,
    addr: SocketAddr,
}

impl Shared {
    /// Runs `f` on the session's thread and gives its result.
    async fn on_session<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |session| {
            let _ = answer.send(f(session));
        });
        self.jobs.send(job).map_err(|_| internal("the session thread has stopped"))?;
        answered.await.map_err(|_| internal("the host panicked while running the request (a bug of xrm-sandbox)"))
    }
}

/// A failure of the server itself: `500` with the platform's code for an unexpected error.
fn internal(message: &str) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, errors::UNEXPECTED, message)
}

async fn accept(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                eprintln!("warning: cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                // On a task of its own, so that a bug of the server's panicking is a 500 with a body, not a
                // dropped connection.
                let handling = tokio::spawn(async move { handle(shared, request).await });
                async move {
                    Ok::<_, Infallible>(handling.await.unwrap_or_else(|e| {
                        error_response(&internal(&format!(
                            "the server failed on this request (a bug of xrm-sandbox): {e}"
                        )))
                        .map(Full::new)
                    }))
                }
            });
            // A client that goes away mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(Io(stream), service).await;
        });
    }
}

/// A response as the handlers build it; its body is sent whole.
type Answer = hyper::Response<Bytes>;

/// One HTTP request: every failure becomes the platform's error shape. The request is read on the runtime and
/// answered on the session's thread (where it runs in order with the others).
async fn handle(shared: Arc<Shared>, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return error_response(&ApiError::bad_request(format!("Cannot read the request body: {e}"))).map(Full::new);
        }
    };
    let on = shared.clone();
    let answer = match on.on_session(move |session| route(&shared, session, &parts, body)).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) | Err(e) => error_response(&e),
    };
    answer.map(Full::new)
}

fn error_response(e: &ApiError) -> Answer {
    let mut response = respond(e.status, Some(e.body()));
    if e.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// A response with the Web API's headers and an optional JSON body.
fn respond(status: StatusCode, body: Option<String>) -> Answer {
    let has_body = body.is_some();
    let mut response = hyper::Response::new(body.map(Bytes::from).unwrap_or_default());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("OData-Version", HeaderValue::from_static("4.0"));
    if has_body {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; odata.metadata=minimal"));
    }
    response
}

fn with_header(mut response: Answer, name: &'static str, value: &str) -> Answer {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
    response
}

/// Who sends a request and how.
#[derive(Clone)]
struct Caller {
    user: Uuid,
    on_behalf_of: Option<Impersonation>,
    options: RequestOptions,
}

impl Caller {
    fn send(&self, session: &mut Session, request: Request) -> Result<Response, ApiError> {
        session.send(self.user, self.on_behalf_of, request, self.options.clone()).map_err(ApiError::from)
    }
}

/// The request's context: where it was sent, and what it prefers.
struct Context {
    /// `http://host/api/data/v9.2/`, as the client addressed it.
    base: String,
    prefer: Prefer,
}

/// Runs on the session's thread.
fn route(
    shared: &Shared,
    session: &mut Session,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let path = parts.uri.path();
    if path == "/_sandbox/reset" {
        if parts.method != Method::POST {
            return Err(method_not_allowed(&parts.method, "/_sandbox/reset"));
        }
        *session = Session::new(shared.pipeline.clone());
        return Ok(respond(StatusCode::NO_CONTENT, None));
    }
    if let Some((version, rest)) = split_api_path(path)
        && path::percent_decode(rest, false).is_ok_and(|r| r == "$batch")
    {
        return batch::batch(shared, session, parts, version, &body);
    }
    api(shared, session, parts, body)
}

/// A request under `/api/data/v…/` (alone or as a part of a `$batch`).
fn api(
    shared: &Shared,
    session: &mut Session,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Answer, ApiError> {
    let path = parts.uri.path();
    let Some((version, rest)) = split_api_path(path) else {
        return Err(ApiError::not_found(format!(
            "No resource at '{path}': the Web API is under /api/data/v9.2/ (and POST /_sandbox/reset restores the \
             organization)"
        )));
    };
    let org = shared.pipeline.org();
    let headers = &parts.headers;
    let authorization = header_text(headers, header::AUTHORIZATION.as_str())?;
    let options = QueryOptions::read(parts.uri.query().unwrap_or(""))?;
    // Skipping plug-ins is a request the pipeline cannot honour yet: refused, never silently ignored.
    for name in ["MSCRM.BypassCustomPluginExecution", "MSCRM.BypassBusinessLogicExecution"] {
        if header_text(headers, name)?.is_some_and(|v| !v.eq_ignore_ascii_case("false")) {
            return Err(ApiError::not_supported(format!("The {name} header")));
        }
    }
    let caller = Caller {
        user: shared.tokens.caller(org, authorization)?,
        on_behalf_of: impersonation(headers)?,
        options: RequestOptions {
            tag: options.tag.clone(),
            user_agent: header_text(headers, header::USER_AGENT.as_str())?.map(str::to_owned),
        },
    };
    let host = header_text(headers, header::HOST.as_str())?.map_or_else(|| shared.addr.to_string(), str::to_owned);
    let context = Context { base: format!("http://{host}/api/data/{version}/"), prefer: Prefer::read(headers)? };
    let resource = parse_resource(rest)?;
    let method = &parts.method;
    let set_of = |set: &str| {
        let table = table_of(org, set)?;
        check_select(table, &options)?;
        Ok::<_, ApiError>(table)
    };
    let raw_query = parts.uri.query().unwrap_or("");
    match (method.clone(), resource) {
        (Method::GET, Resource::WhoAmI) => who_am_i(session, &caller, &context),
        (Method::GET, Resource::Collection(set)) if set == "EntityDefinitions" => {
            metadata::entities(org, &context, raw_query)
        }
        (Method::GET, Resource::Record(set, key)) if set == "EntityDefinitions" => {
            metadata::entity(org, &context, &key, None, raw_query)
        }
        (Method::GET, Resource::BoundAction(set, Some(key), segment)) if set == "EntityDefinitions" => {
            metadata::entity(org, &context, &key, Some(&segment), raw_query)
        }
        (Method::POST, Resource::Collection(name))
            if org.custom_apis.contains_key(&name) || messages::is_built_in(&name) =>
        {
            actions::action(shared, session, &caller, &context, None, &name, &body)
        }
        (Method::POST, Resource::BoundAction(set, key, name)) => {
            let table = actions::bound_table(org, &set)?;
            actions::action(shared, session, &caller, &context, Some((table, key.as_ref())), &name, &body)
        }
        (method, Resource::Ref(set, key, navigation, related)) => refs::reference(
            shared,
            session,
            &caller,
            &method,
            table_of(org, &set)?,
            &key,
            &navigation,
            related.as_ref(),
            &options,
            &body,
        ),
        (_, Resource::BoundAction(set, key, name)) => Err(ApiError::not_supported(format!(
            "The path segment '{name}' (after '{set}{}')",
            if key.is_some() { "(…)" } else { "" }
        ))),
        (Method::POST, Resource::Collection(set)) => {
            create(shared, session, &caller, &context, set_of(&set)?, &options, body)
        }
        (Method::GET, Resource::Collection(set)) => match &options.fetch_xml {
            Some(fetch_xml) => fetch::fetch(session, &caller, &context, set_of(&set)?, fetch_xml),
            None => query(session, &caller, &context, set_of(&set)?, &options, parts.uri.query().unwrap_or("")),
        },
        (Method::GET, Resource::Count(set)) => count(session, &caller, set_of(&set)?, &options),
        (Method::GET, Resource::Record(set, key)) => {
            retrieve(session, &caller, &context, set_of(&set)?, &key, &options)
        }
        (Method::PATCH, Resource::Record(set, key)) => {
            update(shared, session, &caller, &context, set_of(&set)?, key, &options, headers, body)
        }
        (Method::DELETE, Resource::Record(set, key)) => {
            let target = key_reference(set_of(&set)?, &key)?;
            caller.send(session, Request::delete(target))?;
            Ok(respond(StatusCode::NO_CONTENT, None))
        }
        (method, _) => Err(method_not_allowed(&method, rest)),
    }
}

/// The table of an entity set in the URL; an action's name where an entity set is expected is named as such
/// rather than as an unknown entity set.
fn table_of<'o>(org: &'o Organization, set: &str) -> Result<&'o Table, ApiError> {
    if org.custom_apis.contains_key(set) || messages::is_built_in(set) {
        return Err(ApiError::not_supported(format!("The action or function '{set}'")));
    }
    table_of_set(org, set)
}

/// Refuses `$select` columns the table does not have before anything runs: a Create with
/// `return=representation` must not write a record and then fail to read it back.
fn check_select(table: &Table, options: &QueryOptions) -> Result<(), ApiError> {
    let unknown = options.select.iter().flatten().find(|c| !table.columns.contains_key(*c));
    match unknown {
        None => Ok(()),
        Some(column) => Err(ApiError::from_fault(&xrm_model::Fault::new(
            xrm_model::codes::UNKNOWN_ATTRIBUTE,
            format!(
                "Invalid $select: '{}' entity doesn't contain attribute with Name = '{column}'",
                table.logical_name
            ),
        ))),
    }
}

fn method_not_allowed(method: &Method, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        errors::BAD_URL,
        format!("The HTTP method '{method}' is not allowed on '{path}'"),
    )
}

/// A header's text; `None` when absent, 400 when it is not visible ASCII.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| ApiError::bad_request(format!("The {name} header is not text"))))
        .transpose()
}

/// `CallerObjectId` (an Entra object id) or `MSCRMCallerID` (a systemuserid): the user the request is sent
/// for (IMP-6..9, applied by the pipeline).
fn impersonation(headers: &HeaderMap) -> Result<Option<Impersonation>, ApiError> {
    let id = |name: &str| -> Result<Option<Uuid>, ApiError> {
        header_text(headers, name)?
            .map(|text| {
                let bare = text.trim().trim_start_matches('{').trim_end_matches('}');
                Uuid::try_parse(bare)
                    .map_err(|_| ApiError::bad_request(format!("The {name} header '{text}' is not a GUID")))
            })
            .transpose()
    };
    match (id("CallerObjectId")?, id("MSCRMCallerID")?) {
        (Some(_), Some(_)) => {
            Err(ApiError::bad_request("Send one of the CallerObjectId and MSCRMCallerID headers, not both"))
        }
        (Some(object), None) => Ok(Some(Impersonation::CallerObjectId(object))),
        (None, Some(user)) => Ok(Some(Impersonation::MscrmCallerId(user))),
        (None, None) => Ok(None),
    }
}
