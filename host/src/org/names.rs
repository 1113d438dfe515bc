//! The organization's catalogues of names (messages, tables, columns, users, aliases) as the loaders check
//! them: each check reads the live catalogue (the model's list of built-in messages, the custom APIs, the
//! tables as loaded), never a copy, and an unknown name comes back as a message that names the one most
//! likely meant, or what was expected.

use xrm_model::messages;
use xrm_model::suggest::{self, unknown, unknown_in};

use super::{ColumnType, Organization, Table};

impl Organization {
    /// Every message a request may name: the built-in ones, then the custom APIs, sorted.
    pub fn message_names(&self) -> Vec<&str> {
        let mut custom: Vec<&str> = self.custom_apis.keys().map(String::as_str).collect();
        custom.sort_unstable();
        messages::BUILT_IN.iter().copied().chain(custom).collect()
    }

    /// A message a request may name: built in, or a custom API of this organization.
    pub fn check_message(&self, name: &str) -> Result<(), String> {
        match messages::is_built_in(name) || self.custom_apis.contains_key(name) {
            true => Ok(()),
            false => Err(unknown_message(name, self.message_names())),
        }
    }

    /// A message a step may be registered on: one a request may name, or one whose steps fire for such a
    /// message (SetStateDynamicEntity for SetState).
    pub fn check_step_message(&self, name: &str) -> Result<(), String> {
        match messages::can_fire(name) || self.custom_apis.contains_key(name) {
            true => Ok(()),
            false => {
                let fired_for = messages::FIRED_FOR.iter().map(|(step, _)| *step);
                Err(unknown_message(name, self.message_names().into_iter().chain(fired_for).collect()))
            }
        }
    }

    /// The table named `name`.
    pub fn check_table(&self, name: &str) -> Result<&Table, String> {
        self.table(name).ok_or_else(|| unknown("table", name, self.table_names().iter().copied()))
    }

    /// Every table's logical name, sorted.
    pub fn table_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tables.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// `@alias` (or a GUID) standing for a user: an alias of anything else is refused, naming the users.
    pub fn check_user_alias(&self, text: &str) -> Result<(), String> {
        let Some(alias) = text.strip_prefix('@') else { return Ok(()) };
        match self.alias(alias) {
            Some(id) if self.users.contains_key(&id) || id == self.system_user => Ok(()),
            Some(_) => Err(format!("`{text}` is not a user (expected one of {})", self.user_aliases())),
            None => Err(self.unknown_alias(text, self.user_alias_names())),
        }
    }

    /// "unknown alias `@alcie`: did you mean `@alice`?", among `known` (aliases without their `@`).
    pub fn unknown_alias<'a>(&self, text: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> String {
        let alias = text.trim_start_matches('@');
        match suggest::nearest(alias, known.clone()) {
            Some(near) => format!("unknown alias `{text}`: did you mean `@{near}`?"),
            None => format!("unknown alias `{text}`"),
        }
    }

    fn user_alias_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .aliases
            .iter()
            .filter(|(_, id)| self.users.contains_key(id) || **id == self.system_user)
            .map(|(alias, _)| alias.as_str())
            .collect();
        names.sort_unstable();
        names
    }

    fn user_aliases(&self) -> String {
        let names: Vec<String> = self.user_alias_names().iter().map(|a| format!("@{a}")).collect();
        suggest::listing(names.iter().map(String::as_str), 8)
    }

    /// The table whose record, user, team, business unit or role an alias names.
    pub fn table_of_alias(&self, alias: &str) -> Option<&str> {
        let id = self.alias(alias)?;
        if self.users.contains_key(&id) || id == self.system_user {
            return Some("systemuser");
        }
        if self.teams.contains_key(&id) {
            return Some("team");
        }
        if self.business_units.contains_key(&id) {
            return Some("businessunit");
        }
        if self.roles.contains_key(&id) {
            return Some("role");
        }
        self.tables.keys().find(|t| self.data.contains(t, id)).map(String::as_str)
    }
}

fn unknown_message(name: &str, names: Vec<&str>) -> String {
    let mut text = unknown("message", name, names.iter().copied());
    if suggest::nearest(name, names.iter().copied()).is_some() {
        text.push_str(" (expected a built-in message or a custom API of the organization)");
    }
    text
}

impl Table {
    /// The type of column `name`.
    pub fn check_column(&self, name: &str) -> Result<&ColumnType, String> {
        self.columns.get(name).ok_or_else(|| {
            let mut names: Vec<&str> = self.columns.keys().map(String::as_str).collect();
            names.sort_unstable();
            unknown_in("column", name, &self.logical_name, names.iter().copied())
        })
    }
}
