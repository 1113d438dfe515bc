//! The built-in tables and columns that the platform's messages work with: the organization and its
//! currencies (CUR-1), environment variables (ENV-1), team templates and access teams (TEAM-1), the security
//! tables (SEC-10), and the columns that Merge (MERGE-1) and QualifyLead (LEAD-1) fill.

use super::tables::{ColumnType, Ownership, Table};

/// Adds the platform tables to the built-in ones and the columns the messages fill to existing tables.
pub(super) fn add(tables: &mut Vec<Table>) {
    use ColumnType::*;
    use Ownership::*;
    let lookup = |t: &[&str]| Lookup(t.iter().map(|s| (*s).to_owned()).collect());
    tables.extend([
        Table::new("organization", "Organization", 1019, OrganizationOwned)
            .primary("organizationid", "name")
            .with(&[("basecurrencyid", lookup(&["transactioncurrency"])), ("basecurrencysymbol", String)]),
        Table::new("transactioncurrency", "TransactionCurrency", 9105, OrganizationOwned)
            .primary("transactioncurrencyid", "currencyname")
            .with(&[
                ("isocurrencycode", String),
                ("currencysymbol", String),
                ("exchangerate", Decimal),
                ("currencyprecision", Integer),
            ]),
        Table::new("environmentvariabledefinition", "EnvironmentVariableDefinition", 380, UserOwned)
            .primary("environmentvariabledefinitionid", "schemaname")
            .with(&[
                ("displayname", String),
                ("description", Memo),
                ("type", Picklist),
                ("defaultvalue", Memo),
                ("valueschema", Memo),
                ("isrequired", Boolean),
            ]),
        Table::new("environmentvariablevalue", "EnvironmentVariableValue", 381, UserOwned)
            .primary("environmentvariablevalueid", "schemaname")
            .with(&[("value", Memo), ("environmentvariabledefinitionid", lookup(&["environmentvariabledefinition"]))]),
        // The security tables (SEC-10), seeded from the organization and changed by the security messages only:
        // team members (the intersect of `teammembership_association`; access teams' members too, TEAM-1), the
        // roles of users and teams, the privileges of roles. Each is read with Read on the principals it relates.
        Table::new("teammembership", "TeamMembership", 23, OrganizationOwned)
            .with(&[("teamid", Uniqueidentifier), ("systemuserid", Uniqueidentifier)])
            .read_with(&["User", "Team"]),
        Table::new("systemuserroles", "SystemUserRoles", 15, OrganizationOwned)
            .key("systemuserroleid")
            .with(&[("systemuserid", Uniqueidentifier), ("roleid", Uniqueidentifier)])
            .read_with(&["User", "Role"]),
        Table::new("teamroles", "TeamRoles", 40, OrganizationOwned)
            .key("teamroleid")
            .with(&[("teamid", Uniqueidentifier), ("roleid", Uniqueidentifier)])
            .read_with(&["Team", "Role"]),
        Table::new("roleprivileges", "RolePrivileges", 12, OrganizationOwned)
            .key("roleprivilegeid")
            .with(&[("roleid", Uniqueidentifier), ("privilegeid", Uniqueidentifier), ("privilegedepthmask", Integer)])
            .read_with(&["Role"]),
        Table::new("privilege", "Privilege", 1023, OrganizationOwned)
            .primary("privilegeid", "name")
            .with(&[("accessright", Integer)])
            .read_with(&["Role"]),
        Table::new("teamtemplate", "TeamTemplate", 92, OrganizationOwned)
            .primary("teamtemplateid", "teamtemplatename")
            .with(&[
                ("objecttypecode", Integer),
                ("defaultaccessrightsmask", Integer),
                ("description", Memo),
                ("issystem", Boolean),
            ]),
    ]);
    for table in tables.iter_mut() {
        let extra: &[(&str, ColumnType)] = match table.logical_name.as_str() {
            // Access teams (TEAM-1): the record a team is for and the template it was made from.
            "team" => &[("regardingobjectid", Lookup(Vec::new())), ("teamtemplateid", lookup(&["teamtemplate"]))],
            // Merge (MERGE-1): the record a subordinate was merged into.
            "account" => {
                &[("masterid", lookup(&["account"])), ("merged", Boolean), ("originatingleadid", lookup(&["lead"]))]
            }
            "contact" => {
                &[("masterid", lookup(&["contact"])), ("merged", Boolean), ("originatingleadid", lookup(&["lead"]))]
            }
            "lead" => &[
                ("masterid", lookup(&["lead"])),
                ("merged", Boolean),
                ("qualifyingopportunityid", lookup(&["opportunity"])),
                ("customerid", lookup(&["account", "contact"])),
            ],
            "opportunity" => &[("originatingleadid", lookup(&["lead"]))],
            _ => &[],
        };
        for (name, ty) in extra {
            table.columns.insert((*name).to_owned(), ty.clone());
        }
    }
}
