//! `wasi:http/outgoing-handler`, answered by the caller's [`HttpTransport`], never by the network (BOX-6).
//!
//! `wasi:http/types` comes from wasmtime-wasi-http; the handler is ours. It applies BOX-6's checks (http or
//! https, a named host, port 80 or 443), asks the transport for the answer, and hands the plug-in a response
//! that arrives after the answer's delay, cut at the execution's deadline. Request bodies are read as the
//! plug-in writes them (never more than [`MAX_BODY`] each), so a plug-in that writes its body before sending
//! the request cannot block forever. What each request got is given to the transport to record once its body
//! is whole, in the order the plug-in sent them.
//!
//! An answer without delay costs no task and no wait on another thread: the future the plug-in gets is
//! ready at once, and `future-incoming-response.get` (ours too) hands over the response as soon as the
//! request body is whole, which it is whenever the plug-in finished writing it first (the usual order), or
//! the body's failure (too large: `HttpRequestBodySize`, as with a delay). The sandbox reads what the
//! plug-in wrote itself, on its own thread, whenever it needs a body whole (the response, the record); a
//! task reads it meanwhile only so that a plug-in's writes never wait. A body still unfinished when the
//! plug-in asks for the response is waited for by a task, the way an answer with a delay is.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Method, Scheme};
use wasmtime_wasi_http::p2::body::{HostIncomingBody, HostOutgoingBody, HyperOutgoingBody, StreamContext};
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostIncomingResponse, HostOutgoingRequest};
use wasmtime_wasi_http::p2::{HttpError, HttpResult};
use wasmtime_wasi_http::{Error, FieldMap, RequestOptions, WasiHttp, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks};
use xrm_model::Uuid;

use super::TimeLimit;
use crate::sandbox::{PluginHost, StoreData};

/// The most bytes of one request body the sandbox reads; a larger body fails the request.
pub const MAX_BODY: usize = 1 << 20;
/// Requests of one execution whose body is not yet whole; one more fails at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// The longest URL (path and query included) the sandbox accepts.
pub const MAX_URL: usize = 8 << 10;
/// Request headers kept for the transport: past this many bytes, the rest are dropped from the record.
const MAX_RECORDED_HEADERS: usize = 16 << 10;

/// Answers the HTTP requests of plug-ins and records them: the suite's stubs, or any other source of
/// answers. The sandbox never opens a connection.
pub trait HttpTransport: Send {
    /// The answer to a request BOX-6 allows: a response, or `Err` with why nothing answers it (the plug-in
    /// sees a refused connection). Called when the plug-in sends the request, before its body is whole.
    fn answer(&mut self, request: &HttpRequest) -> Result<HttpReply, String>;

    /// What came of a request, its body included, once it is over; every request the plug-in sent, in the
    /// order it sent them, refused ones too.
    fn record(&mut self, exchange: HttpExchange);
}

/// A request as the plug-in sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Upper case, as sent: `GET`, `POST`…
    pub method: String,
    /// `scheme://host[:port]/path?query`, with the host in lower case.
    pub url: String,
    /// Names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
}

/// A transport's answer.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// How long the answer takes to arrive.
    pub delay: Duration,
    /// What answered, for the record and reports (a stub's place and pattern).
    pub source: String,
}

/// A request and what came of it.
#[derive(Debug, Clone)]
pub struct HttpExchange {
    pub request: HttpRequest,
    /// The body, or why the sandbox does not have it whole.
    pub body: Result<Bytes, String>,
    /// The step (`sdkmessageprocessingstep` name) whose plug-in sent it, and the user it ran as.
    pub step: String,
    pub user_id: Uuid,
    /// The pipeline depth of the execution that sent it.
    pub depth: i32,
    pub outcome: HttpOutcome,
    /// From sending to the answer (or the failure).
    pub duration: Duration,
}

/// What came of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpOutcome {
    /// Answered with `status` by `source`.
    Answered { source: String, status: u16 },
    /// Not allowed by BOX-6 or over one of the sandbox's bounds: never given to the transport.
    Denied(String),
    /// The transport had no answer (no stub matched): the plug-in saw a refused connection.
    Refused(String),
    /// The answer's delay was longer than the plug-in's own timeout.
    TimedOut { source: String, after: Duration },
    /// The answer's delay reached the execution's time limit, which ended the execution (PIPE-12).
    TimeLimit { source: String },
}

