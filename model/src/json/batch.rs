//! The JSON forms of the batch and bulk messages (PIPE-17): `ExecuteMultiple` and `ExecuteTransaction` carry
//! `requests`, the bulk messages `targets`; their responses list what each request or record became.

use serde_json::{Map, Value as Json, json};

use super::{JsonError, Path, Reader, Result, check_keys, expected, parameter_to_json, response_to_json};
use crate::request::{EntityCollection, ExecuteMultipleResponseItem, ExecuteMultipleSettings, ParameterValue, Request};
use crate::request::{Parameters, messages};
use crate::value::Value;

/// The bulk messages, whose requests carry `targets`.
const BULK: [&str; 3] = [messages::CREATE_MULTIPLE, messages::UPDATE_MULTIPLE, messages::UPSERT_MULTIPLE];

impl Reader<'_> {
    /// `requests`, `settings`, `returnresponses` and `targets`, each only on the messages that take it.
    pub(super) fn batch_parameters(
        &self,
        obj: &Map<String, Json>,
        message: &str,
        path: &Path<'_>,
        params: &mut Parameters,
    ) -> Result<()> {
        let batch = messages::BATCHES.contains(&message);
        let only = |key: &str, on: &str| {
            JsonError::new(&path.key(key), format!("`{key}` belongs to {on} requests, not to {message}"))
        };
        match obj.get("requests") {
            Some(_) if !batch => return Err(only("requests", "ExecuteMultiple and ExecuteTransaction")),
            Some(requests) => {
                params.insert(messages::REQUESTS.into(), ParameterValue::Requests(self.requests(requests, path)?));
            }
            None if batch => return Err(JsonError::new(path, format!("the {message} request needs `requests`"))),
            None => {}
        }
        match obj.get("settings") {
            Some(_) if message != messages::EXECUTE_MULTIPLE => return Err(only("settings", "ExecuteMultiple")),
            Some(settings) => {
                let settings = execute_multiple_settings(settings, &path.key("settings"))?;
                params.insert(messages::SETTINGS.into(), ParameterValue::ExecuteMultipleSettings(settings));
            }
            // [choice] Without `settings`, as the SDK's `new ExecuteMultipleSettings()`: both false.
            None if message == messages::EXECUTE_MULTIPLE => {
                let settings = ParameterValue::ExecuteMultipleSettings(ExecuteMultipleSettings::default());
                params.insert(messages::SETTINGS.into(), settings);
            }
            None => {}
        }
        match obj.get("returnresponses") {
            Some(_) if message != messages::EXECUTE_TRANSACTION => {
                return Err(only("returnresponses", "ExecuteTransaction"));
            }
            Some(flag) => {
                let flag = flag.as_bool().ok_or_else(|| expected(&path.key("returnresponses"), "a boolean", flag))?;
                params.insert(messages::RETURN_RESPONSES.into(), ParameterValue::Value(Value::Boolean(flag)));
            }
            None if message == messages::EXECUTE_TRANSACTION => {
                params.insert(messages::RETURN_RESPONSES.into(), ParameterValue::Value(Value::Boolean(false)));
            }
            None => {}
        }
        match obj.get("targets") {
            Some(_) if !BULK.contains(&message) => {
                return Err(only("targets", "CreateMultiple, UpdateMultiple and UpsertMultiple"));
            }
            Some(targets) => {
                let targets = self.targets(targets, &path.key("targets"))?;
                params.insert(messages::TARGETS.into(), ParameterValue::EntityCollection(targets));
            }
            None if BULK.contains(&message) => {
                return Err(JsonError::new(path, format!("the {message} request needs `targets`")));
            }
            None => {}
        }
        Ok(())
    }

    /// The requests of a batch, each in the suite's request form.
    fn requests(&self, v: &Json, path: &Path<'_>) -> Result<Vec<Request>> {
        let rpath = path.key("requests");
        let items = v.as_array().ok_or_else(|| expected(&rpath, "a list of requests", v))?;
        items.iter().enumerate().map(|(i, item)| self.request(item, &rpath.index(i))).collect()
    }

    /// The entities of a bulk message; the collection is named after the first one's table.
    fn targets(&self, v: &Json, path: &Path<'_>) -> Result<EntityCollection> {
        let items = v.as_array().ok_or_else(|| expected(path, "a list of entities", v))?;
        let entities = items.iter().enumerate().map(|(i, item)| self.entity(item, &path.index(i)));
        let entities = entities.collect::<Result<Vec<_>>>()?;
        let entity_name = entities.first().map(|e| e.logical_name.clone()).unwrap_or_default();
        Ok(EntityCollection { entity_name, entities, ..EntityCollection::default() })
    }
}

/// `{"continueonerror": true, "returnresponses": true}`, each false when left out.
fn execute_multiple_settings(v: &Json, path: &Path<'_>) -> Result<ExecuteMultipleSettings> {
    let obj = v.as_object().ok_or_else(|| expected(path, "settings `{\"continueonerror\": …}`", v))?;
    check_keys(obj, &["continueonerror", "returnresponses"], path)?;
    let flag = |key: &str| match obj.get(key) {
        None => Ok(false),
        Some(b) => b.as_bool().ok_or_else(|| expected(&path.key(key), "a boolean", b)),
    };
    Ok(ExecuteMultipleSettings {
        continue_on_error: flag("continueonerror")?,
        return_responses: flag("returnresponses")?,
    })
}

