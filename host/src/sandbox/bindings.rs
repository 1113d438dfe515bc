//! The host side of the plug-in interface, generated from `guest-sdk/wit/plugin.wit`.

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit",
    world: "plugin-world",
    // Every host function may trap: a handle the plug-in forged, or a service call made after the step's time
    // limit, ends the execution instead of returning a value.
    imports: { default: trappable },
    with: {
        "xrm:plugin/execution-context.context": super::host::ContextHandle,
        "xrm:plugin/organization-service.organization-service": super::host::ServiceHandle,
    },
});
