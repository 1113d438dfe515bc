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

mod auth;
pub mod errors;
pub mod filter;
mod json;
pub mod path;

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
use serde_json::{Map, Value as Json, json};
use xrm_model::{
    ColumnSet, Entity, EntityReference, OrderExpression, PagingInfo, ParameterValue, Query, QueryExpression, Request,
    Response, Uuid, Value, messages,
};

pub use auth::UserToken;
use errors::ApiError;
use json::{Annotations, entity_from_json, entity_to_json, key_reference, table_of_set};
use path::{RecordKey, Resource, parse_resource, query_pairs, split_api_path};

use crate::org::{Organization, Table};
use crate::pipeline::{Impersonation, Pipeline, RequestOptions, Session};

/// The largest request body read: far above any record, below what would hurt the machine.
const MAX_BODY: usize = 16 << 20;

/// The page size when a client asks for none (`Prefer: odata.maxpagesize`): the platform's.
const DEFAULT_PAGE: u32 = 5000;

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
                let handling = tokio::spawn(async move { handle(&shared, request).await });
                async move {
                    Ok::<_, Infallible>(handling.await.unwrap_or_else(|e| {
                        error_response(&internal(&format!(
                            "the server failed on this request (a bug of xrm-sandbox): {e}"
                        )))
                    }))
                }
            });
            // A client that goes away mid-request is its own business.
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(Io(stream), service).await;
        });
    }
}

/// One HTTP request: every failure becomes the platform's error shape.
async fn handle(shared: &Shared, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error_response(&ApiError::bad_request(format!("Cannot read the request body: {e}"))),
    };
    match route(shared, &parts, body).await {
        Ok(response) => response,
        Err(e) => error_response(&e),
    }
}

fn error_response(e: &ApiError) -> hyper::Response<Full<Bytes>> {
    let mut response = respond(e.status, Some(e.body()));
    if e.status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// A response with the Web API's headers and an optional JSON body.
fn respond(status: StatusCode, body: Option<String>) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(body.clone().map(Bytes::from).unwrap_or_default()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("OData-Version", HeaderValue::from_static("4.0"));
    if body.is_some() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; odata.metadata=minimal"));
    }
    response
}

