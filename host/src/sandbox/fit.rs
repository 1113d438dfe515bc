//! Whether a component fits the plug-in interface, checked at load (BOX-4): every import is an interface this
//! host provides, and every function the host calls has the type the interface gives it. Wasmtime's own link
//! check lets two things through that would only fail at the first run: an import of an interface the host does
//! not provide but whose instance needs nothing (no function, no resource), and an export with the right name but
//! other function types ("expected 2-tuple, found 0-tuple" at the first call).

use std::collections::HashMap;
use std::sync::Mutex;

use wasmtime::component::types::{ComponentFunc, ComponentItem, Type};
use wasmtime::component::{Component, InstancePre, Linker, Resource};

use super::bindings::exports::xrm::plugin::plugin as export;
use super::host::ContextHandle;
use super::version;

/// The WIT declaration of the export the host calls, as `guest-sdk/wit/plugin.wit` writes it.
fn expected_execute() -> &'static str {
    const WIT: &str = include_str!("../../../guest-sdk/wit/plugin.wit");
    WIT.lines().map(str::trim).find(|l| l.starts_with("execute: func(context")).unwrap_or("execute: func(…)")
}

/// The names the linker provides, remembered per name (a load checks each import once per process).
#[derive(Default)]
pub struct Provided(Mutex<HashMap<String, bool>>);

impl Provided {
    /// Whether `linker` defines an instance under `name`, with its semver-compatible versions (`wasi:io/error@0.2.0`
    /// for the linker's 0.2.6). The linker offers no lookup by name: a component importing `name` as a function
    /// is checked against it, which fails as "expected function found instance" exactly when an instance is there.
    fn has<T: 'static>(&self, linker: &Linker<T>, name: &str) -> bool {
        if let Some(known) = self.0.lock().ok().and_then(|m| m.get(name).copied()) {
            return known;
        }
        let known = Component::new(linker.engine(), importing_a_function(name))
            .ok()
            .map(|c| match linker.instantiate_pre(&c) {
                Ok(_) => false,
                Err(e) => format!("{e:#}").contains("expected function found instance"),
            })
            .unwrap_or(false);
        if let Ok(mut m) = self.0.lock() {
            m.insert(name.to_owned(), known);
        }
        known
    }
}

/// `(component (import "<name>" (func)))`.
fn importing_a_function(name: &str) -> Vec<u8> {
    use wasm_encoder::{ComponentImportSection, ComponentTypeRef, ComponentTypeSection};
    let mut types = ComponentTypeSection::new();
    types.function().params(std::iter::empty::<(&str, wasm_encoder::ComponentValType)>()).result(None);
    let mut imports = ComponentImportSection::new();
    imports.import(name, ComponentTypeRef::Func(0));
    let mut component = wasm_encoder::Component::new();
    component.section(&types).section(&imports);
    component.finish()
}

/// Refuses an import of an interface this host does not provide, whether or not its instance needs anything.
pub fn check_imports<T: 'static>(linker: &Linker<T>, provided: &Provided, component: &Component) -> Result<(), String> {
    let engine = linker.engine();
    for (name, import) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = &import.ty else {
            // Functions, resources, types, modules or components at the top level: the link check names them.
            continue;
        };
        if !provided.has(linker, name) {
            return Err(format!(
                "imports `{name}`, an interface this host does not provide: a plug-in may import only the \
                 interfaces of `{}` and the WASI 0.2 interfaces the sandbox implements",
                version::package()
            ));
        }
        if let Some((item, _)) =
            instance.exports(engine).find(|(_, e)| matches!(e.ty, ComponentItem::ComponentInstance(_)))
        {
            return Err(format!(
                "imports `{name}` with a nested instance `{item}`, which no interface of this host has"
            ));
        }
    }
    Ok(())
}