impl HttpOutcome {
    /// One line for traces and reports.
    pub fn describe(&self) -> String {
        match self {
            HttpOutcome::Answered { source, status } => format!("{status} from {source}"),
            HttpOutcome::Denied(why) => format!("denied: {why}"),
            HttpOutcome::Refused(why) => format!("connection refused: {why}"),
            HttpOutcome::TimedOut { source, after } => {
                format!("timed out after {} ms (the plug-in's timeout) waiting for {source}", after.as_millis())
            }
            HttpOutcome::TimeLimit { source } => format!("reached the execution's time limit waiting for {source}"),
        }
    }
}

/// The HTTP state of one execution.
pub struct HttpState {
    ctx: WasiHttpCtx,
    hooks: NoNetwork,
    /// Requests sent and not yet recorded, in the order sent.
    pending: VecDeque<Pending>,
    /// The body of each request that has one, by the request's resource: `outgoing-request.body` sets its
    /// request's entry, `handle` takes it. (An entry left by a request dropped unsent is replaced by the next
    /// body made for a request of the same resource number, and never read: `handle` looks only for requests
    /// that have a body.)
    bodies: HashMap<u32, Arc<BodyReader>>,
    /// The answers without delay, by the future's resource, until `get` hands them over; `handle` sets or
    /// clears the entry of every future it makes.
    at_once: HashMap<u32, AtOnce>,
}

impl HttpState {
    pub fn new() -> Self {
        HttpState {
            ctx: WasiHttpCtx::new(),
            hooks: NoNetwork,
            pending: VecDeque::new(),
            bodies: HashMap::new(),
            at_once: HashMap::new(),
        }
    }
}

/// A request sent, waiting for its body to be whole before it is recorded.
struct Pending {
    exchange: HttpExchange,
    end: End,
    sent: Instant,
}

/// How a request's record learns that the request is over.
enum End {
    /// Set when the request is over (by `respond` for an answer with a delay, at once for a denied one): the
    /// body, and the outcome if it changed after sending (a timeout, a body too large).
    Set(Arc<OnceLock<Over>>),
    /// An answer without delay: over when its body is whole.
    Body(Arc<BodyReader>),
}

impl End {
    fn over(&self) -> Option<Over> {
        match self {
            End::Set(over) => over.get().cloned(),
            End::Body(reader) => reader.read_now().then(|| reader.over()).flatten(),
        }
    }
}

#[derive(Clone)]
struct Over {
    body: Result<Bytes, String>,
    outcome: Option<HttpOutcome>,
    at: Instant,
}

/// An answer without delay, waiting for the plug-in to take it.
struct AtOnce {
    reply: HttpReply,
    body: Option<Arc<BodyReader>>,
}

/// Links `wasi:http/types` (wasmtime-wasi-http's) and `wasi:http/outgoing-handler` (ours).
pub fn add_to_linker<H: PluginHost>(linker: &mut Linker<StoreData<H>>) -> wasmtime::Result<()> {
    let options = wasmtime_wasi_http::p2::bindings::LinkOptions::default();
    wasmtime_wasi_http::p2::bindings::sync::http::types::add_to_linker::<_, WasiHttp>(
        linker,
        &options.into(),
        |d: &mut StoreData<H>| d.http_view(),
    )?;
    linker.instance("wasi:http/outgoing-handler@0.2.12")?.func_wrap(
        "handle",
        |mut store, (request, options): (Resource<HostOutgoingRequest>, Option<Resource<RequestOptions>>)| match store
            .data_mut()
            .handle(request, options)
        {
            Ok(future) => Ok((Ok(future),)),
            Err(e) => Ok((Err(e.downcast()?),)),
        },
    )?;
    // The request body: read as it is written, whatever the plug-in does next.
    linker.allow_shadowing(true);
    // The response: an answer without delay is handed over here, from no task.
    let result = linker.instance("wasi:http/types@0.2.12").and_then(|mut types| {
        types
            .func_wrap("[method]outgoing-request.body", |mut store, (request,): (Resource<HostOutgoingRequest>,)| {
                Ok((outgoing_body(store.data_mut(), request)?,))
            })?;
        types.func_wrap(
            "[method]future-incoming-response.get",
            |mut store, (future,): (Resource<HostFutureIncomingResponse>,)| Ok((store.data_mut().response(future)?,)),
        )
    });
    linker.allow_shadowing(false);
    result
}