fn with_header(
    mut response: hyper::Response<Full<Bytes>>,
    name: &'static str,
    value: &str,
) -> hyper::Response<Full<Bytes>> {
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

async fn route(
    shared: &Shared,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<hyper::Response<Full<Bytes>>, ApiError> {
    let path = parts.uri.path();
    if path == "/_sandbox/reset" {
        if parts.method != Method::POST {
            return Err(method_not_allowed(&parts.method, "/_sandbox/reset"));
        }
        let pipeline = shared.pipeline.clone();
        shared.on_session(move |session| *session = Session::new(pipeline)).await?;
        return Ok(respond(StatusCode::NO_CONTENT, None));
    }
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
    match (method.clone(), resource) {
        (Method::GET, Resource::WhoAmI) => who_am_i(shared, caller, &context).await,
        (Method::POST, Resource::Collection(set)) => {
            create(shared, caller, &context, set_of(&set)?, &options, body).await
        }
        (Method::GET, Resource::Collection(set)) => {
            query(shared, caller, &context, set_of(&set)?, &options, parts.uri.query().unwrap_or("")).await
        }
        (Method::GET, Resource::Count(set)) => count(shared, caller, set_of(&set)?, &options).await,
        (Method::GET, Resource::Record(set, key)) => {
            retrieve(shared, caller, &context, set_of(&set)?, &key, &options).await
        }
        (Method::PATCH, Resource::Record(set, key)) => {
            update(shared, caller, &context, set_of(&set)?, key, &options, headers, body).await
        }
        (Method::DELETE, Resource::Record(set, key)) => {
            let target = key_reference(set_of(&set)?, &key)?;
            shared.on_session(move |s| caller.send(s, Request::delete(target))).await??;
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

/// The `Prefer` header's preferences the server honours.
#[derive(Default)]
struct Prefer {
    representation: bool,
    max_page_size: Option<u32>,
    annotations: Annotations,
}

impl Prefer {
    fn read(headers: &HeaderMap) -> Result<Prefer, ApiError> {
        let mut prefer = Prefer::default();
        for value in headers.get_all("Prefer") {
            let text = value.to_str().map_err(|_| ApiError::bad_request("The Prefer header is not text"))?;
            for item in split_outside_quotes(text).into_iter().map(str::trim) {
                let (name, value) =
                    item.split_once('=').map_or((item, ""), |(n, v)| (n.trim(), v.trim().trim_matches('"')));
                match name {
                    "return" => prefer.representation = value == "representation",
                    "odata.maxpagesize" => {
                        let size = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            ApiError::bad_request(format!("odata.maxpagesize={value} is not a positive whole number"))
                        })?;
                        prefer.max_page_size = Some(size);
                    }
                    "odata.include-annotations" => prefer.annotations = Annotations::from_preference(value),
                    // Other preferences (odata.continue-on-error, …) are not honoured; the platform ignores
                    // those it does not know too.
                    _ => {}
                }
            }
        }
        Ok(prefer)
    }
}

/// `a=1, b="x,y"` split at the commas outside double quotes.
fn split_outside_quotes(text: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted) = (Vec::new(), 0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The query options of a request.
#[derive(Default)]
struct QueryOptions {
    select: Option<Vec<String>>,
    filter: Option<String>,
    orderby: Vec<OrderExpression>,
    top: Option<u32>,
    count: bool,
    /// The page a `@odata.nextLink` points to (its opaque `$skiptoken` is the page number).
    page: Option<u32>,
    /// `tag=…`: the request's `SharedVariables["tag"]` (PIPE-7).
    tag: Option<String>,
}

impl QueryOptions {
    fn read(query: &str) -> Result<QueryOptions, ApiError> {
        let mut options = QueryOptions::default();
        for (name, value) in query_pairs(query)? {
            match name.as_str() {
                "$select" => {
                    let columns = value.split(',').map(|c| filter::column_name(c.trim())).collect::<Result<_, _>>();
                    options.select =
                        Some(columns.map_err(|e| {
                            ApiError::bad_request(e.message.replace("Invalid $filter", "Invalid $select"))
                        })?);
                }
                "$filter" => options.filter = Some(value),
                "$orderby" => options.orderby = orderby(&value)?,
                "$top" => {
                    let top = value
                        .parse()
                        .map_err(|_| ApiError::bad_request(format!("Invalid $top: '{value}' is not a whole number")))?;
                    options.top = Some(top);
                }
                "$count" => {
                    options.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(ApiError::bad_request(format!("Invalid $count: '{value}' (true or false)"))),
                    }
                }
                "$skiptoken" => {
                    let page = value.parse().ok().filter(|p| *p > 1).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Invalid $skiptoken '{value}': follow @odata.nextLink as it is given"
                        ))
                    })?;
                    options.page = Some(page);
                }
                "tag" => options.tag = Some(value),
                "$expand" | "$apply" | "$skip" | "$search" | "$compute" | "$format" | "$levels" | "fetchXml"
                | "savedQuery" | "userQuery" => {
                    return Err(ApiError::not_supported(format!("The query option '{name}'")));
                }
                other => {
                    return Err(ApiError::bad_request(format!(
                        "The query option '{other}' is unknown ($select, $filter, $orderby, $top, $count and tag \
                         are served)"
                    )));
                }
            }
        }
        Ok(options)
    }

    fn columns(&self) -> ColumnSet {
        match &self.select {
            Some(columns) => ColumnSet::Columns(columns.clone()),
            None => ColumnSet::AllColumns,
        }
    }
}

/// `$orderby=name desc,createdon`.
fn orderby(text: &str) -> Result<Vec<OrderExpression>, ApiError> {
    text.split(',')
        .map(|item| {
            let mut words = item.split_whitespace();
            let column = words.next().ok_or_else(|| ApiError::bad_request(format!("Invalid $orderby '{text}'")))?;
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid $orderby: '{other}' after '{column}' (asc or desc)"
                    )));
                }
            };
            if let Some(extra) = words.next() {
                return Err(ApiError::bad_request(format!("Invalid $orderby: unexpected '{extra}' in '{item}'")));
            }
            let column = filter::column_name(column)
                .map_err(|e| ApiError::bad_request(e.message.replace("Invalid $filter", "Invalid $orderby")))?;
            Ok(OrderExpression { attribute_name: column, descending, entity_name: None })
        })
        .collect()
}

fn json_response(status: StatusCode, body: Json) -> hyper::Response<Full<Bytes>> {
    respond(status, Some(body.to_string()))
}

/// The record as JSON with its `@odata.context`.
fn record_body(context: &Context, table: &Table, entity: &Entity) -> Json {
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}$metadata#{}/$entity", context.base, table.entity_set_name)));
    body.extend(entity_to_json(entity, &table.primary_id, context.prefer.annotations));
    Json::Object(body)
}

fn entity_id_url(context: &Context, table: &Table, id: Uuid) -> String {
    format!("{}{}({id})", context.base, table.entity_set_name)
}

