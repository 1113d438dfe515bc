//! xrm-sandbox: Dataverse plug-ins, compiled to WebAssembly components, run locally in a sandboxed event
//! pipeline that reproduces the platform's identity, security and transaction rules.

pub mod budget;
pub mod build;
pub mod clock;
pub mod context;
pub mod deadline;
pub mod import;
pub mod init;
pub mod input;
pub mod org;
pub mod pipeline;
pub mod query;
pub mod reference;
pub mod sandbox;
pub mod schema;
pub mod security;
pub mod store;
pub mod suite;
pub mod testing;
pub mod threads;
pub mod webapi;
