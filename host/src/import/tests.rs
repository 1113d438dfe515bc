//! The import's rules, step by step, on small exports written inline.

use std::path::Path;

use super::*;

fn mapping() -> Mapping {
    let text = r#"{
        "plugins": { "Contoso.Plugins.FollowUp": { "plugin": "followup", "component": { "crate": "plugins/followup" } } },
        "users": { "5f3b2a10-8c4d-4e1f-9a7b-2d6e8f0c1a34": "@svc", "Integration Service": "@svc" },
        "messages": { "e3a91f4b-2c7d-4e8a-9f15-8b6c0d2e4a88": "new_Recalculate" } }"#;
    Mapping::parse(Path::new("mapping.json"), text).unwrap()
}

/// A mapped synchronous PostOperation step on Create of account.
fn step() -> ExportedStep {
    ExportedStep {
        at: "value[0]".into(),
        id: Uuid::parse_str("3a9f1c52-7e4b-4d2a-8f61-0b5c9e2d7a11").ok(),
        name: Some("Follow-up".into()),
        plugin_type: Some("Contoso.Plugins.FollowUp".into()),
        message: MessageRef::Name("Create".into()),
        primary_entity: Some("account".into()),
        stage: 40,
        rank: 1,
        ..ExportedStep::default()
    }
}

fn reasons(step: ExportedStep) -> Vec<String> {
    let imported = map_steps(&[step], &mapping());
    assert!(imported.file.steps.is_empty(), "the step was written");
    imported.left_out.into_iter().flat_map(|l| l.reasons).collect()
}

fn written(step: ExportedStep) -> StepOut {
    let imported = map_steps(&[step], &mapping());
    assert!(imported.left_out.is_empty(), "{:?}", imported.left_out);
    imported.file.steps.into_iter().next().unwrap()
}

#[test]
fn a_mapped_step_keeps_its_id_and_columns_and_names_its_plugin() {
    let imported = map_steps(&[step()], &mapping());
    let out = &imported.file.steps[0];
    assert_eq!(out.sdkmessageprocessingstepid, step().id);
    assert_eq!((out.plugin.as_str(), out.message.as_str(), out.stage), ("followup", "Create", 40));
    // PIPE-18: the step runs the type it ran in the environment, of the stand-in's types.
    assert_eq!(out.plugin_type.as_deref(), Some("Contoso.Plugins.FollowUp"));
    let json = serde_json::to_value(out).unwrap();
    assert_eq!(json["type"], "Contoso.Plugins.FollowUp", "{json}");
    assert_eq!(imported.file.plugins["followup"], serde_json::json!({ "crate": "plugins/followup" }));
}

#[test]
fn unmapped_types_users_and_message_ids_are_listed_with_every_reason() {
    let mut s = step();
    s.plugin_type = Some("Fabrikam.Erp.Export".into());
    s.impersonating_user = Some(UserRef { fullname: Some("Pat Morgan".into()), ..UserRef::default() });
    s.message = MessageRef::Id(Uuid::parse_str("00000000-0000-4000-8000-000000000001").unwrap());
    let r = reasons(s);
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r[0].contains("unmapped plug-in type `Fabrikam.Erp.Export`"), "{r:?}");
    assert!(r[1].contains("unknown message id 00000000-0000-4000-8000-000000000001"), "{r:?}");
    assert!(r[2].contains("unmapped impersonating user `Pat Morgan`"), "{r:?}");
}

#[test]
fn message_ids_come_from_the_mapping_then_the_built_in_messages() {
    let mut s = step();
    s.message = MessageRef::Id(Uuid::parse_str("20BEBB1B-EA3E-DB11-86A7-000A3A5473E8").unwrap());
    assert_eq!(written(s.clone()).message, "Update");
    s.message = MessageRef::Id(Uuid::parse_str("e3a91f4b-2c7d-4e8a-9f15-8b6c0d2e4a88").unwrap());
    assert_eq!(written(s).message, "new_Recalculate");
}