impl<H: PluginHost> StoreData<H> {
    fn http_view(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http.ctx, table: &mut self.table, hooks: &mut self.http.hooks }
    }

    /// Gives the transport every request that is over, in the order sent, stopping at the first that is not
    /// (`all`: every one, at the end of the execution).
    pub(in crate::sandbox) fn record_http(&mut self, all: bool) {
        while let Some(first) = self.http.pending.front() {
            let over = first.end.over();
            if !all && over.is_none() {
                break;
            }
            let Some(Pending { mut exchange, sent, .. }) = self.http.pending.pop_front() else { break };
            match over {
                Some(over) => {
                    exchange.body = over.body;
                    if let Some(outcome) = over.outcome {
                        exchange.outcome = outcome;
                    }
                    exchange.duration = over.at.saturating_duration_since(sent);
                }
                None => exchange.body = Err("the plug-in did not finish writing the body".into()),
            }
            if let Some(transport) = self.host.http() {
                transport.record(exchange);
            }
        }
    }

    /// Notes a request that never reaches the transport, with why, in the trace and the record.
    fn deny(
        &mut self,
        exchange: HttpExchange,
        body: Option<Arc<BodyReader>>,
        why: String,
        code: ErrorCode,
    ) -> HttpResult<Resource<HostFutureIncomingResponse>> {
        if let Some(body) = body {
            // Its stream closes: the plug-in's next write fails.
            body.close("not read: the request was denied");
        }
        self.trace_http(&exchange.request, &format!("denied: {why}"));
        let over = Arc::new(OnceLock::new());
        let _ =
            over.set(Over { body: Err("not read: the request was denied".into()), outcome: None, at: Instant::now() });
        let exchange = HttpExchange { outcome: HttpOutcome::Denied(why), ..exchange };
        self.http.pending.push_back(Pending { exchange, end: End::Set(over), sent: Instant::now() });
        self.record_http(false);
        Err(code.into())
    }

    fn trace_http(&mut self, request: &HttpRequest, what: &str) {
        let line = format!("http: {} {}: {what}\n", request.method, request.url);
        self.trace.push(line.as_bytes());
    }
}

