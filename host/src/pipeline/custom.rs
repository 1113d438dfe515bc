//! Custom messages (custom APIs, PIPE-1): their requests checked against the declared parameters before
//! anything runs, their responses after the stage-30 plug-in.

use xrm_model::{Fault, Parameters, Request, codes, messages};

use crate::org::CustomApi;

fn invalid(message: String) -> Fault {
    Fault::new(codes::INVALID_ARGUMENT, message)
}

/// Every declared parameter present (unless optional) with its type, no parameter the API does not declare,
/// and a Target of the bound table when the API is bound.
pub fn check_request(api: &CustomApi, request: &Request) -> Result<(), Fault> {
    let name = &api.unique_name;
    for p in &api.request {
        match request.parameter(&p.name) {
            None if p.optional => {}
            None => {
                return Err(invalid(format!("{name}: the required parameter `{}` ({:?}) is missing", p.name, p.kind)));
            }
            Some(v) if !p.kind.accepts(v) => {
                return Err(invalid(format!(
                    "{name}: the parameter `{}` must be {:?}, found {}",
                    p.name,
                    p.kind,
                    describe(v)
                )));
            }
            Some(_) => {}
        }
    }
    for given in request.parameters.keys() {
        let declared = api.request.iter().any(|p| p.name == *given);
        let bound_target = given == messages::TARGET && api.bound_entity.is_some();
        if !(declared || bound_target) {
            return Err(invalid(format!("{name}: `{given}` is not a parameter of this message")));
        }
    }
    if let Some(table) = &api.bound_entity {
        match request.target_reference() {
            Some(t) if t.logical_name == *table => {}
            Some(t) => return Err(invalid(format!("{name} is bound to `{table}`, not `{}`", t.logical_name))),
            None => return Err(invalid(format!("{name} is bound to `{table}`: the request needs a Target"))),
        }
    }
    Ok(())
}

/// The response parameters the plug-in set must have their declared types.
pub fn check_response(api: &CustomApi, output: &Parameters) -> Result<(), Fault> {
    for p in &api.response {
        if let Some(v) = output.get(&p.name)
            && !p.kind.accepts(v)
        {
            return Err(invalid(format!(
                "{}: the response parameter `{}` must be {:?}, the plug-in set {}",
                api.unique_name,
                p.name,
                p.kind,
                describe(v)
            )));
        }
    }
    Ok(())
}

fn describe(v: &xrm_model::ParameterValue) -> String {
    match v {
        xrm_model::ParameterValue::Value(v) => v.type_name().to_owned(),
        other => format!("{other:?}").split('(').next().unwrap_or_default().to_owned(),
    }
}
