//! Table metadata: the standard tables a plug-in author expects, plus the organization's custom tables, and
//! the column check every write goes through.

use std::collections::{HashMap, HashSet};

use xrm_model::{Entity, Fault, Value, codes};

use super::metadata::{self, AlternateKey, ColumnMeta};

/// A column's type, as the platform's `AttributeTypeCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Memo,
    Integer,
    BigInt,
    Double,
    Boolean,
    Decimal,
    Money,
    DateTime,
    Uniqueidentifier,
    Picklist,
    MultiSelectPicklist,
    /// A lookup to one of these tables; empty: any table (as `regardingobjectid`).
    Lookup(Vec<String>),
    /// A party list (ACT-1): `activityparty` records whose `partyid` points to one of these tables.
    PartyList(Vec<String>),
}

impl ColumnType {
    /// Parses the type names of the organization file: `"Money"`, and `{"Lookup": "account"}` elsewhere.
    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name {
            "String" => ColumnType::String,
            "Memo" => ColumnType::Memo,
            "Integer" => ColumnType::Integer,
            "BigInt" => ColumnType::BigInt,
            "Double" => ColumnType::Double,
            "Boolean" => ColumnType::Boolean,
            "Decimal" => ColumnType::Decimal,
            "Money" => ColumnType::Money,
            "DateTime" => ColumnType::DateTime,
            "Uniqueidentifier" | "Guid" => ColumnType::Uniqueidentifier,
            "Picklist" | "Choice" | "State" | "Status" => ColumnType::Picklist,
            "MultiSelectPicklist" | "Choices" => ColumnType::MultiSelectPicklist,
            _ => return None,
        })
    }

    pub const NAMES: &'static str = "String, Memo, Integer, BigInt, Double, Boolean, Decimal, Money, DateTime, Uniqueidentifier, Picklist, MultiSelectPicklist or {\"Lookup\": \"table\"}";

    /// How a value of this type is written in the files (`formats.md`, "Values"), for error messages.
    pub fn json_form(&self) -> String {
        match self {
            ColumnType::String | ColumnType::Memo => "text, such as `\"Contoso\"`".into(),
            ColumnType::Integer | ColumnType::BigInt => "a whole number, such as `42`".into(),
            ColumnType::Double => "a number, such as `4.5`".into(),
            ColumnType::Boolean => "`true` or `false`".into(),
            ColumnType::Decimal => "`{\"@decimal\": \"12.34\"}`".into(),
            ColumnType::Money => "`{\"@money\": \"12.50\"}`".into(),
            ColumnType::DateTime => "`{\"@datetime\": \"2026-11-21T10:00:00Z\"}`".into(),
            ColumnType::Uniqueidentifier => "`{\"@guid\": \"…\"}`".into(),
            ColumnType::Picklist => "a choice, such as `{\"@option\": 1}`".into(),
            ColumnType::MultiSelectPicklist => "choices, such as `{\"@options\": [1, 3]}`".into(),
            ColumnType::Lookup(targets) => {
                let table = targets.first().map_or("account", String::as_str);
                format!("a reference, such as `{{\"@ref\": \"{table}\", \"id\": \"@alias\"}}`")
            }
            ColumnType::PartyList(_) => "a party list, such as `[{\"@logicalname\": \"activityparty\", \"partyid\": {\"@ref\": \"contact\", \"id\": \"@alias\"}}]`".into(),
        }
    }

    /// The value as this column stores it, widening where the platform would (an integer into a BigInt or
    /// Double column); `None` when the value does not fit the type.
    pub fn accept(&self, value: Value) -> Option<Value> {
        Some(match (self, value) {
            (_, Value::Null) => Value::Null,
            (ColumnType::String | ColumnType::Memo, v @ Value::Text(_)) => v,
            (ColumnType::Integer, v @ Value::Integer(_)) => v,
            (ColumnType::BigInt, Value::Integer(n)) => Value::BigInt(n.into()),
            (ColumnType::BigInt, v @ Value::BigInt(_)) => v,
            (ColumnType::Double, Value::Integer(n)) => Value::Double(n.into()),
            (ColumnType::Double, v @ Value::Double(_)) => v,
            (ColumnType::Boolean, v @ Value::Boolean(_)) => v,
            (ColumnType::Decimal, v @ Value::Decimal(_)) => v,
            (ColumnType::Money, v @ Value::Money(_)) => v,
            (ColumnType::DateTime, v @ Value::DateTime(_)) => v,
            (ColumnType::Uniqueidentifier, v @ Value::Guid(_)) => v,
            (ColumnType::Picklist, v @ Value::Choice(_)) => v,
            (ColumnType::MultiSelectPicklist, v @ Value::Choices(_)) => v,
            (ColumnType::Lookup(targets), Value::Lookup(r))
                if targets.is_empty() || targets.contains(&r.logical_name) =>
            {
                Value::Lookup(r)
            }
            (ColumnType::PartyList(_), v @ Value::EntityCollection(_)) => v,
            _ => return None,
        })
    }
}