impl<H: PluginHost> StoreData<H> {
    /// `wasi:http/outgoing-handler.handle`: `Err` is the error code the plug-in gets; a trap ends it.
    fn handle(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        options: Option<Resource<RequestOptions>>,
    ) -> HttpResult<Resource<HostFutureIncomingResponse>> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err(HttpError::trap(TimeLimit));
        }
        self.record_http(false);
        let timeout = options.and_then(|o| self.table.get(&o).ok().copied()).and_then(plugin_timeout);
        let rep = request.rep();
        let sent = self.table.delete(request)?;
        let body = match sent.body {
            Some(_) => self.http.bodies.remove(&rep),
            None => None,
        };
        let (head, target) = head(&sent);
        let exchange = HttpExchange {
            request: head,
            body: Ok(Bytes::new()),
            step: self.context.owning_extension.name.clone().unwrap_or_default(),
            user_id: self.context.user_id,
            depth: self.context.depth,
            outcome: HttpOutcome::Denied(String::new()),
            duration: Duration::ZERO,
        };
        if let Err(why) = target {
            return self.deny(exchange, body, why, ErrorCode::HttpRequestDenied);
        }
        if self.http.pending.len() >= MAX_IN_FLIGHT {
            let why = format!("{MAX_IN_FLIGHT} requests of this execution are still unfinished, the most at once");
            return self.deny(exchange, body, why, ErrorCode::ConnectionLimitReached);
        }
        let answer = match self.host.http() {
            Some(transport) => transport.answer(&exchange.request),
            None => Err("nothing answers HTTP requests here (no stubs)".into()),
        };
        let (outcome, wait) = match &answer {
            Ok(reply) => plan(reply, timeout, self.deadline.saturating_duration_since(now)),
            Err(why) => (HttpOutcome::Refused(why.clone()), Wait::Refused),
        };
        self.trace_http(&exchange.request, &outcome.describe());
        let exchange = HttpExchange { outcome, ..exchange };
        if let (Ok(reply), Wait::Answer(Duration::ZERO)) = (answer.as_ref(), &wait) {
            // No delay: the future is ready now, and `response` hands the answer over once the body is whole.
            let end = match &body {
                Some(reader) => End::Body(reader.clone()),
                None => {
                    let over = OnceLock::new();
                    let _ = over.set(Over { body: Ok(Bytes::new()), outcome: None, at: now });
                    End::Set(Arc::new(over))
                }
            };
            self.http.pending.push_back(Pending { exchange, end, sent: now });
            let future = self.table.push(HostFutureIncomingResponse::Consumed)?;
            self.http.at_once.insert(future.rep(), AtOnce { reply: reply.clone(), body });
            return Ok(future);
        }
        let over = Arc::new(OnceLock::new());
        self.http.pending.push_back(Pending { exchange, end: End::Set(over.clone()), sent: now });
        let future = wasmtime_wasi::runtime::spawn(respond(body, answer.ok(), wait, Some(over)));
        let future = self.table.push(HostFutureIncomingResponse::Pending(future))?;
        self.http.at_once.remove(&future.rep());
        Ok(future)
    }

    /// `wasi:http/types.future-incoming-response.get`: an answer without delay from here, once its request
    /// body is whole (`None` and a task that waits for the body if it is not); any other from
    /// wasmtime-wasi-http's future.
    fn response(&mut self, future: Resource<HostFutureIncomingResponse>) -> wasmtime::Result<FutureAnswer> {
        let at_once = match self.table.get(&future)? {
            HostFutureIncomingResponse::Consumed => self.http.at_once.remove(&future.rep()),
            _ => None,
        };
        let Some(AtOnce { reply, body }) = at_once else {
            use wasmtime_wasi_http::p2::bindings::http::types::HostFutureIncomingResponse as _;
            return self.http_view().get(future);
        };
        if let Some(reader) = &body {
            if !reader.read_now() {
                // The plug-in has not finished the body: a task waits for it, as for an answer with a delay.
                let task =
                    wasmtime_wasi::runtime::spawn(respond(body, Some(reply), Wait::Answer(Duration::ZERO), None));
                *self.table.get_mut(&future)? = HostFutureIncomingResponse::Pending(task);
                return Ok(None);
            }
            if reader.failed() {
                return Ok(Some(Ok(Err(ErrorCode::HttpRequestBodySize(None)))));
            }
        }
        let headers = match header_map(&reply.headers) {
            Ok(headers) => FieldMap::new_immutable(&mut self.http.hooks, headers),
            Err(e) => return Ok(Some(Ok(Err(ErrorCode::InternalError(Some(format!("stub response: {e}"))))))),
        };
        let body = HostIncomingBody::new(full(reply.body));
        let response = HostIncomingResponse { status: reply.status, headers, body: Some(body) };
        Ok(Some(Ok(Ok(self.table.push(response)?))))
    }
}

/// What `future-incoming-response.get` returns: nothing yet, or the response (or why it failed) once.
type FutureAnswer = Option<Result<Result<Resource<HostIncomingResponse>, ErrorCode>, ()>>;

fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap, http::Error> {
    let mut map = http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        map.append(http::HeaderName::try_from(name.as_str())?, http::HeaderValue::try_from(value.as_str())?);
    }
    Ok(map)
}

fn full(body: Bytes) -> wasmtime_wasi_http::p2::body::HyperIncomingBody {
    http_body_util::Full::new(body).map_err(|never| match never {}).boxed_unsync()
}

/// How the response comes: after the delay, or a timeout, or not at all.
enum Wait {
    Answer(Duration),
    /// The plug-in's timeout, before the answer.
    Timeout(Duration),
    /// The execution's deadline, before the answer.
    Deadline(Duration),
    Refused,
}

/// What the answer's delay meets first: nothing, the plug-in's timeout or the execution's deadline.
fn plan(reply: &HttpReply, timeout: Option<Duration>, remaining: Duration) -> (HttpOutcome, Wait) {
    let source = reply.source.clone();
    match timeout {
        _ if reply.delay >= remaining && timeout.is_none_or(|t| t >= remaining) => {
            (HttpOutcome::TimeLimit { source }, Wait::Deadline(remaining))
        }
        Some(t) if reply.delay > t => (HttpOutcome::TimedOut { source, after: t }, Wait::Timeout(t)),
        _ => (HttpOutcome::Answered { source, status: reply.status }, Wait::Answer(reply.delay)),
    }
}

/// The plug-in's own timeout: the shortest it set.
fn plugin_timeout(options: RequestOptions) -> Option<Duration> {
    [options.connect_timeout, options.first_byte_timeout].into_iter().flatten().min()
}