fn retrieved(response: Response) -> Result<Entity, ApiError> {
    match response.results.get(messages::ENTITY) {
        Some(ParameterValue::Entity(e)) => Ok(e.clone()),
        _ => Err(internal("Retrieve returned no entity")),
    }
}

async fn who_am_i(
    shared: &Shared,
    caller: Caller,
    context: &Context,
) -> Result<hyper::Response<Full<Bytes>>, ApiError> {
    let response = shared.on_session(move |s| caller.send(s, Request::new(messages::WHO_AM_I))).await??;
    let id = |name: &str| match response.results.get(name) {
        Some(ParameterValue::Value(Value::Guid(id))) => json!(id.to_string()),
        _ => Json::Null,
    };
    Ok(json_response(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", context.base),
            "BusinessUnitId": id(messages::BUSINESS_UNIT_ID),
            "UserId": id(messages::USER_ID),
            "OrganizationId": id(messages::ORGANIZATION_ID),
        }),
    ))
}

fn body_entity(shared: &Shared, table: &Table, body: &[u8]) -> Result<Entity, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_payload(format!(
            "The request to '{}' has no body: send the record's columns as a JSON object",
            table.entity_set_name
        )));
    }
    entity_from_json(shared.pipeline.org(), table, body)
}

async fn create(
    shared: &Shared,
    caller: Caller,
    context: &Context,
    table: &Table,
    options: &QueryOptions,
    body: Bytes,
) -> Result<hyper::Response<Full<Bytes>>, ApiError> {
    let entity = body_entity(shared, table, &body)?;
    let (logical, columns, representation) =
        (table.logical_name.clone(), options.columns(), context.prefer.representation);
    let (id, record) = shared
        .on_session(move |s| {
            let response = caller.send(s, Request::create(entity))?;
            let Some(ParameterValue::Value(Value::Guid(id))) = response.results.get(messages::ID).cloned() else {
                return Err(internal("Create returned no id"));
            };
            let record = match representation {
                true => {
                    Some(retrieved(caller.send(s, Request::retrieve(EntityReference::new(logical, id), columns))?)?)
                }
                false => None,
            };
            Ok((id, record))
        })
        .await??;
    let url = entity_id_url(context, table, id);
    let response = match record {
        Some(record) => with_header(
            json_response(StatusCode::CREATED, record_body(context, table, &record)),
            "Preference-Applied",
            "return=representation",
        ),
        None => respond(StatusCode::NO_CONTENT, None),
    };
    Ok(with_header(response, "OData-EntityId", &url))
}

async fn retrieve(
    shared: &Shared,
    caller: Caller,
    context: &Context,
    table: &Table,
    key: &RecordKey,
    options: &QueryOptions,
) -> Result<hyper::Response<Full<Bytes>>, ApiError> {
    let request = Request::retrieve(key_reference(table, key)?, options.columns());
    let record = retrieved(shared.on_session(move |s| caller.send(s, request)).await??)?;
    Ok(json_response(StatusCode::OK, record_body(context, table, &record)))
}

/// What a PATCH does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Patch {
    /// `If-Match: *`: the record must exist.
    Update,
    /// `If-None-Match: *`: it must not.
    Create,
    Upsert,
}

/// The id of the record a Create or an Upsert wrote.
fn written_id(response: &Response) -> Option<Uuid> {
    match (response.results.get(messages::ID), response.results.get(messages::TARGET)) {
        (Some(ParameterValue::Value(Value::Guid(id))), _) => Some(*id),
        (_, Some(ParameterValue::Value(Value::Lookup(r)))) => Some(r.id),
        _ => None,
    }
}

