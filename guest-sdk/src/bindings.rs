//! The bindings `wit_bindgen` generates from `wit/plugin.wit` (world `plugin-world`).
//!
//! Plug-in authors do not need these: the crate's API wraps them. They are public because
//! [`export_plugin!`](crate::export_plugin) expands to code in the plug-in's crate that names them, and for
//! the rare plug-in that wants the raw interface.

// The generated code is undocumented and, being an ABI shim, unsafe by nature.
#![allow(missing_docs, unsafe_code)]

wit_bindgen::generate!({
    world: "plugin-world",
    path: "wit",
    // The export macro is used from plug-in crates, so it must be exported and name this module by path.
    pub_export_macro: true,
    default_bindings_module: "xrm_sandbox_guest::bindings",
    // Lets unit tests compare converted values.
    additional_derives: [PartialEq],
});