type Response = http::Response<wasmtime_wasi_http::p2::body::HyperIncomingBody>;

/// Waits for the body, waits as planned, then gives the answer; notes the request as over either way (in
/// `over`; without it the record follows the body itself).
async fn respond(
    body: Option<Arc<BodyReader>>,
    reply: Option<HttpReply>,
    wait: Wait,
    over: Option<Arc<OnceLock<Over>>>,
) -> Result<(Response, AbortOnDropJoinHandle<()>), Error> {
    let started = tokio::time::Instant::now();
    let body = match body {
        Some(reader) => reader.whole().await,
        None => Ok(Bytes::new()),
    };
    let failed = body.as_ref().err().cloned();
    let finish = |outcome: Option<HttpOutcome>, body: Result<Bytes, String>| {
        if let Some(over) = &over {
            let _ = over.set(Over { body, outcome, at: Instant::now() });
        }
    };
    if let Some(why) = failed {
        finish(Some(HttpOutcome::Denied(why)), body);
        return Err(Error::HttpRequestBodySize(None));
    }
    let (reply, delay) = match (reply, wait) {
        (Some(reply), Wait::Answer(delay)) => (reply, delay),
        (_, Wait::Timeout(after)) => {
            tokio::time::sleep_until(started + after).await;
            finish(None, body);
            return Err(Error::ConnectionReadTimeout);
        }
        (_, Wait::Deadline(after)) => {
            tokio::time::sleep_until(started + after).await;
            finish(None, body);
            return Err(Error::ConnectionTimeout);
        }
        _ => {
            finish(None, body);
            return Err(Error::ConnectionRefused);
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep_until(started + delay).await;
    }
    finish(None, body);
    let mut response = http::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    let response =
        response.body(full(reply.body)).map_err(|e| Error::InternalError(Some(format!("stub response: {e}"))))?;
    Ok((response, wasmtime_wasi::runtime::spawn(async {})))
}

fn body_error(e: &Error) -> String {
    match e {
        Error::HttpRequestBodySize(_) => {
            format!("the body is larger than {} KiB, the most the sandbox reads", MAX_BODY >> 10)
        }
        _ => "the plug-in abandoned the body".into(),
    }
}

/// The request as the transport sees it, and whether BOX-6 allows it (`Err`: why not).
fn head(request: &HostOutgoingRequest) -> (HttpRequest, Result<(), String>) {
    let method = match &request.method {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(m) => m.to_ascii_uppercase(),
    };
    let scheme = match &request.scheme {
        Some(Scheme::Http) => "http".to_owned(),
        Some(Scheme::Https) | None => "https".into(),
        Some(Scheme::Other(s)) => s.to_ascii_lowercase(),
    };
    let authority = request.authority.clone().unwrap_or_default().to_ascii_lowercase();
    // The scheme's own port is the same URL without it: `https://x:443/` is `https://x/`.
    let authority = match authority.rsplit_once(':') {
        Some((host, port)) if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") => {
            host.to_owned()
        }
        _ => authority,
    };
    let path = request.path_with_query.clone().unwrap_or_default();
    let path = if path.is_empty() || path.starts_with('?') { format!("/{path}") } else { path };
    let mut headers = Vec::new();
    let mut kept = 0;
    for (name, value) in request.headers.iter() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        kept += name.as_str().len() + value.len();
        if kept > MAX_RECORDED_HEADERS {
            break;
        }
        headers.push((name.as_str().to_owned(), value));
    }
    let mut url = format!("{scheme}://{authority}{path}");
    let allowed = allowed(&scheme, &authority);
    if url.len() > MAX_URL {
        url.truncate(url.floor_char_boundary(MAX_URL));
        url.push('…');
        return (HttpRequest { method, url, headers }, Err(format!("the URL is longer than {MAX_URL} bytes")));
    }
    (HttpRequest { method, url, headers }, allowed)
}