/// The type as the platform names it: `Money`, `Lookup (systemuser, team)`.
impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ColumnType::String => "String",
            ColumnType::Memo => "Memo",
            ColumnType::Integer => "Integer",
            ColumnType::BigInt => "BigInt",
            ColumnType::Double => "Double",
            ColumnType::Boolean => "Boolean",
            ColumnType::Decimal => "Decimal",
            ColumnType::Money => "Money",
            ColumnType::DateTime => "DateTime",
            ColumnType::Uniqueidentifier => "Uniqueidentifier",
            ColumnType::Picklist => "Picklist",
            ColumnType::MultiSelectPicklist => "MultiSelectPicklist",
            ColumnType::Lookup(targets) if targets.is_empty() => "Lookup (any table)",
            ColumnType::Lookup(targets) => return write!(f, "Lookup ({})", targets.join(", ")),
            ColumnType::PartyList(_) => "PartyList",
        };
        f.write_str(name)
    }
}

/// Who owns a table's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    UserOwned,
    OrganizationOwned,
    BusinessOwned,
}

/// The access rights in the order of the platform's `AccessRights` names, as privileges spell them.
pub const ACCESS_VERBS: [&str; 8] = ["Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share"];

fn privilege_names(name: &str) -> [String; 8] {
    ACCESS_VERBS.map(|verb| format!("prv{verb}{name}"))
}

#[derive(Debug, Clone)]
pub struct Table {
    pub logical_name: String,
    pub schema_name: String,
    /// The name in the table's privileges (`prv<Access><name>`): the schema name, except where the platform
    /// names them otherwise (notes: `prvCreateNote`; every activity: `prvCreateActivity`; users:
    /// `prvReadUser`).
    pub privilege_name: String,
    /// `prv<Access><privilege_name>` for each access right in [`ACCESS_VERBS`] order, built once: a query checks
    /// read access on every row it reads.
    privilege_names: [String; 8],
    pub object_type_code: i32,
    pub ownership: Ownership,
    /// The primary key column: `<logicalname>id`, or `activityid` for activities.
    pub primary_id: String,
    pub primary_name: Option<String>,
    pub columns: HashMap<String, ColumnType>,
    /// The name the platform shows for one record, and for several.
    pub display_name: Option<String>,
    pub display_collection_name: Option<String>,
    /// The Web API's name for the table's records (`accounts`).
    pub entity_set_name: String,
    /// Alternate keys, in the order declared.
    pub keys: Vec<AlternateKey>,
    /// The privilege names (`User`, `Role`, …) whose Read privileges reading this table needs instead of its own:
    /// the security tables are read with Read on the principals they relate (SEC-10). Empty for every other table.
    pub read_with: Vec<String>,
    /// Display names, required levels and option labels of the columns that declare any.
    pub column_meta: HashMap<String, ColumnMeta>,
    /// A table the organization file declares (`IsCustomEntity`).
    pub custom: bool,
    /// The columns the organization file added (`IsCustomAttribute`).
    pub custom_columns: HashSet<String>,
}

impl Table {
    pub fn new(logical_name: &str, schema_name: &str, object_type_code: i32, ownership: Ownership) -> Table {
        let mut table = Table {
            logical_name: logical_name.to_owned(),
            schema_name: schema_name.to_owned(),
            privilege_name: schema_name.to_owned(),
            privilege_names: privilege_names(schema_name),
            object_type_code,
            ownership,
            primary_id: format!("{logical_name}id"),
            primary_name: None,
            columns: HashMap::new(),
            display_name: None,
            display_collection_name: None,
            entity_set_name: metadata::default_entity_set_name(logical_name),
            keys: Vec::new(),
            column_meta: HashMap::new(),
            read_with: Vec::new(),
            custom: false,
            custom_columns: HashSet::new(),
        };
        table.add_common_columns();
        table
    }

