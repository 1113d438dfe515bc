#[allow(unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin-world",
        path: "wit",
        pub_export_macro: true,
        default_bindings_module: "xrm_sandbox_guest::bindings",
        additional_derives: [PartialEq],
    });
}
