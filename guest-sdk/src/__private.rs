//! What the crate's macros expand to; not part of the API.

use crate::bindings::exports::xrm::plugin::plugin as wit;
use crate::context::PluginContext;
use crate::error::{PluginError, to_wit_error};
use crate::plugin::{Plugin, StepConfiguration};
use crate::tracing::TracingService;

/// One execution: build the plug-in from its configuration, then run it.
pub fn execute<P: Plugin>(
    context: &wit::Context,
    configuration: wit::StepConfiguration,
) -> Result<(), wit::PluginError> {
    run::<P>(context, configuration.into())
}

impl From<wit::StepConfiguration> for StepConfiguration {
    fn from(c: wit::StepConfiguration) -> Self {
        StepConfiguration { unsecure: c.unsecure, secure: c.secure, plugin_type: c.plugin_type }
    }
}

fn run<P: Plugin>(context: &wit::Context, configuration: StepConfiguration) -> Result<(), wit::PluginError> {
    let plugin = P::new(&configuration).map_err(to_wit_error)?;
    let context = PluginContext::borrowed(context, configuration);
    plugin.execute(&context).map_err(to_wit_error)
}

/// One plug-in type of a component that holds several (`export_plugins!`).
pub struct Held {
    /// The type as the macro was given it (`FollowUp`, `plugins::FollowUp`).
    pub rust_name: &'static str,
    /// Its full name, as the platform knows it (`Contoso.Plugins.FollowUp`), when the macro gave one.
    pub full_name: Option<&'static str>,
    run: fn(&wit::Context, StepConfiguration) -> Result<(), wit::PluginError>,
}

impl Held {
    /// The type `P`, named `rust_name` (and `full_name`).
    pub fn of<P: Plugin>(rust_name: &'static str, full_name: Option<&'static str>) -> Held {
        Held { rust_name, full_name, run: run::<P> }
    }
}

/// One execution of the held type the step's registration names (PIPE-18).
pub fn execute_held(
    held: &[Held],
    context: &wit::Context,
    configuration: wit::StepConfiguration,
) -> Result<(), wit::PluginError> {
    let configuration = StepConfiguration::from(configuration);
    let names: Vec<TypeName> = held.iter().map(|h| TypeName::new(h.rust_name, h.full_name)).collect();
    match choose(&names, configuration.plugin_type()) {
        Ok(i) => (held[i].run)(context, configuration),
        Err(message) => Err(to_wit_error(PluginError::invalid(message))),
    }
}

/// The names a held type answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TypeName<'a> {
    /// The Rust name alone, without its path or generics: `FollowUp`.
    rust: &'a str,
    full: Option<&'a str>,
}

impl<'a> TypeName<'a> {
    pub(crate) fn new(rust_name: &'a str, full: Option<&'a str>) -> Self {
        // `stringify!` of a path type: `plugins :: FollowUp`, perhaps with generics.
        let rust = rust_name.split('<').next().unwrap_or(rust_name);
        let rust = rust.rsplit("::").next().unwrap_or(rust).trim();
        TypeName { rust, full }
    }

    /// How the type is listed in an error: `FollowUp (Contoso.Plugins.FollowUp)`.
    fn describe(&self) -> String {
        match self.full {
            Some(full) => format!("`{full}` ({})", self.rust),
            None => format!("`{}`", self.rust),
        }
    }

    /// Whether a registration's type names this one: by its full name, by the last part of its full name, by its
    /// Rust name, or, for a type declared by its Rust name alone, by any full name that ends in it.
    fn answers_to(&self, asked: &str) -> bool {
        if asked == self.rust {
            return true;
        }
        match self.full {
            Some(full) => asked == full || asked == last_segment(full),
            None => last_segment(asked) == self.rust,
        }
    }
}

/// The last part of a .NET type name: `FollowUp` of `Contoso.Plugins.FollowUp`, `Inner` of `Outer+Inner`.
fn last_segment(name: &str) -> &str {
    name.rsplit(['.', '+']).next().unwrap_or(name)
}

/// Which of `held` the registration's type `asked` names; the error says what was asked and what is held.
pub(crate) fn choose(held: &[TypeName], asked: Option<&str>) -> Result<usize, String> {
    let holds = || held.iter().map(TypeName::describe).collect::<Vec<_>>().join(", ");
    let Some(asked) = asked else {
        return match held.len() {
            1 => Ok(0),
            _ => Err(format!(
                "The step names no plug-in type, and this component holds several: {}. Name the one to run in the \
                 step's registration (`\"type\"`) (PIPE-18)",
                holds()
            )),
        };
    };
    // A full name is one type's own: it wins over a shorter name another type answers to.
    let exact: Vec<usize> = (0..held.len()).filter(|&i| held[i].full == Some(asked)).collect();
    if let [one] = exact[..] {
        return Ok(one);
    }
    let matching: Vec<usize> = (0..held.len()).filter(|&i| held[i].answers_to(asked)).collect();
    match matching[..] {
        [one] => Ok(one),
        [] => Err(format!(
            "The step names the plug-in type `{asked}`, which this component does not hold: it holds {} (PIPE-18)",
            holds()
        )),
        _ => {
            let fits: Vec<String> = matching.iter().map(|&i| held[i].describe()).collect();
            Err(format!(
                "The step names the plug-in type `{asked}`, which fits several types of this component: {}. Name \
                 it by its full name (PIPE-18)",
                fits.join(", ")
            ))
        }
    }
}

