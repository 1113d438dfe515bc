//! `xrm-sandbox serve`: the organization behind a local Dataverse Web API, for clients' integration tests
//! (docs/serve.md).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use xrm_sandbox::webapi::Server;

use super::exit;

#[derive(Args)]
#[command(after_help = "Exit status: 2 bad input or the address cannot be bound (nothing served); otherwise the \
                        server runs until stopped.\n\nReference: docs/serve.md in the xrm-sandbox repository \
                        (tokens, what is served, what is not yet).")]
pub struct ServeArgs {
    /// The organization file (default: the organization of the suite given with -r).
    #[arg(long)]
    org: Option<PathBuf>,
    /// A registrations file (`plugins` and `steps`), or a suite: its plug-ins and steps (and its organization,
    /// without --org); none: no plug-ins run.
    #[arg(long, short)]
    registrations: Option<PathBuf>,
    /// The port to listen on; 0 picks a free one (printed).
    #[arg(long, default_value_t = 5555)]
    port: u16,
    /// The address to listen on. Only 127.0.0.1 unless given: the server has no real authentication.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
}

pub fn run(args: ServeArgs) -> u8 {
    let pipeline = match super::run::pipeline(args.org.as_deref(), args.registrations.as_deref()) {
        Ok(pipeline) => pipeline,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::INVALID_INPUT;
        }
    };
    let addr = SocketAddr::new(args.bind, args.port);
    let server = match Server::start(Arc::new(pipeline), addr) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return exit::INVALID_INPUT;
        }
    };
    println!("xrm-sandbox serve: the Dataverse Web API of the organization at {}", server.base_url());
    println!("Tokens (send `Authorization: Bearer <token>`; a JWT whose oid is a user's Entra object id works too):");
    let width = server.tokens().iter().map(|t| t.label.len()).max().unwrap_or(0);
    for token in server.tokens() {
        println!("  {:width$}  {}", token.label, token.token);
    }
    println!("POST http://{}/_sandbox/reset restores the organization. Ctrl+C stops.", server.addr());
    server.wait();
    exit::PASSED
}