#[test]
fn impersonation_maps_to_the_alias() {
    let mut s = step();
    s.impersonating_user = Some(UserRef { fullname: Some("integration service".into()), ..UserRef::default() });
    assert_eq!(written(s).impersonatinguserid.as_deref(), Some("@svc"));
}

#[test]
fn stages_and_modes_the_loader_refuses_are_listed() {
    let with = |stage: i32, mode: i32| ExportedStep { stage, mode, ..step() };
    assert!(reasons(with(30, 0))[0].contains("stage 30 (MainOperation)"));
    assert!(reasons(with(45, 0))[0].contains("stage 45 is internal"));
    assert!(reasons(with(20, 1))[0].contains("only stage 40 may be asynchronous"));
    assert!(reasons(with(40, 2))[0].contains("mode 2 is not"));
    assert_eq!(written(with(40, 1)).mode, 1);
    let outlook = ExportedStep { supported_deployment: 1, ..step() };
    assert!(reasons(outlook)[0].contains("Outlook client only"));
}

#[test]
fn images_follow_the_sandboxs_rules() {
    let image = |image_type: i32| ExportedImage {
        name: Some("Image".into()),
        entity_alias: Some("img".into()),
        image_type,
        attributes: Some(" ".into()),
    };
    // Create has post-images only.
    let post = written(ExportedStep { images: vec![image(1)], ..step() });
    assert_eq!(post.images, vec![ImageOut { entityalias: "img".into(), imagetype: 1, attributes: None }]);
    assert!(reasons(ExportedStep { images: vec![image(0)], ..step() })[0].contains("pre-images only on Update"));
    let pre_op =
        ExportedStep { stage: 20, message: MessageRef::Name("Update".into()), images: vec![image(2)], ..step() };
    assert!(reasons(pre_op)[0].contains("post-image is available only at stage 40"));
    assert!(reasons(ExportedStep { images: vec![image(5)], ..step() })[0].contains("imagetype 5"));
}

#[test]
fn empty_column_lists_mean_every_column_and_are_left_out() {
    let s = ExportedStep { filtering_attributes: Some("".into()), ..step() };
    assert_eq!(written(s).filteringattributes, None);
    let s = ExportedStep { filtering_attributes: Some("name,revenue".into()), ..step() };
    assert_eq!(written(s).filteringattributes.as_deref(), Some("name,revenue"));
}

#[test]
fn service_endpoint_steps_are_not_plugins() {
    assert!(reasons(ExportedStep { plugin_type: None, ..step() })[0].contains("service endpoint or webhook"));
}

#[test]
fn type_names_lose_their_assembly() {
    assert_eq!(
        type_name("Contoso.Plugins.FollowUp, Contoso.Plugins, Version=1.0.0.0, Culture=neutral"),
        "Contoso.Plugins.FollowUp"
    );
    assert_eq!(type_name(" Contoso.Plugins.FollowUp "), "Contoso.Plugins.FollowUp");
}

#[test]
fn the_format_is_told_by_content_then_extension() {
    let f = |name: &str, text: &str| detect(Path::new(name), text);
    assert_eq!(f("export.txt", "\u{feff}  {\"value\": []}").unwrap(), Format::WebApi);
    assert_eq!(f("export.json", "<?xml version=\"1.0\"?><ImportExportXml/>").unwrap(), Format::Solution);
    assert_eq!(f("customizations.xml", "").unwrap(), Format::Solution);
    assert!(f("export.txt", "steps").is_err());
}

const WEBAPI_STEP: &str = r#"{ "value": [ {
    "sdkmessageprocessingstepid": "3a9f1c52-7e4b-4d2a-8f61-0b5c9e2d7a11", "name": "Follow-up",
    "stage": 40, "mode": 1, "rank": 2, "filteringattributes": null, "configuration": "Call", "statecode": 1,
    "asyncautodelete": true, "sdkmessageid": { "name": "Create" },
    "sdkmessagefilterid": { "primaryobjecttypecode": "account" },
    "plugintypeid": { "typename": "Contoso.Plugins.FollowUp" },
    "_impersonatinguserid_value": "5f3b2a10-8c4d-4e1f-9a7b-2d6e8f0c1a34",
    "sdkmessageprocessingstepid_sdkmessageprocessingstepimage": [] } ] }"#;

