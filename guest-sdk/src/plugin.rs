//! The `IPlugin` contract and how a plug-in type becomes the component's export.

use crate::context::PluginContext;
use crate::error::PluginError;

/// A plug-in: `IPlugin`. Built from its step's configuration, like the platform's
/// `MyPlugin(string unsecure, string secure)` constructor, then asked to execute.
///
/// Each execution runs in a fresh instance (BOX-2), so `new` runs before every `execute`: nothing kept in
/// `self` survives to the next execution. Export the type with [`export_plugin!`](crate::export_plugin).
///
/// ```no_run
/// use xrm_sandbox_guest::{Plugin, PluginContext, PluginError, StepConfiguration, trace};
///
/// struct Greeter {
///     greeting: String,
/// }
///
/// impl Plugin for Greeter {
///     fn new(configuration: &StepConfiguration) -> Result<Self, PluginError> {
///         Ok(Greeter { greeting: configuration.unsecure().unwrap_or("Hello").to_owned() })
///     }
///
///     fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
///         trace!("{} from {}", self.greeting, context.primary_entity_name());
///         Ok(())
///     }
/// }
///
/// xrm_sandbox_guest::export_plugin!(Greeter);
/// ```
pub trait Plugin: Sized {
    /// Builds the plug-in from its step's unsecure and secure configuration; an error fails the execution
    /// as the constructor's exception would.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginError, StepConfiguration};
    /// # struct Limit { max: u32 }
    /// # impl Limit {
    /// fn new(configuration: &StepConfiguration) -> Result<Limit, PluginError> {
    ///     let text = configuration.unsecure().unwrap_or("10");
    ///     let max = text.trim().parse().map_err(|_| PluginError::invalid(format!("`{text}` is not a number")))?;
    ///     Ok(Limit { max })
    /// }
    /// # }
    /// ```
    fn new(configuration: &StepConfiguration) -> Result<Self, PluginError>;

    /// `Execute(IServiceProvider)`: does the plug-in's work for one step execution.
    ///
    /// ```no_run
    /// # use xrm_sandbox_guest::{PluginContext, PluginError};
    /// # struct P;
    /// # impl P {
    /// fn execute(&self, context: &PluginContext) -> Result<(), PluginError> {
    ///     if context.depth() > 1 {
    ///         return Ok(());
    ///     }
    ///     Err(PluginError::invalid("not allowed"))
    /// }
    /// # }
    /// ```
    fn execute(&self, context: &PluginContext<'_>) -> Result<(), PluginError>;
}

/// The step's configuration as registered: `configuration` and `secureconfiguration`.
///
/// ```
/// use xrm_sandbox_guest::StepConfiguration;
///
/// let configuration = StepConfiguration { unsecure: Some("Call".into()), secure: None };
/// assert_eq!(configuration.unsecure(), Some("Call"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepConfiguration {
    /// The unsecure configuration (`configuration`).
    pub unsecure: Option<String>,
    /// The secure configuration (`secureconfiguration`).
    pub secure: Option<String>,
}

impl StepConfiguration {
    /// The unsecure configuration as text.
    ///
    /// ```
    /// # use xrm_sandbox_guest::StepConfiguration;
    /// assert_eq!(StepConfiguration::default().unsecure(), None);
    /// ```
    pub fn unsecure(&self) -> Option<&str> {
        self.unsecure.as_deref()
    }

    /// The secure configuration as text.
    ///
    /// ```
    /// # use xrm_sandbox_guest::StepConfiguration;
    /// let configuration = StepConfiguration { unsecure: None, secure: Some("key".into()) };
    /// assert_eq!(configuration.secure(), Some("key"));
    /// ```
    pub fn secure(&self) -> Option<&str> {
        self.secure.as_deref()
    }
}

/// Exports a [`Plugin`] type as the component's `xrm:plugin/plugin@0.2.0` interface.
///
/// Use it once, in the plug-in crate's `lib.rs`, built as a `cdylib` for `wasm32-wasip2`.
///
/// ```no_run
/// use xrm_sandbox_guest::{Plugin, PluginContext, PluginError, StepConfiguration};
///
/// struct Nothing;
///
/// impl Plugin for Nothing {
///     fn new(_: &StepConfiguration) -> Result<Self, PluginError> {
///         Ok(Nothing)
///     }
///     fn execute(&self, _: &PluginContext) -> Result<(), PluginError> {
///         Ok(())
///     }
/// }
///
/// xrm_sandbox_guest::export_plugin!(Nothing);
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        // The generated export is an ABI shim: unsafe by nature, and confined to this block.
        #[allow(unsafe_code)]
        const _: () = {
            struct __XrmSandboxPluginExport;

            impl $crate::bindings::exports::xrm::plugin::plugin::Guest for __XrmSandboxPluginExport {
                fn execute(
                    context: &$crate::bindings::exports::xrm::plugin::plugin::Context,
                    configuration: $crate::bindings::exports::xrm::plugin::plugin::StepConfiguration,
                ) -> ::core::result::Result<(), $crate::bindings::exports::xrm::plugin::plugin::PluginError> {
                    $crate::__private::execute::<$plugin>(context, configuration)
                }
            }

    $crate::bindings::export!(__XrmSandboxPluginExport with_types_in $crate::bindings);
        };
    };
}
