//! Checks across the organization file that no single entry can make: each id names one thing of its table
//! (SYSTEM's included), and each record's owner is a user or a team of the organization. Refused at load with
//! the JSON paths of both places, rather than one silently replacing the other in the store (BOX-5).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use xrm_model::{Entity, Uuid, Value};

use super::Organization;
use crate::input::FileError;

/// Where the file defines SYSTEM: nowhere, it is built in.
pub(super) const SYSTEM: &str = "SYSTEM";

/// The JSON path where each id of each table is defined.
#[derive(Default)]
pub(super) struct Ids(HashMap<(String, Uuid), String>);

impl Ids {
    /// Records that `at` defines `id` in `table`; `Err` names the place that defined it first.
    pub(super) fn claim(&mut self, file: &Path, table: &str, id: Uuid, at: String) -> Result<(), FileError> {
        match self.0.entry((table.to_owned(), id)) {
            Entry::Vacant(v) => {
                v.insert(at);
                Ok(())
            }
            Entry::Occupied(first) if first.get() == SYSTEM => Err(FileError::new(
                file,
                at,
                format!("{id} is the id of SYSTEM, the built-in user (ORG-2): no {table} may take it"),
            )),
            Entry::Occupied(first) => Err(FileError::new(
                file,
                at,
                format!("the {table} id {id} is already used at `{}`: each id names one {table}", first.get()),
            )),
        }
    }
}

/// A record's `ownerid`, if it has one, must name a user (SYSTEM included) or a team of the organization.
pub(super) fn owner(file: &Path, org: &Organization, record: &Entity, at: &str) -> Result<(), FileError> {
    let Some(Value::Lookup(owner)) = record.get("ownerid") else { return Ok(()) };
    let known = match owner.logical_name.as_str() {
        "systemuser" => owner.id == org.system_user || org.users.contains_key(&owner.id),
        "team" => org.teams.contains_key(&owner.id),
        _ => false,
    };
    match known {
        true => Ok(()),
        false => Err(FileError::new(
            file,
            format!("{at}.ownerid"),
            format!(
                "the owner {} {} is not in `users` or `teams`: a record is owned by a user or a team of the \
                 organization",
                owner.logical_name, owner.id
            ),
        )),
    }
}