#[test]
fn the_web_api_export_reads_columns_and_lookups() {
    let imported = import(Path::new("steps.json"), WEBAPI_STEP, &mapping()).unwrap();
    let out = &imported.file.steps[0];
    assert_eq!((out.mode, out.rank, out.statecode, out.asyncautodelete), (1, 2, 1, true));
    assert_eq!(out.configuration, Some(serde_json::json!("Call")));
    // Only the lookup's id: matched by id.
    assert_eq!(out.impersonatinguserid.as_deref(), Some("@svc"));
}

#[test]
fn a_web_api_export_without_a_column_or_an_expand_is_refused_with_the_fix() {
    let refused = |text: String| import(Path::new("steps.json"), &text, &mapping()).unwrap_err();
    let e = refused(WEBAPI_STEP.replace(r#""statecode": 1,"#, ""));
    assert_eq!(e.path, "value[0].statecode");
    assert!(e.message.contains("select this column"), "{e}");
    let e = refused(WEBAPI_STEP.replace(r#""plugintypeid": { "typename": "Contoso.Plugins.FollowUp" },"#, ""));
    assert_eq!(e.path, "value[0].plugintypeid");
    assert!(e.message.contains("$expand=plugintypeid"), "{e}");
    let e = refused(WEBAPI_STEP.replace(r#""stage": 40"#, r#""stage": "40""#));
    assert_eq!(e.path, "value[0].stage");
    let e = refused(WEBAPI_STEP.replace(r#"{ "value""#, r#"{ "@odata.nextLink": "https://x", "value""#));
    assert!(e.message.contains("one page"), "{e}");
}

const SOLUTION: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<ImportExportXml xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Entities><Entity><Name>account</Name></Entity></Entities>
  <SdkMessageProcessingSteps>
    <SdkMessageProcessingStep Name="Audit &amp; trace" SdkMessageProcessingStepId="{3A9F1C52-7E4B-4D2A-8F61-0B5C9E2D7A11}">
      <PluginTypeName>Contoso.Plugins.FollowUp, Contoso.Plugins, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null</PluginTypeName>
      <PrimaryEntity>account</PrimaryEntity>
      <AsyncAutoDelete>0</AsyncAutoDelete>
      <Configuration>{"prefix": "a &lt; b"}</Configuration>
      <FilteringAttributes>name</FilteringAttributes>
      <ImpersonatingUserIdName>Integration Service</ImpersonatingUserIdName>
      <Mode>0</Mode>
      <Rank>3</Rank>
      <SdkMessageId>20bebb1b-ea3e-db11-86a7-000a3a5473e8</SdkMessageId>
      <Stage>20</Stage>
      <SdkMessageProcessingStepImages>
        <SdkMessageProcessingStepImage Name="Pre">
          <Attributes>name</Attributes>
          <EntityAlias>pre</EntityAlias>
          <ImageType>0</ImageType>
        </SdkMessageProcessingStepImage>
      </SdkMessageProcessingStepImages>
    </SdkMessageProcessingStep>
  </SdkMessageProcessingSteps>
</ImportExportXml>
"#;

#[test]
fn the_solution_export_reads_steps_and_images() {
    let imported = import(Path::new("customizations.xml"), SOLUTION, &mapping()).unwrap();
    assert!(imported.left_out.is_empty(), "{:?}", imported.left_out);
    let out = &imported.file.steps[0];
    assert_eq!(out.name.as_deref(), Some("Audit & trace"));
    assert_eq!(out.sdkmessageprocessingstepid, step().id);
    assert_eq!((out.message.as_str(), out.stage, out.rank), ("Update", 20, 3));
    assert_eq!(out.configuration, Some(serde_json::json!(r#"{"prefix": "a < b"}"#)));
    assert_eq!(out.impersonatinguserid.as_deref(), Some("@svc"));
    assert_eq!(out.images, vec![ImageOut { entityalias: "pre".into(), imagetype: 0, attributes: Some("name".into()) }]);
}

#[test]
fn a_broken_solution_is_refused_with_its_line() {
    let refused = |text: String| import(Path::new("customizations.xml"), &text, &mapping()).unwrap_err();
    let e = refused(SOLUTION.replace("<Rank>3</Rank>", "<Rank>three</Rank>"));
    assert_eq!(e.path, "line 13: <Rank>");
    let e = refused(SOLUTION.replace("</Stage>", "</Stag>"));
    assert!(e.path.starts_with("line 15"), "{e}");
    assert!(e.message.contains("not well-formed"), "{e}");
    let cut = &SOLUTION[..SOLUTION.find("<SdkMessageProcessingStepImages>").unwrap()];
    let e = refused(cut.to_owned());
    assert!(e.to_string().contains("never closed") || e.to_string().contains("not well-formed"), "{e}");
    let e = refused(SOLUTION.replace("ImportExportXml", "Solution"));
    assert!(e.message.contains("root element is <Solution>"), "{e}");
}

#[test]
fn the_default_stand_in_takes_every_unmapped_type_and_replaces_the_configuration() {
    let text = r#"{ "plugins": {
        "*": { "plugin": "probe", "component": "probe.wasm", "configuration": { "ops": [] } },
        "Contoso.Plugins.FollowUp": { "plugin": "followup", "component": "followup.wasm" } } }"#;
    let mapping = Mapping::parse(Path::new("mapping.json"), text).unwrap();
    let other =
        ExportedStep { plugin_type: Some("Fabrikam.Erp.Export".into()), configuration: Some("real".into()), ..step() };
    let named = ExportedStep { configuration: Some("kept".into()), ..step() };
    let imported = map_steps(&[other, named], &mapping);
    assert!(imported.left_out.is_empty(), "{:?}", imported.left_out);
    let (stood_in, own) = (&imported.file.steps[0], &imported.file.steps[1]);
    assert_eq!(stood_in.plugin, "probe");
    assert_eq!(stood_in.configuration, Some(serde_json::json!({ "ops": [] })));
    assert_eq!(stood_in.originalconfiguration.as_deref(), Some("real"));
    assert_eq!(own.plugin, "followup");
    assert_eq!(own.configuration, Some(serde_json::json!("kept")), "no stand-in configuration: the real one");
    assert_eq!(own.originalconfiguration, None);
}

#[test]
fn a_custom_apis_own_plugin_keeps_its_stage_30() {
    let main = ExportedStep { stage: 30, message: MessageRef::Name("new_Recalculate".into()), ..step() };
    let apis = HashSet::from(["new_Recalculate".to_owned()]);
    let imported = map_steps_with(std::slice::from_ref(&main), &mapping(), &apis);
    assert_eq!(imported.file.steps[0].stage, 30);
    assert!(reasons(main)[0].contains("stage 30"), "without the custom API, stage 30 is left out");
}

#[test]
fn a_step_in_two_exports_is_kept_once_with_the_secure_configuration_either_carries() {
    use super::package::Package;
    let id = Uuid::parse_str("6c1e3b2a-0000-4000-8000-000000000003").unwrap();
    let step = |secure: Option<&str>, rank: i32| ExportedStep {
        id: Some(id),
        secure_configuration: secure.map(str::to_owned),
        rank,
        ..ExportedStep::default()
    };
    let mut solution = Package { steps: vec![step(None, 1)], ..Package::default() };
    solution.merge(Package { steps: vec![step(Some("api-key=secret"), 2)], ..Package::default() });
    assert_eq!(solution.steps.len(), 1);
    assert_eq!(
        (solution.steps[0].rank, solution.steps[0].secure_configuration.as_deref()),
        (1, Some("api-key=secret"))
    );
}