/// The body of `trace!`.
pub fn trace(message: &str) {
    TracingService::new().trace(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(names: &[&'static str]) -> Vec<TypeName<'static>> {
        names.iter().map(|n| TypeName::new(n, None)).collect()
    }

    #[test]
    fn one_held_type_runs_whatever_the_step_names_or_not() {
        let held = bare(&["FollowUp"]);
        assert_eq!(choose(&held, None), Ok(0));
        assert_eq!(choose(&held, Some("FollowUp")), Ok(0));
    }

    #[test]
    fn a_type_given_by_its_rust_name_answers_to_it_and_to_full_names_ending_in_it() {
        let held = bare(&["FollowUp", "AccountNumber"]);
        assert_eq!(choose(&held, Some("AccountNumber")), Ok(1));
        assert_eq!(choose(&held, Some("FollowUp")), Ok(0));
        assert_eq!(choose(&held, Some("Contoso.Plugins.AccountNumber")), Ok(1));
        assert_eq!(choose(&held, Some("Contoso.Plugins+AccountNumber")), Ok(1));
        // A path or generics in the macro's type do not count.
        assert_eq!(choose(&bare(&["plugins :: FollowUp", "Other<u8>"]), Some("Other")), Ok(1));
    }

    #[test]
    fn a_type_with_a_full_name_answers_to_it_its_last_part_and_its_rust_name() {
        let held = vec![
            TypeName::new("FollowUp", Some("Contoso.Plugins.FollowUp")),
            TypeName::new("Numbering", Some("Contoso.Plugins.AccountNumber")),
        ];
        assert_eq!(choose(&held, Some("Contoso.Plugins.FollowUp")), Ok(0));
        assert_eq!(choose(&held, Some("AccountNumber")), Ok(1));
        assert_eq!(choose(&held, Some("Numbering")), Ok(1));
        // Another namespace is another type.
        let e = choose(&held, Some("Fabrikam.Plugins.FollowUp")).unwrap_err();
        assert!(e.contains("`Fabrikam.Plugins.FollowUp`, which this component does not hold"), "{e}");
    }

    #[test]
    fn an_unknown_type_names_what_was_asked_and_every_held_type_pipe_18() {
        let held = vec![TypeName::new("FollowUp", Some("Contoso.Plugins.FollowUp")), TypeName::new("Other", None)];
        let e = choose(&held, Some("FolowUp")).unwrap_err();
        assert!(e.contains("`FolowUp`"), "{e}");
        assert!(e.contains("`Contoso.Plugins.FollowUp` (FollowUp), `Other`"), "{e}");
        assert!(e.contains("PIPE-18"), "{e}");
        // Names are compared as the platform compares type names: case counts.
        assert!(choose(&held, Some("followup")).is_err());
    }

    #[test]
    fn no_type_with_several_held_names_them_pipe_18() {
        let e = choose(&bare(&["FollowUp", "AccountNumber"]), None).unwrap_err();
        assert!(e.contains("names no plug-in type") && e.contains("`FollowUp`, `AccountNumber`"), "{e}");
        assert!(e.contains("\"type\""), "{e}");
    }

    #[test]
    fn a_name_that_fits_several_types_is_ambiguous_unless_it_is_a_full_name_pipe_18() {
        let held = vec![
            TypeName::new("SalesFollowUp", Some("Contoso.Sales.FollowUp")),
            TypeName::new("ServiceFollowUp", Some("Contoso.Service.FollowUp")),
        ];
        let e = choose(&held, Some("FollowUp")).unwrap_err();
        assert!(e.contains("fits several types") && e.contains("Contoso.Sales.FollowUp"), "{e}");
        assert!(e.contains("Contoso.Service.FollowUp"), "{e}");
        assert_eq!(choose(&held, Some("Contoso.Service.FollowUp")), Ok(1));
        // A full name wins over a Rust name another type has.
        let held = vec![TypeName::new("A", Some("X.B")), TypeName::new("B", None)];
        assert_eq!(choose(&held, Some("X.B")), Ok(0));
        assert!(choose(&held, Some("B")).is_err());
    }
}