/// The name under which suites see a result of a batch, bulk or upsert response (their results' names in
/// lower case, as the other built-in messages' outputs).
pub(super) fn result_key(message: &str, name: &str) -> Option<&'static str> {
    Some(match (message, name) {
        (messages::EXECUTE_MULTIPLE | messages::EXECUTE_TRANSACTION, messages::RESPONSES) => "responses",
        (messages::EXECUTE_MULTIPLE, messages::IS_FAULTED) => "isfaulted",
        (messages::CREATE_MULTIPLE, messages::IDS) => "ids",
        (messages::UPSERT, messages::RECORD_CREATED) => "recordcreated",
        (messages::UPSERT, messages::TARGET) => "target",
        (messages::UPSERT_MULTIPLE, messages::RESULTS) => "results",
        _ => return None,
    })
}

/// A request as reports show it: its message and parameters.
pub(super) fn request_to_json(r: &Request) -> Json {
    let parameters: Map<String, Json> = r.parameters.iter().map(|(k, v)| (k.clone(), parameter_to_json(v))).collect();
    json!({ "message": r.message, "parameters": parameters })
}

/// `{"requestindex": 2, "response": {…}}` or `{"requestindex": 2, "fault": {"code": …, "message": …}}`.
pub(super) fn response_item_to_json(item: &ExecuteMultipleResponseItem) -> Json {
    let mut obj = Map::new();
    obj.insert("requestindex".into(), json!(item.request_index));
    if let Some(response) = &item.response {
        obj.insert("response".into(), response_to_json(response));
    }
    if let Some(fault) = &item.fault {
        obj.insert("fault".into(), json!({ "code": fault.code_hex(), "message": fault.message }));
    }
    Json::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Uuid;

    fn resolve(alias: &str) -> Option<Uuid> {
        (alias == "acme").then(|| Uuid::from_u128(9))
    }

    #[test]
    fn reads_a_batch_with_its_requests_and_settings() {
        let reader = Reader::new(&resolve);
        let r = reader
            .request(
                &json!({"message": "ExecuteMultiple", "settings": {"continueonerror": true},
                        "requests": [{"message": "Delete", "target": {"@ref": "account", "id": "@acme"}},
                                     {"message": "ExecuteTransaction", "requests": [], "returnresponses": true}]}),
                &Path::Root("r"),
            )
            .unwrap();
        let Some(ParameterValue::Requests(inner)) = r.parameter(messages::REQUESTS) else { panic!("no requests") };
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[0].target_reference().map(|t| t.id), Some(Uuid::from_u128(9)));
        assert_eq!(inner[1].parameter(messages::RETURN_RESPONSES), Some(&ParameterValue::Value(Value::Boolean(true))));
        let settings = ExecuteMultipleSettings { continue_on_error: true, return_responses: false };
        assert_eq!(r.parameter(messages::SETTINGS), Some(&ParameterValue::ExecuteMultipleSettings(settings)));
    }

    #[test]
    fn batch_keys_belong_to_their_messages() {
        let reader = Reader::default();
        let root = Path::Root("r");
        let err = reader.request(&json!({"message": "ExecuteMultiple"}), &root).unwrap_err();
        assert_eq!(err.message, "the ExecuteMultiple request needs `requests`");
        let err = reader
            .request(&json!({"message": "ExecuteTransaction", "requests": [], "settings": {}}), &root)
            .unwrap_err();
        assert_eq!(err.path, "r.settings");
        let err = reader
            .request(&json!({"message": "Create", "target": {"@logicalname": "account"}, "targets": []}), &root)
            .unwrap_err();
        assert!(err.message.contains("belongs to CreateMultiple"), "{err}");
        let err = reader
            .request(&json!({"message": "ExecuteMultiple", "requests": [{"message": "Create"}]}), &root)
            .unwrap_err();
        assert_eq!(err.path, "r.requests[0]");
    }

    #[test]
    fn reads_bulk_targets_and_keys() {
        let reader = Reader::new(&resolve);
        let r = reader
            .request(
                &json!({"message": "UpsertMultiple", "targets": [
                    {"@logicalname": "account", "@keys": {"accountnumber": "A-1"}, "name": "A"},
                    {"@logicalname": "account", "@id": "@acme"}]}),
                &Path::Root("r"),
            )
            .unwrap();
        let Some(ParameterValue::EntityCollection(c)) = r.parameter(messages::TARGETS) else { panic!("no targets") };
        assert_eq!(c.entity_name, "account");
        assert_eq!(c.entities[0].key_attributes.get("accountnumber"), Some(&Value::Text("A-1".into())));
        let reference =
            reader.reference(&json!({"@ref": "account", "keys": {"accountnumber": "A-1"}}), &Path::Root("k")).unwrap();
        assert!(reference.id.is_nil());
        assert_eq!(super::super::reference_to_json(&reference)["keys"], json!({"accountnumber": "A-1"}));
        let err = reader.reference(&json!({"@ref": "account"}), &Path::Root("k")).unwrap_err();
        assert!(err.message.contains("missing `id`"), "{err}");
    }
}