    fn add_common_columns(&mut self) {
        use ColumnType::*;
        let user = || Lookup(vec!["systemuser".into()]);
        self.columns.insert(self.primary_id.clone(), Uniqueidentifier);
        for (name, ty) in [
            ("createdon", DateTime),
            ("modifiedon", DateTime),
            ("createdby", user()),
            ("modifiedby", user()),
            ("createdonbehalfby", user()),
            ("modifiedonbehalfby", user()),
            ("statecode", Picklist),
            ("statuscode", Picklist),
            ("versionnumber", BigInt),
            ("overriddencreatedon", DateTime),
        ] {
            self.columns.insert(name.into(), ty);
        }
        match self.ownership {
            Ownership::UserOwned => {
                self.columns.insert("ownerid".into(), Lookup(vec!["systemuser".into(), "team".into()]));
                self.columns.insert("owninguser".into(), user());
                self.columns.insert("owningteam".into(), Lookup(vec!["team".into()]));
                self.columns.insert("owningbusinessunit".into(), Lookup(vec!["businessunit".into()]));
            }
            Ownership::BusinessOwned => {
                self.columns.insert("owningbusinessunit".into(), Lookup(vec!["businessunit".into()]));
            }
            Ownership::OrganizationOwned => {
                self.columns.insert("organizationid".into(), Lookup(vec!["organization".into()]));
            }
        }
    }

    pub(super) fn with(mut self, columns: &[(&str, ColumnType)]) -> Table {
        for (name, ty) in columns {
            self.columns.insert((*name).to_owned(), ty.clone());
        }
        self
    }

    /// Privileges named `prv<Access><name>` instead of after the schema name.
    pub(super) fn privileges(mut self, name: &str) -> Table {
        self.privilege_name = name.to_owned();
        self.privilege_names = privilege_names(name);
        self
    }

    /// The name of the table privilege of the access right at `index` in [`ACCESS_VERBS`]: `prvReadAccount`.
    pub fn privilege_of(&self, index: usize) -> &str {
        &self.privilege_names[index]
    }

    /// A primary key column other than `<logicalname>id`, for tables without a primary name (intersects).
    pub(super) fn key(mut self, id: &str) -> Table {
        self.columns.remove(&self.primary_id);
        self.primary_id = id.to_owned();
        self.columns.insert(id.to_owned(), ColumnType::Uniqueidentifier);
        self
    }

