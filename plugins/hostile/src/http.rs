//! Attacks through outbound HTTP (BOX-5, BOX-6): floods of requests, bodies without end, requests left open.
//! The body and open-request attacks use the raw `wasi:http` bindings, where the SDK's client would refuse.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use xrm_sandbox_guest::{PluginError, http, trace};

/// Sends `count` GET requests to `url`, one after the other, counting what came back.
pub fn flood(url: &str, count: u64) -> Result<(), PluginError> {
    let (mut answered, mut failed) = (0u64, 0u64);
    let mut last_error = String::new();
    for _ in 0..count {
        match http::get(url) {
            Ok(_) => answered += 1,
            Err(e) => {
                failed += 1;
                last_error = e.to_string();
            }
        }
    }
    trace!("http-flood: {answered} answered, {failed} failed; last error: {last_error}");
    Ok(())
}

fn request(url_host: &str, path: &str) -> OutgoingRequest {
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_method(&Method::Post);
    let _ = request.set_scheme(Some(&Scheme::Https));
    let _ = request.set_authority(Some(url_host));
    let _ = request.set_path_with_query(Some(path));
    request
}

/// Sends one request and writes `bytes` bytes of body (never held in the plug-in's memory), then waits for
/// the answer; traces how far the body got and what came back.
pub fn huge_body(host: &str, bytes: u64) -> Result<(), PluginError> {
    let outgoing = request(host, "/upload");
    let body = outgoing.body().map_err(|()| PluginError::invalid("no body"))?;
    let future = outgoing_handler::handle(outgoing, None).map_err(|e| PluginError::invalid(format!("{e:?}")))?;
    let chunk = [b'x'; 4096];
    let mut written = 0u64;
    let mut stopped = String::from("none");
    if let Ok(stream) = body.write() {
        while written < bytes {
            match stream.blocking_write_and_flush(&chunk) {
                Ok(()) => written += chunk.len() as u64,
                Err(e) => {
                    stopped = format!("{e:?}");
                    break;
                }
            }
        }
    }
    let _ = OutgoingBody::finish(body, None);
    let answer = loop {
        match future.get() {
            Some(answer) => break answer,
            None => future.subscribe().block(),
        }
    };
    let answer = match answer {
        Ok(Ok(response)) => format!("status {}", response.status()),
        Ok(Err(code)) => format!("{code:?}"),
        Err(()) => "taken".into(),
    };
    trace!("http-huge-body: wrote {written} of {bytes} bytes (stopped: {stopped}); answer: {answer}");
    Ok(())
}

/// Sends `count` requests whose bodies are never finished, keeping every one open, then waits on none.
pub fn open_requests(host: &str, count: u64) -> Result<(), PluginError> {
    let mut open = Vec::new();
    let mut refused = 0u64;
    let mut last = String::new();
    for _ in 0..count {
        let outgoing = request(host, "/open");
        let Ok(body) = outgoing.body() else { continue };
        match outgoing_handler::handle(outgoing, None) {
            Ok(future) => open.push((future, body)),
            Err(code) => {
                refused += 1;
                last = format!("{code:?}");
            }
        }
    }
    trace!("http-open-requests: {} open, {refused} refused ({last})", open.len());
    Ok(())
}
