//! The version of the plug-in interface this host implements, and the check that a component was built against
//! that version (BOX-4): a plug-in built with another SDK is refused at load, naming both versions, instead of
//! failing to link with a list of missing functions.

use wasmtime::Engine;
use wasmtime::component::Component;

/// The version of the `xrm:plugin` package in `guest-sdk/wit/plugin.wit`.
pub const VERSION: &str = "0.2.0";

/// The package every interface of the contract belongs to.
const PACKAGE: &str = "xrm:plugin";

/// The contract's package with its version, as errors and documentation name it: `xrm:plugin@0.2.0`.
pub fn package() -> String {
    format!("{PACKAGE}@{VERSION}")
}

/// Refuses a component that imports or exports an `xrm:plugin` interface of another version.
pub fn check(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(name, _)| name);
    let exports = ty.exports(engine).map(|(name, _)| name);
    match imports.chain(exports).find_map(|name| other_version(name).map(|v| (name, v))) {
        None => Ok(()),
        Some((name, version)) => Err(format!(
            "was built against the plug-in interface `{PACKAGE}@{version}` (it uses `{name}`), but this host \
             implements `{}`: rebuild the plug-in with the current SDK (the `xrm-sandbox-guest` crate of this \
             xrm-sandbox)",
            package()
        )),
    }
}

/// The version of an `xrm:plugin/<interface>@<version>` name, when it is not this host's.
fn other_version(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(PACKAGE)?.strip_prefix('/')?;
    let (_, version) = rest.split_once('@')?;
    (version != VERSION).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_the_contract_with_another_version_are_flagged() {
        assert_eq!(other_version("xrm:plugin/plugin@0.1.0"), Some("0.1.0"));
        assert_eq!(other_version("xrm:plugin/tracing-service@0.3.0"), Some("0.3.0"));
        assert_eq!(other_version(&format!("xrm:plugin/plugin@{VERSION}")), None);
        assert_eq!(other_version("wasi:cli/environment@0.2.6"), None);
        assert_eq!(other_version("xrm:pluginx/plugin@0.1.0"), None);
        assert_eq!(other_version("xrm:plugin/plugin"), None);
    }
}
