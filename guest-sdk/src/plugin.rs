//! The `IPlugin` contract and how a plug-in type becomes the component's export.

use crate::context::PluginContext;
use crate::error::PluginError;

/// A plug-in: `IPlugin`. Built from its step's configuration, like the platform's
/// `MyPlugin(string unsecure, string secure)` constructor, then asked to execute.
///
/// Each execution runs in a fresh instance (BOX-2), so `new` runs before every `execute`: nothing kept in
/// `self` survives to the next execution. Export the type with [`export_plugin!`](crate::export_plugin), or
/// several types from one component with [`export_plugins!`](crate::export_plugins).
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

/// The step's configuration as registered: `configuration`, `secureconfiguration` and the plug-in type the
/// step names (`type`).
///
/// ```
/// use xrm_sandbox_guest::StepConfiguration;
///
/// let configuration = StepConfiguration { unsecure: Some("Call".into()), ..StepConfiguration::default() };
/// assert_eq!(configuration.unsecure(), Some("Call"));
/// assert_eq!(configuration.plugin_type(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepConfiguration {
    /// The unsecure configuration (`configuration`).
    pub unsecure: Option<String>,
    /// The secure configuration (`secureconfiguration`).
    pub secure: Option<String>,
    /// The plug-in type the step runs, as its registration names it (`type`; the platform's `plugintypeid`):
    /// `Contoso.Plugins.FollowUp`, or `FollowUp`. [`export_plugins!`](crate::export_plugins) runs the type it
    /// names.
    pub plugin_type: Option<String>,
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
    /// let configuration = StepConfiguration { secure: Some("key".into()), ..StepConfiguration::default() };
    /// assert_eq!(configuration.secure(), Some("key"));
    /// ```
    pub fn secure(&self) -> Option<&str> {
        self.secure.as_deref()
    }

    /// The plug-in type the step's registration names (`type`), if it names one.
    ///
    /// ```
    /// # use xrm_sandbox_guest::StepConfiguration;
    /// let configuration =
    ///     StepConfiguration { plugin_type: Some("Contoso.Plugins.FollowUp".into()), ..StepConfiguration::default() };
    /// assert_eq!(configuration.plugin_type(), Some("Contoso.Plugins.FollowUp"));
    /// ```
    pub fn plugin_type(&self) -> Option<&str> {
        self.plugin_type.as_deref()
    }
}

/// Exports a [`Plugin`] type as the component's `xrm:plugin/plugin@0.2.0` interface.
///
/// Use it once, in the plug-in crate's `lib.rs`, built as a `cdylib` for `wasm32-wasip2`. The component then
/// holds this one type and runs it for every step, whatever type the step's registration names; to hold
/// several, use [`export_plugins!`](crate::export_plugins).
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

/// Exports several [`Plugin`] types from one component, as a platform assembly holds several plug-in types: each
/// step runs the type its registration names (`"type"`, PIPE-18).
///
/// Name the types by their Rust names, or give each its full name as the platform knows it:
///
/// ```no_run
/// use xrm_sandbox_guest::{Plugin, PluginContext, PluginError, StepConfiguration};
///
/// struct FollowUp;
/// struct AccountNumber;
/// # impl Plugin for FollowUp {
/// #     fn new(_: &StepConfiguration) -> Result<Self, PluginError> { Ok(FollowUp) }
/// #     fn execute(&self, _: &PluginContext) -> Result<(), PluginError> { Ok(()) }
/// # }
/// # impl Plugin for AccountNumber {
/// #     fn new(_: &StepConfiguration) -> Result<Self, PluginError> { Ok(AccountNumber) }
/// #     fn execute(&self, _: &PluginContext) -> Result<(), PluginError> { Ok(()) }
/// # }
///
/// xrm_sandbox_guest::export_plugins!(
///     "Contoso.Plugins.FollowUp" => FollowUp,
///     "Contoso.Plugins.AccountNumber" => AccountNumber,
/// );
/// // Or by their Rust names alone: xrm_sandbox_guest::export_plugins!(FollowUp, AccountNumber);
/// ```
///
/// A step's `type` names a held type by its Rust name (`FollowUp`), its full name
/// (`Contoso.Plugins.FollowUp`), or the last part of its full name (after the last `.` or `+`); a type given
/// by its Rust name alone also answers to any full name ending in it. A step that names no type, a type the
/// component does not hold, or a name that fits several of its types fails with `0x80040265`
/// (InvalidPluginExecutionException), naming what it asked for and the types the component holds. A component
/// exported with [`export_plugin!`](crate::export_plugin) holds one type and runs it whatever the step names.
#[macro_export]
macro_rules! export_plugins {
    ($($full:literal => $plugin:ty),+ $(,)?) => {
        $crate::__export_held_plugins!($(($plugin, ::core::option::Option::Some($full))),+);
    };
    ($($plugin:ty),+ $(,)?) => {
        $crate::__export_held_plugins!($(($plugin, ::core::option::Option::None)),+);
    };
}

/// The body of [`export_plugins!`]; not part of the API.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_held_plugins {
    ($(($plugin:ty, $full:expr)),+) => {
        // The generated export is an ABI shim: unsafe by nature, and confined to this block.
        #[allow(unsafe_code)]
        const _: () = {
            struct __XrmSandboxPluginExport;

            impl $crate::bindings::exports::xrm::plugin::plugin::Guest for __XrmSandboxPluginExport {
                fn execute(
                    context: &$crate::bindings::exports::xrm::plugin::plugin::Context,
                    configuration: $crate::bindings::exports::xrm::plugin::plugin::StepConfiguration,
                ) -> ::core::result::Result<(), $crate::bindings::exports::xrm::plugin::plugin::PluginError> {
                    let held = [$($crate::__private::Held::of::<$plugin>(::core::stringify!($plugin), $full)),+];
                    $crate::__private::execute_held(&held, context, configuration)
                }
            }

    $crate::bindings::export!(__XrmSandboxPluginExport with_types_in $crate::bindings);
        };
    };
}