/// Refuses an export of the plug-in interface whose `execute` has other parameters or results than the host's.
pub fn check_exports<T: 'static>(pre: &InstancePre<T>) -> Result<(), String> {
    let component = pre.component();
    let engine = component.engine();
    let interface = format!("xrm:plugin/plugin@{}", version::VERSION);
    let ty = component.component_type();
    let Some(ComponentItem::ComponentInstance(instance)) = ty.get_export(engine, &interface).map(|e| e.ty) else {
        return Err(format!("does not export `{interface}` as an instance"));
    };
    let Some(item) = instance.get_export(engine, "execute").map(|e| e.ty) else {
        return Err(format!("exports `{interface}` without `execute`: expected `{}`", expected_execute()));
    };
    let ComponentItem::ComponentFunc(func) = item else {
        return Err(format!(
            "exports `{interface}` whose `execute` is a {}, not a function: expected `{}`",
            describe_item(&item),
            expected_execute()
        ));
    };
    type Params = (Resource<ContextHandle>, export::StepConfiguration);
    type Results = (Result<(), export::PluginError>,);
    func.typecheck::<Params, Results>(&pre.instance_type()).map_err(|e| {
        format!(
            "exports `{interface}` whose `execute` has other types than this host's: expected `{}`, found \
             `execute: {}` ({})",
            expected_execute(),
            signature(&func),
            e.root_cause()
        )
    })
}

fn describe_item(item: &ComponentItem) -> &'static str {
    match item {
        ComponentItem::ComponentFunc(_) => "function",
        ComponentItem::CoreFunc(_) => "core function",
        ComponentItem::Module(_) => "core module",
        ComponentItem::Component(_) => "component",
        ComponentItem::ComponentInstance(_) => "instance",
        ComponentItem::Type(_) => "type",
        ComponentItem::Resource(_) => "resource",
    }
}

/// A function type in WIT's words, its types spelled out two levels deep.
fn signature(func: &ComponentFunc) -> String {
    let params: Vec<String> = func.params().map(|(name, ty)| format!("{name}: {}", wit(&ty, 2))).collect();
    let results: Vec<String> = func.results().map(|ty| wit(&ty, 2)).collect();
    let arrow = match results.len() {
        0 => String::new(),
        1 => format!(" -> {}", results[0]),
        _ => format!(" -> ({})", results.join(", ")),
    };
    format!("func({}){arrow}", params.join(", "))
}

fn wit(ty: &Type, depth: usize) -> String {
    if depth == 0 {
        return kind(ty).to_owned();
    }
    let inner = |t: &Type| wit(t, depth - 1);
    match ty {
        Type::List(l) => format!("list<{}>", inner(&l.ty())),
        Type::Option(o) => format!("option<{}>", inner(&o.ty())),
        Type::Result(r) => {
            let ok = r.ok().map_or("_".to_owned(), |t| inner(&t));
            match r.err() {
                Some(e) => format!("result<{ok}, {}>", inner(&e)),
                None => format!("result<{ok}>"),
            }
        }
        Type::Tuple(t) => format!("tuple<{}>", t.types().map(|t| inner(&t)).collect::<Vec<_>>().join(", ")),
        Type::Record(r) => {
            let fields: Vec<String> = r.fields().map(|f| format!("{}: {}", f.name, inner(&f.ty))).collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Variant(v) => {
            let cases: Vec<String> = v
                .cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, inner(&t)),
                    None => c.name.to_owned(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        Type::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        Type::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        Type::Own(_) => "own<resource>".to_owned(),
        Type::Borrow(_) => "borrow<resource>".to_owned(),
        other => kind(other).to_owned(),
    }
}

/// A type's kind, as WIT names it.
fn kind(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::List(_) => "list",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        Type::Own(_) => "own",
        Type::Borrow(_) => "borrow",
        Type::Future(_) => "future",
        Type::Stream(_) => "stream",
        Type::ErrorContext => "error-context",
        _ => "another type",
    }
}