/// BOX-6: `http` or `https`, a named host (no IP address literal, no `localhost`), port 80 or 443.
fn allowed(scheme: &str, authority: &str) -> Result<(), String> {
    if scheme != "http" && scheme != "https" {
        return Err(format!("the scheme `{scheme}` is not allowed: only http and https (BOX-6)"));
    }
    let parsed: http::uri::Authority =
        authority.parse().map_err(|_| format!("`{authority}` is not a host name (BOX-6)"))?;
    if authority.contains('@') {
        return Err("credentials in the URL are not allowed (BOX-6)".into());
    }
    let host = parsed.host().trim_end_matches('.');
    if host.is_empty() {
        return Err("the URL has no host (BOX-6)".into());
    }
    if host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok() || is_numeric_host(host) {
        return Err(format!("`{host}` is an IP address: only named hosts are allowed (BOX-6)"));
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return Err(format!("`{host}` is the local machine: only named remote hosts are allowed (BOX-6)"));
    }
    match parsed.port_u16() {
        None | Some(80) | Some(443) => Ok(()),
        Some(port) => Err(format!("port {port} is not allowed: only 80 and 443 (BOX-6)")),
    }
}

/// A host made of digits, dots and hex (`127.1`, `0x7f000001`, `2130706433`) reads as an IPv4 address to
/// URL parsers.
fn is_numeric_host(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or(host);
    !last.is_empty()
        && (last.bytes().all(|b| b.is_ascii_digit())
            || (last.len() > 2
                && last[..2].eq_ignore_ascii_case("0x")
                && last[2..].bytes().all(|b| b.is_ascii_hexdigit())))
}

/// `[method]outgoing-request.body`, as wasmtime-wasi-http has it, except that the body is read at once by a
/// task of its own, up to [`MAX_BODY`]: a plug-in's write never waits on the request being sent.
fn outgoing_body<H: PluginHost>(
    data: &mut StoreData<H>,
    request: Resource<HostOutgoingRequest>,
) -> wasmtime::Result<Result<Resource<HostOutgoingBody>, ()>> {
    let req = data.table.get_mut(&request)?;
    if req.body.is_some() {
        return Ok(Err(()));
    }
    let size = match req.headers.get(http::header::CONTENT_LENGTH) {
        None => None,
        Some(v) => match v.to_str().ok().filter(|v| v.bytes().all(|b| b.is_ascii_digit())).and_then(|v| v.parse().ok())
        {
            Some(n) => Some(n),
            None => return Ok(Err(())),
        },
    };
    // Small chunks in a deep buffer: the reader keeps up, and memory stays bounded by MAX_BODY.
    let (host_body, hyper_body) = HostOutgoingBody::new(StreamContext::Request, size, 16, 64 << 10);
    // The request's own body only says that it has one; `handle` takes the reader.
    req.body = Some(http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync());
    let reader = BodyReader::start(hyper_body);
    if let Some(earlier) = data.http.bodies.insert(request.rep(), reader) {
        // The body of a request dropped unsent.
        earlier.close("not read: the request was dropped");
    }
    Ok(Ok(data.table.push(host_body)?))
}

/// The reader of one request body: it keeps what the plug-in writes, up to [`MAX_BODY`]. A task of its own
/// reads as the plug-in writes, so that a write never waits; the sandbox reads what is there itself when it
/// needs the body whole ([`BodyReader::read_now`]), so that it never waits on that task's thread either.
pub(super) struct BodyReader {
    state: Mutex<ReadState>,
    /// Told when the body is whole or failed.
    done: tokio::sync::Notify,
}

struct ReadState {
    /// `None` once read (whole or failed): dropping it closes the plug-in's stream.
    body: Option<HyperOutgoingBody>,
    bytes: BytesMut,
    /// The waker of the reader task, once it has run: the body wakes it whoever polled it last.
    task: Option<Waker>,
    /// The body, or why it failed, and when.
    end: Option<(Result<Bytes, String>, Instant)>,
}

