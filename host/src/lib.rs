//! xrm-sandbox: Dataverse plug-ins, compiled to WebAssembly components, run locally in a sandboxed event
//! pipeline that reproduces the platform's identity, security and transaction rules.

pub mod context;
pub mod sandbox;
pub mod input;
pub mod org;
pub mod store;
pub mod pipeline;
pub mod build;
pub mod suite;