/// PATCH: Update with `If-Match: *` (the record must exist), Create with `If-None-Match: *` (it must not),
/// Upsert otherwise; the record named by id or by alternate key (KEY-1).
#[allow(clippy::too_many_arguments)]
async fn update(
    shared: &Shared,
    caller: Caller,
    context: &Context,
    table: &Table,
    key: RecordKey,
    options: &QueryOptions,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<hyper::Response<Full<Bytes>>, ApiError> {
    let mut entity = body_entity(shared, table, &body)?;
    let reference = key_reference(table, &key)?;
    match key {
        RecordKey::Id(id) if entity.id.is_some_and(|sent| sent != id) => {
            return Err(ApiError::bad_payload(format!(
                "The body's {} is not the id in the URL ({id})",
                table.primary_id
            )));
        }
        RecordKey::Id(id) => entity.id = Some(id),
        RecordKey::Keys(_) if entity.id.is_some() => {
            return Err(ApiError::bad_payload(format!(
                "The body names the record by its {} while the URL names it by alternate key",
                table.primary_id
            )));
        }
        RecordKey::Keys(_) => entity.key_attributes = reference.key_attributes.clone(),
    }
    let condition = |name: &str| -> Result<bool, ApiError> {
        match header_text(headers, name)? {
            // `If-None-Match: null` is what the platform's documentation has clients send against caching.
            None | Some("null") => Ok(false),
            Some("*") => Ok(true),
            Some(other) => Err(ApiError::not_supported(format!("{name}: {other} (an ETag; only * is served)"))),
        }
    };
    let patch = match (condition("If-Match")?, condition("If-None-Match")?) {
        (true, true) => return Err(ApiError::bad_request("If-Match: * and If-None-Match: * exclude each other")),
        (true, false) => Patch::Update,
        (false, true) => Patch::Create,
        (false, false) => Patch::Upsert,
    };
    let (logical, columns, representation) =
        (table.logical_name.clone(), options.columns(), context.prefer.representation);
    let primary = table.primary_id.clone();
    let (id, record) = shared
        .on_session(move |s| {
            let id = match patch {
                Patch::Update => {
                    // By key, the record is found first: the update may change the key's own columns.
                    let id = match reference.id.is_nil() {
                        false => reference.id,
                        true => {
                            let only_id = ColumnSet::Columns(vec![primary]);
                            let found = retrieved(caller.send(s, Request::retrieve(reference, only_id))?)?;
                            found.id.ok_or_else(|| internal("Retrieve returned a record without its id"))?
                        }
                    };
                    caller.send(s, Request::update(entity))?;
                    id
                }
                Patch::Create | Patch::Upsert => {
                    let request =
                        if patch == Patch::Create { Request::create(entity) } else { Request::upsert(entity) };
                    let response = caller.send(s, request)?;
                    written_id(&response).ok_or_else(|| internal("the write returned no id"))?
                }
            };
            let record = match representation {
                true => {
                    Some(retrieved(caller.send(s, Request::retrieve(EntityReference::new(logical, id), columns))?)?)
                }
                false => None,
            };
            Ok::<_, ApiError>((id, record))
        })
        .await??;
    let url = entity_id_url(context, table, id);
    let response = match record {
        Some(record) => with_header(
            json_response(StatusCode::OK, record_body(context, table, &record)),
            "Preference-Applied",
            "return=representation",
        ),
        None => respond(StatusCode::NO_CONTENT, None),
    };
    Ok(with_header(response, "OData-EntityId", &url))
}

/// The QueryExpression of a collection's query options.
fn query_expression(table: &Table, options: &QueryOptions, page_size: u32) -> Result<QueryExpression, ApiError> {
    let mut query = QueryExpression::new(table.logical_name.clone());
    query.column_set = options.columns();
    if let Some(text) = &options.filter {
        query.criteria = filter::parse(text)?;
    }
    query.orders = options.orderby.clone();
    match options.top {
        // The engine refuses a top count with a total count; a first page of `top` rows is the same rows.
        Some(top) if options.count => {
            query.page_info =
                Some(PagingInfo { page_number: 1, count: top, paging_cookie: None, return_total_record_count: true })
        }
        Some(top) => query.top_count = Some(top),
        None => {
            query.page_info = Some(PagingInfo {
                page_number: options.page.unwrap_or(1),
                count: page_size,
                paging_cookie: None,
                return_total_record_count: options.count,
            })
        }
    }
    Ok(query)
}

fn collection(response: Response) -> Result<xrm_model::EntityCollection, ApiError> {
    match response.results.get(messages::ENTITY_COLLECTION) {
        Some(ParameterValue::EntityCollection(c)) => Ok(c.clone()),
        _ => Err(internal("RetrieveMultiple returned no collection")),
    }
}

async fn query(
    shared: &Shared,
    caller: Caller,
    context: &Context,
    table: &Table,
    options: &QueryOptions,
    raw_query: &str,
) -> Result<hyper::Response<Full<Bytes>>, ApiError> {
    let page_size = context.prefer.max_page_size.unwrap_or(DEFAULT_PAGE);
    let request = Request::retrieve_multiple(Query::Expression(query_expression(table, options, page_size)?));
    let rows = collection(shared.on_session(move |s| caller.send(s, request)).await??)?;
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}$metadata#{}", context.base, table.entity_set_name)));
    if options.count {
        let total =
            if rows.total_record_count >= 0 { i64::from(rows.total_record_count) } else { rows.entities.len() as i64 };
        body.insert("@odata.count".into(), json!(total));
        if rows.total_record_count_limit_exceeded {
            body.insert("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded".into(), json!(true));
        }
    }
    let values: Vec<Json> = rows
        .entities
        .iter()
        .map(|e| Json::Object(entity_to_json(e, &table.primary_id, context.prefer.annotations)))
        .collect();
    body.insert("value".into(), Json::Array(values));
    if rows.more_records && options.top.is_none() {
        let next = options.page.unwrap_or(1) + 1;
        let kept: Vec<&str> = raw_query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| {
                let name = p.split_once('=').map_or(*p, |(n, _)| n);
                path::percent_decode(name, true).map_or(true, |n| n != "$skiptoken")
            })
            .collect();
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{}{}?{query}$skiptoken={next}", context.base, table.entity_set_name)),
        );
    }
    let response = json_response(StatusCode::OK, Json::Object(body));
    Ok(match context.prefer.max_page_size {
        Some(size) => with_header(response, "Preference-Applied", &format!("odata.maxpagesize={size}")),
        None => response,
    })
}

