//! The platform's messages beyond create, read, update and delete, one family per file: what each does to the
//! store and what it answers. The dispatch (`frame/operation.rs`) and the checks (`authorize.rs`) call in here.
//!
//! The batches (`ExecuteMultiple`, `ExecuteTransaction`), `Upsert` and the bulk messages (`CreateMultiple`,
//! `UpdateMultiple`, `UpsertMultiple`) run other requests or several records (PIPE-17).

pub(in crate::pipeline) mod batch;
pub(in crate::pipeline) mod bulk;
pub mod status;
pub(in crate::pipeline) mod upsert;