    /// Read with the Read privileges of these tables' privilege names instead of the table's own.
    pub(super) fn read_with(mut self, names: &[&str]) -> Table {
        self.read_with = names.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    pub(super) fn primary(mut self, id: &str, name: &str) -> Table {
        self.columns.remove(&self.primary_id);
        self.primary_id = id.to_owned();
        self.columns.insert(id.to_owned(), ColumnType::Uniqueidentifier);
        self.primary_name = Some(name.to_owned());
        self.columns.entry(name.to_owned()).or_insert(ColumnType::String);
        self
    }

    /// The metadata of a column beyond its type, when it declares any.
    pub fn column_meta(&self, column: &str) -> Option<&ColumnMeta> {
        self.column_meta.get(column)
    }

    /// Checks every column of `entity` against the table, as a write would (`0x80041103` for an unknown
    /// column), and returns it with values widened to their columns' types, without the formatted values a
    /// caller sent (QRY-7: a write ignores them). An `AliasedValue` is refused (`0x80040203`, QRY-10): the
    /// platform rejects it as a column's value.
    pub fn check(&self, mut entity: Entity) -> Result<Entity, Fault> {
        entity.formatted_values.clear();
        for (column, value) in std::mem::take(&mut entity.attributes) {
            let Some(ty) = self.columns.get(&column) else {
                return Err(Fault::new(
                    codes::UNKNOWN_ATTRIBUTE,
                    format!("'{}' entity doesn't contain attribute with Name = '{column}'", self.logical_name),
                ));
            };
            // QRY-10: an AliasedValue is what a query returns, never a column's value.
            if let Value::Aliased(a) = &value {
                return Err(Fault::new(
                    codes::INVALID_ARGUMENT,
                    format!(
                        "Incorrect type of attribute value for '{column}' of '{}': an AliasedValue (of '{}.{}') can't be written, write the value it holds",
                        self.logical_name, a.entity_logical_name, a.attribute_logical_name
                    ),
                ));
            }
            let type_name = value.type_name();
            let value = ty.accept(value).ok_or_else(|| {
                Fault::new(
                    codes::INVALID_ARGUMENT,
                    format!(
                        "Incorrect type of attribute value for '{column}' of '{}': expected {ty}, found {type_name}",
                        self.logical_name
                    ),
                )
            })?;
            entity.attributes.insert(column, value);
        }
        Ok(entity)
    }
}

/// The standard tables, with their common columns.
pub fn standard() -> Vec<Table> {
    use ColumnType::*;
    use Ownership::*;
    let lookup = |t: &[&str]| Lookup(t.iter().map(|s| (*s).to_owned()).collect());
    let any = || Lookup(Vec::new());
    let activity = |name: &str, schema: &str, code: i32, extra: &[(&str, ColumnType)]| {
        // Every activity table shares the activity privileges (prvCreateActivity, …), as on the platform.
        Table::new(name, schema, code, UserOwned)
            .privileges("Activity")
            .primary("activityid", "subject")
            .with(&[
                ("description", Memo),
                ("regardingobjectid", any()),
                ("scheduledstart", DateTime),
                ("scheduledend", DateTime),
                ("prioritycode", Picklist),
                ("actualdurationminutes", Integer),
            ])
            .with(extra)
    };
    let mut tables = vec![
        Table::new("account", "Account", 1, UserOwned).primary("accountid", "name").with(&[
            ("accountnumber", String),
            ("revenue", Money),
            ("numberofemployees", Integer),
            ("creditlimit", Money),
            ("telephone1", String),
            ("emailaddress1", String),
            ("websiteurl", String),
            ("description", Memo),
            ("industrycode", Picklist),
            ("address1_city", String),
            ("address1_country", String),
            ("primarycontactid", lookup(&["contact"])),
            ("parentaccountid", lookup(&["account"])),
        ]),
        Table::new("contact", "Contact", 2, UserOwned).primary("contactid", "fullname").with(&[
            ("firstname", String),
            ("lastname", String),
            ("emailaddress1", String),
            ("telephone1", String),
            ("jobtitle", String),
            ("birthdate", DateTime),
            ("description", Memo),
            ("address1_city", String),
            ("parentcustomerid", lookup(&["account", "contact"])),
        ]),
        Table::new("lead", "Lead", 4, UserOwned).primary("leadid", "fullname").with(&[
            ("subject", String),
            ("firstname", String),
            ("lastname", String),
            ("companyname", String),
            ("emailaddress1", String),
            ("telephone1", String),
            ("leadsourcecode", Picklist),
            ("description", Memo),
            ("parentaccountid", lookup(&["account"])),
            ("parentcontactid", lookup(&["contact"])),
        ]),
        Table::new("opportunity", "Opportunity", 3, UserOwned).primary("opportunityid", "name").with(&[
            ("estimatedvalue", Money),
            ("actualvalue", Money),
            ("estimatedclosedate", DateTime),
            ("closeprobability", Integer),
            ("description", Memo),
            ("customerid", lookup(&["account", "contact"])),
            ("parentaccountid", lookup(&["account"])),
            ("parentcontactid", lookup(&["contact"])),
        ]),
        activity("task", "Task", 4212, &[("percentcomplete", Integer)]),
        activity("email", "Email", 4202, &[("directioncode", Boolean), ("sender", String), ("torecipients", String)]),
        Table::new("annotation", "Annotation", 5, UserOwned)
            .privileges("Note")
            .primary("annotationid", "subject")
            .with(&[
                ("notetext", Memo),
                ("objectid", any()),
                ("filename", String),
                ("mimetype", String),
                ("documentbody", Memo),
            ]),
        Table::new("systemuser", "SystemUser", 8, BusinessOwned)
            .privileges("User")
            .primary("systemuserid", "fullname")
            .with(&[
                ("firstname", String),
                ("lastname", String),
                ("domainname", String),
                ("internalemailaddress", String),
                ("businessunitid", lookup(&["businessunit"])),
                ("isdisabled", Boolean),
                ("azureactivedirectoryobjectid", Uniqueidentifier),
                ("applicationid", Uniqueidentifier),
            ]),
        Table::new("team", "Team", 9, BusinessOwned).primary("teamid", "name").with(&[
            ("businessunitid", lookup(&["businessunit"])),
            ("teamtype", Picklist),
            ("administratorid", lookup(&["systemuser"])),
            ("description", Memo),
        ]),
        Table::new("businessunit", "BusinessUnit", 10, BusinessOwned)
            .primary("businessunitid", "name")
            .with(&[("parentbusinessunitid", lookup(&["businessunit"]))]),
        Table::new("role", "Role", 1036, BusinessOwned)
            .primary("roleid", "name")
            .with(&[("businessunitid", lookup(&["businessunit"]))]),
        Table::new("asyncoperation", "AsyncOperation", 4700, UserOwned).primary("asyncoperationid", "name").with(&[
            ("operationtype", Picklist),
            ("message", Memo),
            ("friendlymessage", Memo),
            ("errorcode", Integer),
            ("retrycount", Integer),
            ("correlationid", Uniqueidentifier),
            ("regardingobjectid", any()),
            ("owningextensionid", lookup(&["sdkmessageprocessingstep"])),
            ("startedon", DateTime),
            ("completedon", DateTime),
            ("depth", Integer),
            ("primaryentitytype", String),
            ("messagename", String),
            ("data", Memo),
        ]),
        // Shares (SEC-7): one row per record and principal, with the rights granted.
        Table::new("principalobjectaccess", "PrincipalObjectAccess", 11, OrganizationOwned).with(&[
            ("objectid", any()),
            ("principalid", lookup(&["systemuser", "team"])),
            ("accessrightsmask", Integer),
        ]),
        Table::new("plugintracelog", "PluginTraceLog", 4619, OrganizationOwned)
            .primary("plugintracelogid", "typename")
            .with(&[
                ("messagename", String),
                ("primaryentity", String),
                ("mode", Picklist),
                ("operationtype", Picklist),
                ("depth", Integer),
                ("correlationid", Uniqueidentifier),
                ("requestid", Uniqueidentifier),
                ("pluginstepid", Uniqueidentifier),
                ("configuration", Memo),
                ("secureconfiguration", Memo),
                ("messageblock", Memo),
                ("exceptiondetails", Memo),
                ("performanceexecutionstarttime", DateTime),
                ("performanceexecutionduration", Integer),
                ("issystemcreated", Boolean),
            ]),
    ];
    super::platform::add(&mut tables);
    super::activities::add(&mut tables);
    tables.iter_mut().for_each(super::states::apply_builtin);
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_a_missing_column_fails_as_the_platform_does() {
        let account = standard().into_iter().find(|t| t.logical_name == "account").unwrap();
        let mut e = Entity::new("account");
        e.set("name", "Contoso").set("new_nothing", 1);
        let fault = account.check(e).unwrap_err();
        assert_eq!(fault.code, codes::UNKNOWN_ATTRIBUTE);
        assert_eq!(fault.message, "'account' entity doesn't contain attribute with Name = 'new_nothing'");
    }

    #[test]
    fn values_are_checked_and_widened_to_their_column_type() {
        let account = standard().into_iter().find(|t| t.logical_name == "account").unwrap();
        let mut e = Entity::new("account");
        e.set("versionnumber", 3);
        assert_eq!(account.check(e).unwrap().get("versionnumber"), Some(&Value::BigInt(3)));
        let mut e = Entity::new("account");
        e.set("revenue", "a lot");
        assert_eq!(account.check(e).unwrap_err().code, codes::INVALID_ARGUMENT);
    }

    #[test]
    fn qry_7_a_write_ignores_the_formatted_values_sent_in() {
        let account = standard().into_iter().find(|t| t.logical_name == "account").unwrap();
        let mut e = Entity::new("account");
        e.set("name", "Contoso");
        e.formatted_values.insert("name".into(), "Fabrikam".into());
        assert!(account.check(e).unwrap().formatted_values.is_empty());
    }

    #[test]
    fn qry_10_a_write_refuses_an_aliased_value() {
        let account = standard().into_iter().find(|t| t.logical_name == "account").unwrap();
        let mut e = Entity::new("account");
        e.set("name", xrm_model::AliasedValue::new("contact", "fullname", "Carl".into()));
        let fault = account.check(e).unwrap_err();
        assert_eq!(fault.code, codes::INVALID_ARGUMENT);
        assert!(
            fault.message.contains("an AliasedValue (of 'contact.fullname') can't be written"),
            "{}",
            fault.message
        );
    }
}