/// `{set}/$count`: how many records the caller may read (as the platform, at most 5,000), as plain text.
async fn count(
    shared: &Shared,
    caller: Caller,
    table: &Table,
    options: &QueryOptions,
) -> Result<hyper::Response<Full<Bytes>>, ApiError> {
    let mut query = QueryExpression::new(table.logical_name.clone());
    query.column_set = ColumnSet::Columns(vec![table.primary_id.clone()]);
    if let Some(text) = &options.filter {
        query.criteria = filter::parse(text)?;
    }
    let request = Request::retrieve_multiple(Query::Expression(query));
    let rows = collection(shared.on_session(move |s| caller.send(s, request)).await??)?;
    let mut response = respond(StatusCode::OK, None);
    *response.body_mut() = Full::new(Bytes::from(rows.entities.len().to_string()));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

/// A tokio TCP stream as hyper's IO, in safe code: reads go through a buffer of initialized bytes.
struct Io(tokio::net::TcpStream);

impl hyper::rt::Read for Io {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let mut bytes = [0u8; 8192];
        let wanted = buf.remaining().min(bytes.len());
        let mut read = tokio::io::ReadBuf::new(&mut bytes[..wanted]);
        match tokio::io::AsyncRead::poll_read(std::pin::Pin::new(&mut self.0), cx, &mut read) {
            std::task::Poll::Ready(Ok(())) => {
                buf.put_slice(read.filled());
                std::task::Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl hyper::rt::Write for Io {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(std::pin::Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.0), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preferences_are_read_with_quoted_lists() {
        let mut headers = HeaderMap::new();
        let both = "return=representation, odata.include-annotations=\"OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname\"";
        headers.insert("Prefer", HeaderValue::from_str(both).unwrap());
        headers.append("Prefer", HeaderValue::from_static("odata.maxpagesize=10"));
        let prefer = Prefer::read(&headers).unwrap();
        assert!(prefer.representation);
        assert_eq!(prefer.max_page_size, Some(10));
        assert_eq!(prefer.annotations, Annotations { formatted: true, lookup_table: true });
        headers.insert("Prefer", HeaderValue::from_static("odata.maxpagesize=0"));
        assert!(Prefer::read(&headers).is_err());
    }

    #[test]
    fn orderby_reads_columns_and_directions() {
        let orders = orderby("name desc, _ownerid_value,createdon asc").unwrap();
        let read: Vec<(&str, bool)> = orders.iter().map(|o| (o.attribute_name.as_str(), o.descending)).collect();
        assert_eq!(read, [("name", true), ("ownerid", false), ("createdon", false)]);
        assert!(orderby("name sideways").unwrap_err().message.contains("'sideways'"));
    }

    #[test]
    fn query_options_are_read_and_unknown_ones_refused() {
        let o = QueryOptions::read("%24select=name,_ownerid_value&$top=3&$count=true").unwrap();
        assert_eq!(o.select, Some(vec!["name".to_owned(), "ownerid".to_owned()]));
        assert_eq!((o.top, o.count), (Some(3), true));
        assert_eq!(QueryOptions::read("$expand=x").err().unwrap().status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(QueryOptions::read("fetchXml=%3Cfetch/%3E").err().unwrap().status, StatusCode::NOT_IMPLEMENTED);
        assert_eq!(QueryOptions::read("$top=many").err().unwrap().status, StatusCode::BAD_REQUEST);
        assert_eq!(QueryOptions::read("$frobnicate=1").err().unwrap().status, StatusCode::BAD_REQUEST);
    }
}
