//! The platform's messages beyond create, read, update and delete, one family per file: what each does to the
//! store and what it answers. The dispatch (`frame/operation.rs`) and the checks (`authorize.rs`) call in here.

pub mod status;