impl BodyReader {
    fn start(body: HyperOutgoingBody) -> Arc<Self> {
        let reader = Arc::new(BodyReader {
            state: Mutex::new(ReadState { body: Some(body), bytes: BytesMut::new(), task: None, end: None }),
            done: tokio::sync::Notify::new(),
        });
        let task = reader.clone();
        // It ends once the body is whole, failed or dropped (at the latest with the store): nothing to abort.
        drop(wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| {
            tokio::task::spawn(std::future::poll_fn(move |cx| match task.read(Some(cx.waker())) {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }))
        }));
        reader
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads what the plug-in has written; `true` once the body is whole or failed. `task`: the reader
    /// task's waker; without it (the sandbox's own look), the task's, so that the body still wakes the task.
    fn read(&self, task: Option<&Waker>) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        if state.end.is_some() {
            return true;
        }
        if let Some(waker) = task
            && !state.task.as_ref().is_some_and(|w| w.will_wake(waker))
        {
            state.task = Some(waker.clone());
        }
        let Some(body) = state.body.as_mut() else { return true };
        // Not polled by the task yet: it will be, and registers itself then.
        let waker = state.task.clone().unwrap_or_else(|| Waker::noop().clone());
        let mut cx = Context::from_waker(&waker);
        let end = loop {
            match Pin::new(&mut *body).poll_frame(&mut cx) {
                Poll::Pending => return false,
                Poll::Ready(None) => break Ok(std::mem::take(&mut state.bytes).freeze()),
                Poll::Ready(Some(Err(e))) => break Err(body_error(&e)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if state.bytes.len() + data.len() > MAX_BODY {
                            break Err(body_error(&Error::HttpRequestBodySize(None)));
                        }
                        state.bytes.extend_from_slice(&data);
                    }
                }
            }
        };
        state.bytes = BytesMut::new();
        state.end = Some((end, Instant::now()));
        // Dropping the body closes the plug-in's stream: its next write fails instead of waiting.
        state.body = None;
        drop(guard);
        self.done.notify_waiters();
        true
    }

    /// [`BodyReader::read`] from the sandbox's thread.
    fn read_now(&self) -> bool {
        self.read(None)
    }

    /// Stops reading: the plug-in's next write fails.
    fn close(&self, why: &str) {
        let mut state = self.lock();
        if state.end.is_none() {
            state.end = Some((Err(why.to_owned()), Instant::now()));
            state.body = None;
            drop(state);
            self.done.notify_waiters();
        }
    }

    fn failed(&self) -> bool {
        matches!(self.lock().end, Some((Err(_), _)))
    }

    /// The request as the record has it once the body is over: a failed body denies it.
    fn over(&self) -> Option<Over> {
        let (body, at) = self.lock().end.clone()?;
        let outcome = body.as_ref().err().map(|why| HttpOutcome::Denied(why.clone()));
        Some(Over { body, outcome, at })
    }

    /// Waits for the body to be whole or failed.
    async fn whole(&self) -> Result<Bytes, String> {
        loop {
            let done = self.done.notified();
            let end = self.lock().end.as_ref().map(|(body, _)| body.clone());
            if let Some(body) = end {
                return body;
            }
            done.await;
        }
    }
}

/// The hooks of `wasi:http/types`: defaults, and no network behind them.
struct NoNetwork;

impl WasiHttpHooks for NoNetwork {
    /// Never called: the sandbox's own `outgoing-handler` answers every request.
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (http::Response<wasmtime_wasi_http::WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>),
                    Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(Error::ConnectionRefused) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_6_only_named_hosts_on_80_and_443_over_http_or_https() {
        assert!(allowed("https", "pay.contoso.com").is_ok());
        assert!(allowed("http", "pay.contoso.com:80").is_ok());
        assert!(allowed("https", "pay.contoso.com:443").is_ok());
        assert!(allowed("ftp", "pay.contoso.com").unwrap_err().contains("scheme"));
        for ip in ["10.0.0.1", "[::1]", "127.1", "2130706433", "0x7f000001", "10.0.0.1:443"] {
            assert!(allowed("https", ip).unwrap_err().contains("IP address"), "{ip}");
        }
        for local in ["localhost", "LOCALHOST.", "api.localhost"] {
            assert!(allowed("https", &local.to_ascii_lowercase()).unwrap_err().contains("local machine"), "{local}");
        }
        assert!(allowed("https", "pay.contoso.com:8443").unwrap_err().contains("8443"));
        assert!(allowed("https", "user@pay.contoso.com").is_err());
    }

    #[test]
    fn box_6_the_delay_meets_the_timeout_or_the_deadline() {
        let reply = |ms| HttpReply {
            status: 200,
            headers: vec![],
            body: Bytes::new(),
            delay: Duration::from_millis(ms),
            source: "http[0]".into(),
        };
        let s = Duration::from_secs;
        assert!(matches!(plan(&reply(20), None, s(2)).0, HttpOutcome::Answered { status: 200, .. }));
        assert!(matches!(plan(&reply(3000), None, s(2)).0, HttpOutcome::TimeLimit { .. }));
        assert!(matches!(plan(&reply(3000), Some(s(1)), s(2)).0, HttpOutcome::TimedOut { .. }));
        assert!(matches!(plan(&reply(3000), Some(s(5)), s(2)).0, HttpOutcome::TimeLimit { .. }));
    }
}
