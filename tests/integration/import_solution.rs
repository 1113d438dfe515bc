//! `xrm-sandbox import` on a whole solution folder as SolutionPackager and `pac solution unpack` write it,
//! of the size of a large real one (hundreds of steps, dozens of custom tables and custom APIs), generated
//! here: one import command, then one test command on what it wrote, runs every step the sandbox can run
//! and names every step it cannot.

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value as Json;

fn xrm_sandbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xrm-sandbox")).args(args).output().expect("the binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-import-solution-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn read_json(path: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A GUID made from a kind and a number, so the fixture is the same on every run.
fn id(kind: u32, n: u32) -> String {
    format!("{kind:08x}-{:04x}-4000-8000-{n:012x}", n % 0xffff)
}

const CREATE: &str = "9ebdbb1b-ea3e-db11-86a7-000a3a5473e8";
/// RetrieveSharedPrincipalsAndAccess, by its sdkmessageid: a built-in message the sandbox does not run.
const SHARED_PRINCIPALS: &str = "10bebb1b-ea3e-db11-86a7-000a3a5473e8";
const MERGE: &str = "dbbdbb1b-ea3e-db11-86a7-000a3a5473e8";

/// The shape of the generated solution.
struct Shape {
    tables: u32,
    apis: u32,
    types: u32,
}

const LARGE: Shape = Shape { tables: 32, apis: 20, types: 40 };

fn entity_xml(n: u32) -> String {
    let schema = format!("con_Item{n}");
    let logical = schema.to_lowercase();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Entity xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <Name LocalizedName="Item {n}" OriginalName="Item {n}">{schema}</Name>
  <EntityInfo>
    <entity Name="{schema}">
      <LocalizedNames><LocalizedName description="Item {n}" languagecode="1033" /></LocalizedNames>
      <LocalizedCollectionNames><LocalizedCollectionName description="Items {n}" languagecode="1033" /></LocalizedCollectionNames>
      <attributes>
        <attribute PhysicalName="{schema}Id"><Type>primarykey</Type><Name>{logical}id</Name><LogicalName>{logical}id</LogicalName><RequiredLevel>systemrequired</RequiredLevel></attribute>
        <attribute PhysicalName="con_Name"><Type>nvarchar</Type><Name>con_name</Name><LogicalName>con_name</LogicalName><RequiredLevel>required</RequiredLevel><DisplayMask>PrimaryName|ValidForAdvancedFind|ValidForForm|ValidForGrid|RequiredForForm</DisplayMask><displaynames><displayname description="Name" languagecode="1033" /></displaynames></attribute>
        <attribute PhysicalName="con_Number"><Type>nvarchar</Type><Name>con_number</Name><LogicalName>con_number</LogicalName><RequiredLevel>none</RequiredLevel></attribute>
        <attribute PhysicalName="con_Amount"><Type>money</Type><Name>con_amount</Name><LogicalName>con_amount</LogicalName><RequiredLevel>recommended</RequiredLevel></attribute>
        <attribute PhysicalName="con_Kind"><Type>picklist</Type><Name>con_kind</Name><LogicalName>con_kind</LogicalName>
          <optionset Name="{logical}_con_kind"><OptionSetType>picklist</OptionSetType>
            <options><option value="100000000"><labels><label description="Standard" languagecode="1033" /></labels></option>
                     <option value="100000001"><labels><label description="Express" languagecode="1033" /></labels></option></options>
          </optionset></attribute>
        <attribute PhysicalName="con_AccountId"><Type>lookup</Type><Name>con_accountid</Name><LogicalName>con_accountid</LogicalName><LookupTypes /></attribute>
        <attribute PhysicalName="con_Photo"><Type>image</Type><Name>con_photo</Name><LogicalName>con_photo</LogicalName></attribute>
        <attribute PhysicalName="statecode"><Type>state</Type><Name>statecode</Name><LogicalName>statecode</LogicalName>
          <optionset Name="{logical}_statecode"><OptionSetType>state</OptionSetType><states>
            <state value="0" defaultstatus="1" invariantname="Active"><labels><label description="Active" languagecode="1033" /></labels></state>
            <state value="1" defaultstatus="2" invariantname="Inactive"><labels><label description="Inactive" languagecode="1033" /></labels></state>
          </states></optionset></attribute>
        <attribute PhysicalName="statuscode"><Type>status</Type><Name>statuscode</Name><LogicalName>statuscode</LogicalName>
          <optionset Name="{logical}_statuscode"><OptionSetType>status</OptionSetType><statuses>
            <status value="1" state="0"><labels><label description="Active" languagecode="1033" /></labels></status>
            <status value="2" state="1"><labels><label description="Closed" languagecode="1033" /></labels></status>
          </statuses></optionset></attribute>
      </attributes>
      <EntitySetName>{logical}s</EntitySetName>
      <OwnershipTypeMask>UserOwned</OwnershipTypeMask>
      <EntityKeys><EntityKey><Name>con_NumberKey</Name><LogicalName>con_numberkey</LogicalName>
        <EntityKeyAttributes><AttributeName>con_number</AttributeName></EntityKeyAttributes></EntityKey></EntityKeys>
    </entity>
  </EntityInfo>
  <FormXml><forms type="main"><systemform><form><tabs><tab><columns><column><sections><section /></sections></column></columns></tab></tabs></form></systemform></forms></FormXml>
</Entity>
"#
    )
}

fn relationships_xml(tables: u32) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<EntityRelationships>\n");
    for n in 0..tables {
        let _ = writeln!(
            out,
            "  <EntityRelationship Name=\"con_item{n}_account\"><EntityRelationshipType>OneToMany</EntityRelationshipType>\
             <ReferencingEntityName>con_Item{n}</ReferencingEntityName><ReferencedEntityName>Account</ReferencedEntityName>\
             <ReferencingAttributeName>con_AccountId</ReferencingAttributeName></EntityRelationship>"
        );
    }
    out + "</EntityRelationships>\n"
}

fn type_name(t: u32) -> String {
    format!("Contoso.Plugins.Handler{t}")
}

fn assembly_xml(types: u32) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<PluginAssembly FullName=\"Contoso.Plugins, Version=1.0.0.0\" \
         PluginAssemblyId=\"0a0b0c0d-0000-4000-8000-000000000001\">\n  <IsolationMode>2</IsolationMode>\n  <PluginTypes>\n",
    );
    for t in 0..types {
        let _ = writeln!(
            out,
            "    <PluginType AssemblyQualifiedName=\"{}, Contoso.Plugins, Version=1.0.0.0, Culture=neutral\" \
             PluginTypeId=\"{}\" Name=\"{}\"><FriendlyName>{t}</FriendlyName></PluginType>",
            type_name(t),
            id(0x7e, t),
            type_name(t)
        );
    }
    out + "  </PluginTypes>\n</PluginAssembly>\n"
}

fn custom_api(dir: &Path, n: u32, types: u32) {
    let name = format!("con_Action{n}");
    let bound = n.is_multiple_of(2);
    let (binding, table) = if bound {
        ("1", format!("<boundentitylogicalname>con_item{n}</boundentitylogicalname>"))
    } else {
        ("0", "<boundentitylogicalname />".to_owned())
    };
    let api = dir.join("customapis").join(&name);
    write(
        &api.join("customapi.xml"),
        &format!(
            "<customapi uniquename=\"{name}\">\n  <allowedcustomprocessingsteptype>2</allowedcustomprocessingsteptype>\n  \
             <bindingtype>{binding}</bindingtype>\n  {table}\n  <isfunction>0</isfunction>\n  <name>{name}</name>\n  \
             <plugintypeid><plugintypeid>{}</plugintypeid></plugintypeid>\n</customapi>\n",
            id(0x7e, n % types)
        ),
    );
    write(
        &api.join("customapirequestparameters/Amount/customapirequestparameter.xml"),
        "<customapirequestparameter uniquename=\"Amount\"><isoptional>0</isoptional><name>x.Amount</name><type>8</type></customapirequestparameter>",
    );
    write(
        &api.join("customapirequestparameters/Note/customapirequestparameter.xml"),
        "<customapirequestparameter uniquename=\"Note\"><isoptional>1</isoptional><name>x.Note</name><type>10</type></customapirequestparameter>",
    );
    write(
        &api.join("customapiresponseproperties/Total/customapiresponseproperty.xml"),
        "<customapiresponseproperty uniquename=\"Total\"><name>x.Total</name><type>8</type></customapiresponseproperty>",
    );
}

/// One step file; `message` is `("name", "Create")` for `<SdkMessageName>` or `("id", guid)`.
struct StepSpec<'a> {
    n: u32,
    message: (&'a str, &'a str),
    table: Option<String>,
    stage: u32,
    mode: u32,
    rank: u32,
    filtering: &'a str,
    run_as: Option<&'a str>,
    image: Option<(&'a str, u32)>,
    disabled: bool,
}

fn step_xml(s: &StepSpec) -> String {
    let t = s.n % LARGE.types;
    let message = match s.message {
        ("name", m) => format!("<SdkMessageName>{m}</SdkMessageName>"),
        (_, guid) => format!("<SdkMessageId>{guid}</SdkMessageId>"),
    };
    let label = match s.message {
        ("name", m) => m.to_owned(),
        _ => "Create".to_owned(),
    };
    let table = s.table.as_deref().map_or(String::new(), |t| format!("<PrimaryEntity>{t}</PrimaryEntity>"));
    let run_as = s.run_as.map_or(String::new(), |u| format!("<ImpersonatingUserIdName>{u}</ImpersonatingUserIdName>"));
    let images = match s.image {
        Some((alias, kind)) => format!(
            "<SdkMessageProcessingStepImages><SdkMessageProcessingStepImage Name=\"{alias}\"><Attributes>con_name</Attributes>\
             <EntityAlias>{alias}</EntityAlias><ImageType>{kind}</ImageType><MessagePropertyName>Target</MessagePropertyName>\
             </SdkMessageProcessingStepImage></SdkMessageProcessingStepImages>"
        ),
        None => "<SdkMessageProcessingStepImages />".to_owned(),
    };
    let state = if s.disabled { "<StateCode>1</StateCode>" } else { "" };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<SdkMessageProcessingStep Name=\"{}: {label} of {} #{}\" \
         SdkMessageProcessingStepId=\"{{{}}}\">\n  {message}\n  <PluginTypeName>{}, Contoso.Plugins, Version=1.0.0.0, \
         Culture=neutral</PluginTypeName>\n  <PluginTypeId>{}</PluginTypeId>\n  {table}\n  <AsyncAutoDelete>0</AsyncAutoDelete>\n  \
         <FilteringAttributes>{}</FilteringAttributes>\n  {run_as}\n  <Mode>{}</Mode>\n  <Rank>{}</Rank>\n  \
         <Stage>{}</Stage>\n  <SupportedDeployment>0</SupportedDeployment>\n  {state}\n  \
         <Configuration>{{\"real\": \"configuration of step {}\"}}</Configuration>\n  {images}\n</SdkMessageProcessingStep>\n",
        type_name(t),
        s.table.as_deref().unwrap_or("any Entity"),
        s.n,
        id(0x57, s.n),
        type_name(t),
        id(0x7e, t),
        s.filtering,
        s.mode,
        s.rank,
        s.stage,
        s.n
    )
}

/// A synchronous PostOperation step of rank 1, enabled, with no filter, image or run-as user.
fn base<'a>(n: u32, table: Option<String>, message: (&'a str, &'a str)) -> StepSpec<'a> {
    StepSpec {
        n,
        message,
        table,
        stage: 40,
        mode: 0,
        rank: 1,
        filtering: "",
        run_as: None,
        image: None,
        disabled: false,
    }
}

const RUN_AS: [&str; 3] = ["Integration Service", "Nightly Batch", "Pat Morgan"];

/// Writes the solution; returns the names of the steps that cannot fire, and how many steps there are.
fn generate(dir: &Path, shape: &Shape) -> (Vec<String>, u32) {
    write(
        &dir.join("Other/Solution.xml"),
        "<ImportExportXml><SolutionManifest><UniqueName>ContosoLarge</UniqueName><Version>1.0.0.0</Version></SolutionManifest></ImportExportXml>",
    );
    write(
        &dir.join("Other/Customizations.xml"),
        "<ImportExportXml><Entities /><Roles /><SdkMessageProcessingSteps /></ImportExportXml>",
    );
    write(&dir.join("Other/Relationships/Account.xml"), &relationships_xml(shape.tables));
    write(
        &dir.join("PluginAssemblies/ContosoPlugins-0A0B0C0D/Contoso.Plugins.dll.data.xml"),
        &assembly_xml(shape.types),
    );
    for n in 0..shape.tables {
        write(&dir.join(format!("Entities/con_Item{n}/Entity.xml")), &entity_xml(n));
    }
    for n in 0..shape.apis {
        custom_api(dir, n, shape.types);
    }
    write(
        &dir.join("Roles/Contoso Salesperson.xml"),
        "<Role id=\"{1b2c3d4e-0000-4000-8000-000000000001}\" name=\"Contoso Salesperson\"><RolePrivileges>\
         <RolePrivilege name=\"prvCreatecon_Item0\" level=\"Basic\" /><RolePrivilege name=\"prvReadcon_item0\" level=\"Local\" />\
         <RolePrivilege name=\"prvReadAccount\" level=\"Global\" /><RolePrivilege name=\"prvReadmsdyn_unknown\" level=\"Global\" />\
         </RolePrivileges></Role>",
    );
    let mut cannot_fire = Vec::new();
    let mut n = 0;
    let add = |spec: StepSpec| {
        write(&dir.join(format!("SdkMessageProcessingSteps/{{{}}}.xml", id(0x57, spec.n))), &step_xml(&spec));
    };
    for t in 0..shape.tables {
        let table = Some(format!("con_item{t}"));
        for (k, message) in [
            ("id", CREATE),
            ("name", "Update"),
            ("name", "Delete"),
            ("name", "SetStateDynamicEntity"),
            ("name", "SetState"),
            ("name", "Assign"),
            ("name", "Create"),
            ("name", "Update"),
        ]
        .into_iter()
        .enumerate()
        {
            let mut s = base(n, table.clone(), message);
            s.stage = [10, 20, 40][k % 3];
            s.rank = (k as u32 % 3) + 1;
            s.run_as = (k % 3 == 1).then_some(RUN_AS[(t as usize + k) % 3]);
            if message.1 == "Update" {
                s.filtering = if k == 1 { "con_name,con_amount" } else { "con_kind" };
                s.image = Some(("pre", 0));
            }
            if k == 6 {
                s.stage = 40;
                s.mode = 1;
            }
            if k == 7 && t.is_multiple_of(5) {
                s.disabled = true;
            }
            add(s);
            n += 1;
        }
    }
    for a in 0..shape.apis {
        let table = (a.is_multiple_of(2)).then(|| format!("con_item{a}"));
        let message = format!("con_Action{a}");
        for stage in [20, 40] {
            let mut s = base(n, table.clone(), ("name", &message));
            s.stage = stage;
            s.run_as = (stage == 40).then_some(RUN_AS[a as usize % 3]);
            add(s);
            n += 1;
        }
    }
    // Messages the sandbox runs that need records of their own (fired), one it runs only on some tables
    // (Merge of a custom table: not fired, and said so), and one it does not run (cannot fire).
    let others: [(&str, &str, &str, bool); 11] = [
        ("id", MERGE, "account", true),
        ("name", "QualifyLead", "lead", true),
        ("name", "AddUserToRecordTeam", "teamtemplate", true),
        ("name", "RemoveUserFromRecordTeam", "teamtemplate", true),
        ("name", "CreateMultiple", "con_item1", true),
        ("name", "UpdateMultiple", "con_item1", true),
        ("name", "Upsert", "contact", true),
        ("name", "WhoAmI", "", true),
        ("name", "Merge", "con_item0", false),
        ("name", "WinOpportunity", "opportunity", false),
        ("id", SHARED_PRINCIPALS, "account", false),
    ];
    for (kind, message, table, fires) in others {
        let table = (!table.is_empty()).then(|| table.to_owned());
        let s = base(n, table.clone(), (kind, message));
        let label = if kind == "id" { "Create" } else { message };
        if !fires {
            cannot_fire.push(format!("{}: {label} of {} #{n}", type_name(n % LARGE.types), table.as_deref().unwrap()));
        }
        add(s);
        n += 1;
    }
    for k in 0..4u32 {
        let mut s = base(n, None, ("name", if k.is_multiple_of(2) { "Create" } else { "Associate" }));
        s.stage = 20 + 20 * (k % 2);
        add(s);
        n += 1;
    }
    (cannot_fire, n)
}

#[test]
fn a_large_solution_folder_imports_in_one_command_and_its_starter_suite_passes() {
    let dir = scratch("large");
    let solution = dir.join("ContosoLarge");
    let (cannot_fire, count) = generate(&solution, &LARGE);
    assert!(count >= 300, "a large solution: {count} steps");
    let project = dir.join("project");
    let out = xrm_sandbox(&["import", &solution.display().to_string(), "--out", &project.display().to_string()]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "steps that cannot fire make exit 1:\n{printed}");
    let warnings: Vec<&str> = printed.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warnings.len(), cannot_fire.len(), "one warning per step that cannot fire:\n{printed}");
    for name in &cannot_fire {
        assert!(warnings.iter().any(|w| w.contains(name.as_str())), "{name}:\n{printed}");
    }
    assert!(printed.contains("cannot fire: the sandbox does not run `WinOpportunity` yet"), "{printed}");
    assert!(
        printed.contains("is not fired by the starter suite: Merge merges accounts, contacts and leads, not con_item0")
    );
    assert!(!printed.contains("left out:"), "{printed}");
    for file in ["org.json", "registrations.json", "suite.json", "identity-map.html", "mapping.json"] {
        assert!(project.join(file).is_file(), "{file} written");
    }
    let registrations = read_json(&project.join("registrations.json"));
    let steps = registrations["steps"].as_array().unwrap();
    assert!(
        steps.len() >= 300 + LARGE.apis as usize,
        "every step, and one main operation per custom API: {}",
        steps.len()
    );
    let first = &steps[0];
    assert_eq!(first["plugin"], "probe", "the default stand-in");
    // PIPE-18: the step names the plug-in type it ran in the environment.
    assert!(first["type"].as_str().is_some_and(|t| t.starts_with("Contoso.Plugins.")), "{first}");
    assert!(first["originalconfiguration"].as_str().unwrap().contains("configuration of step"), "{first}");
    let org = read_json(&project.join("org.json"));
    assert_eq!(org["customapis"].as_array().unwrap().len(), LARGE.apis as usize);
    let tables = org["tables"].as_array().unwrap();
    let item = tables.iter().find(|t| t["logicalname"] == "con_item3").unwrap();
    assert_eq!(item["displayname"], "Item 3");
    assert_eq!(item["columns"]["con_kind"]["options"]["100000001"], "Express");
    assert_eq!(item["columns"]["con_accountid"]["targets"][0], "account");
    assert_eq!(item["keys"][0]["columns"][0], "con_number");
    assert!(item["columns"].get("con_photo").is_none(), "an image column has no counterpart");
    let users = org["users"].as_array().unwrap();
    for name in RUN_AS {
        let user = users.iter().find(|u| u["fullname"] == name).unwrap_or_else(|| panic!("{name} has a placeholder"));
        assert!(user["$comment"].as_str().unwrap().contains("fill in"), "{user}");
    }

    let test = xrm_sandbox(&["test", &project.join("suite.json").display().to_string()]);
    assert_eq!(test.status.code(), Some(0), "the starter suite passes:\n{}", text(&test));

    let map = std::fs::read_to_string(project.join("identity-map.html")).unwrap();
    let pre = map.find("Contoso.Plugins.Handler0: Create of con_item0 #0").unwrap();
    let post = map.find("Contoso.Plugins.Handler6: Create of con_item0 #6").unwrap();
    assert!(map.contains("Integration Service (@runas_integration_service)"), "run-as users are named");
    assert!(pre < post, "PreValidation before the asynchronous PostOperation step");
    let update = printed.find("Update of con_item0\n").unwrap();
    assert!(printed[update..].contains("runs as"), "{printed}");
}

#[test]
fn re_importing_keeps_the_users_edits_to_the_mapping() {
    let dir = scratch("reimport");
    let solution = dir.join("Small");
    generate(&solution, &Shape { tables: 2, apis: 2, types: 3 });
    let project = dir.join("project");
    let run = || xrm_sandbox(&["import", &solution.display().to_string(), "--out", &project.display().to_string()]);
    let first = run();
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let mapping_file = project.join("mapping.json");
    let mut mapping = read_json(&mapping_file);
    assert_eq!(mapping["users"]["Integration Service"], "@runas_integration_service");
    mapping["users"]["Integration Service"] = Json::from("@user");
    mapping["plugins"]["*"]["configuration"] = serde_json::json!({ "ops": [{ "trace": "mine UserId={UserId}" }] });
    std::fs::write(&mapping_file, serde_json::to_string_pretty(&mapping).unwrap()).unwrap();
    assert_eq!(run().status.code(), Some(1));
    assert_eq!(read_json(&mapping_file), mapping, "the edited mapping is kept as it is");
    let steps = read_json(&project.join("registrations.json"))["steps"].as_array().unwrap().clone();
    assert!(steps.iter().any(|s| s["impersonatinguserid"] == "@user"), "the edit applies");
    assert!(steps.iter().all(|s| s["impersonatinguserid"] != "@runas_integration_service"));
    assert_eq!(steps[0]["configuration"]["ops"][0]["trace"], "mine UserId={UserId}");
    let test = xrm_sandbox(&["test", &project.join("suite.json").display().to_string()]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test));
}

/// An unzipped solution export (customizations.xml at its root) and the Web API's JSON of the same steps
/// merge into one project: each step once, its suite green.
#[test]
fn an_unzipped_export_and_the_web_api_json_merge_into_one_project() {
    let dir = scratch("merge");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/import");
    let unzipped = dir.join("unzipped");
    std::fs::create_dir_all(&unzipped).unwrap();
    std::fs::copy(data.join("customizations.xml"), unzipped.join("customizations.xml")).unwrap();
    let project = dir.join("project");
    let paths = [unzipped.display().to_string(), data.join("webapi-steps.json").display().to_string()];
    let out = xrm_sandbox(&["import", &paths[0], &paths[1], "--out", &project.display().to_string()]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "the webhook step is left out:\n{printed}");
    let steps = read_json(&project.join("registrations.json"))["steps"].as_array().unwrap().clone();
    let mut ids: Vec<&str> = steps.iter().filter_map(|s| s["sdkmessageprocessingstepid"].as_str()).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "a step both exports hold is imported once");
    assert!(printed.contains("left out: step \"Order events to Azure Service Bus"), "{printed}");
    let test = xrm_sandbox(&["test", &project.join("suite.json").display().to_string()]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test));
}

/// A solution `.zip` as the platform exports it: `solution.xml`, `customizations.xml` and `customapis/` at
/// its root.
fn solution_zip(path: &Path, entries: &[(&str, &str)]) {
    use std::io::Write as _;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, text) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_solution_zip_imports_with_its_custom_apis_and_a_broken_one_is_refused() {
    let dir = scratch("zip");
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/import");
    let customizations = std::fs::read_to_string(data.join("customizations.xml")).unwrap();
    // The custom API the steps name by id; the zip declares it, the mapping names its id.
    let api = "<customapi uniquename=\"new_Recalculate\"><bindingtype>0</bindingtype><name>new_Recalculate</name></customapi>";
    let amount = "<customapirequestparameter uniquename=\"Amount\"><isoptional>0</isoptional><type>8</type></customapirequestparameter>";
    let zip_file = dir.join("Contoso_1_0_0_0_managed.zip");
    solution_zip(
        &zip_file,
        &[
            ("[Content_Types].xml", "<Types />"),
            (
                "solution.xml",
                "<ImportExportXml><SolutionManifest><UniqueName>Contoso</UniqueName></SolutionManifest></ImportExportXml>",
            ),
            ("customizations.xml", &customizations),
            ("customapis/new_Recalculate/customapi.xml", api),
            ("customapis/new_Recalculate/customapirequestparameters/Amount/customapirequestparameter.xml", amount),
        ],
    );
    let project = dir.join("project");
    write(
        &project.join("mapping.json"),
        &serde_json::json!({ "messages": { "e3a91f4b-2c7d-4e8a-9f15-8b6c0d2e4a88": "new_Recalculate" },
                             "plugins": { "*": { "plugin": "probe", "component": { "crate": "../../../plugins/probe" },
                                                 "configuration": { "ops": [{ "trace": "UserId={UserId}" }] } } } })
        .to_string()
        .replace(
            "../../../plugins/probe",
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/probe").display().to_string(),
        ),
    );
    let out = xrm_sandbox(&["import", &zip_file.display().to_string(), "--out", &project.display().to_string()]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "only the webhook step is left out:\n{printed}");
    assert!(!printed.contains("warning:"), "the custom API's steps can fire:\n{printed}");
    let org = read_json(&project.join("org.json"));
    assert_eq!(org["name"], "Contoso");
    assert_eq!(org["customapis"][0]["request"]["Amount"], "Money");
    let test = xrm_sandbox(&["test", &project.join("suite.json").display().to_string()]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test));

    let broken = dir.join("broken.zip");
    std::fs::write(&broken, "not a zip").unwrap();
    let out = xrm_sandbox(&["import", &broken.display().to_string(), "--out", &dir.join("p2").display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.zip") && err.contains("not a solution zip") && err.lines().count() == 1, "{err}");
    assert!(!dir.join("p2").exists(), "nothing written");
}

#[test]
fn spkl_json_with_comments_imports_the_solution_package_it_names() {
    let dir = scratch("spkl");
    generate(&dir.join("package"), &Shape { tables: 2, apis: 1, types: 3 });
    write(
        &dir.join("spkl.json"),
        r#"{
  /* spkl's own file: comments are allowed */
  "plugins": [ { "profile": "default", "assemblypath": "bin\\Debug" } ], // the assemblies
  "solutions": [ { "solution_uniquename": "Contoso", "packagepath": "package", "packagetype": "unmanaged" } ]
}"#,
    );
    let project = dir.join("project");
    let out =
        xrm_sandbox(&["import", &dir.join("spkl.json").display().to_string(), "--out", &project.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let test = xrm_sandbox(&["test", &project.join("suite.json").display().to_string()]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test));

    write(&dir.join("other/spkl.json"), r#"{ "plugins": [] /* no solutions */ }"#);
    let out = xrm_sandbox(&[
        "import",
        &dir.join("other/spkl.json").display().to_string(),
        "--out",
        &dir.join("p2").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spkl.json") && err.contains("CrmPluginRegistration"), "{err}");
}

const REGISTER: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Register xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://schemas.microsoft.com/crm/2011/tools/pluginregistration">
  <Solutions>
    <Solution Assembly="Contoso.Plugins.dll" Id="6c1e3b2a-0000-4000-8000-000000000001" IsolationMode="Sandbox" SourceType="Database">
      <PluginTypes>
        <Plugin Description="Audits accounts" FriendlyName="Audit" Name="Contoso.Plugins.Audit" Id="6c1e3b2a-0000-4000-8000-000000000002" TypeName="Contoso.Plugins.Audit">
          <Steps>
            <clear />
            <Step CustomConfiguration="{&quot;level&quot;: 2}" Name="Audit: Update of account" Description="Audit" Id="6c1e3b2a-0000-4000-8000-000000000003"
                  MessageName="Update" Mode="Synchronous" PrimaryEntityName="account" Rank="2" SecureConfiguration="api-key=secret"
                  Stage="PreInsideTransaction" SupportedDeployment="ServerOnly" FilteringAttributes="name,revenue"
                  ImpersonatingUserId="5f3b2a10-8c4d-4e1f-9a7b-2d6e8f0c1a34">
              <Images>
                <Image Attributes="name" EntityAlias="before" Id="6c1e3b2a-0000-4000-8000-000000000004" MessagePropertyName="Target" ImageType="PreImage" />
              </Images>
            </Step>
            <Step CustomConfiguration="" Name="Audit: Create of account" Description="Audit" Id="6c1e3b2a-0000-4000-8000-000000000005"
                  MessageName="Create" Mode="Asynchronous" PrimaryEntityName="account" Rank="1" Stage="PostOutsideTransaction"
                  SupportedDeployment="ServerOnly" FilteringAttributes="">
              <Images />
            </Step>
          </Steps>
        </Plugin>
      </PluginTypes>
    </Solution>
  </Solutions>
  <XamlWorkflows />
</Register>
"#;

#[test]
fn a_plugin_registration_tool_register_file_imports_with_its_secure_configuration() {
    let dir = scratch("register");
    write(&dir.join("RegisterFile.crmregister"), REGISTER);
    let project = dir.join("project");
    let out = xrm_sandbox(&[
        "import",
        &dir.join("RegisterFile.crmregister").display().to_string(),
        "--out",
        &project.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let steps = read_json(&project.join("registrations.json"))["steps"].as_array().unwrap().clone();
    let update = steps.iter().find(|s| s["message"] == "Update").unwrap();
    assert_eq!((update["stage"].as_i64(), update["rank"].as_i64()), (Some(20), Some(2)));
    assert_eq!(update["secureconfiguration"], "api-key=secret");
    assert_eq!(update["originalconfiguration"], r#"{"level": 2}"#);
    assert_eq!(update["filteringattributes"], "name,revenue");
    assert_eq!(update["images"][0]["entityalias"], "before");
    let create = steps.iter().find(|s| s["message"] == "Create").unwrap();
    assert_eq!((create["stage"].as_i64(), create["mode"].as_i64()), (Some(40), Some(1)));
    let org = read_json(&project.join("org.json"));
    let runs_as = org["users"].as_array().unwrap().iter().find(|u| u["$comment"].is_string()).unwrap().clone();
    assert_eq!(
        runs_as["systemuserid"], "5f3b2a10-8c4d-4e1f-9a7b-2d6e8f0c1a34",
        "the register file names the user by id"
    );
    assert_eq!(update["impersonatinguserid"], format!("@{}", runs_as["@alias"].as_str().unwrap()));
    let test = xrm_sandbox(&["test", &project.join("suite.json").display().to_string()]);
    assert_eq!(test.status.code(), Some(0), "{}", text(&test));
}

/// One step of a customizations.xml, named as the Plugin Registration Tool names steps.
fn named_step(name: &str, n: u32, message_id: &str, table: Option<&str>, stage: u32) -> String {
    let table = table.map_or(String::new(), |t| format!("<PrimaryEntity>{t}</PrimaryEntity>"));
    format!(
        "<SdkMessageProcessingStep Name=\"{name}\" SdkMessageProcessingStepId=\"{{{}}}\"><PluginTypeName>Contoso.Plugins.Link, \
         Contoso.Plugins</PluginTypeName>{table}<Mode>0</Mode><Rank>1</Rank><SdkMessageId>{message_id}</SdkMessageId>\
         <Stage>{stage}</Stage><SupportedDeployment>0</SupportedDeployment><StateCode>0</StateCode>\
         <SdkMessageProcessingStepImages /></SdkMessageProcessingStep>",
        id(0x5a, n)
    )
}

/// Message ids no documentation lists (Associate, a custom action) are read from the name the Plugin
/// Registration Tool gives each step, and said so; a step whose name does not say stays out, with the fix.
#[test]
fn a_message_id_the_import_does_not_know_is_read_from_the_step_name() {
    let dir = scratch("named");
    let steps = [
        named_step(
            "Contoso.Plugins.Link: Associate of any Entity",
            1,
            "6c4a2b1e-0000-4000-8000-00000000a550",
            None,
            40,
        ),
        named_step(
            "Contoso.Plugins.Link: new_Escalate of account",
            2,
            "6c4a2b1e-0000-4000-8000-00000000e5c1",
            Some("account"),
            20,
        ),
        named_step("Link accounts (renamed)", 3, "6c4a2b1e-0000-4000-8000-00000000a551", Some("account"), 40),
    ];
    write(
        &dir.join("solution/customizations.xml"),
        &format!(
            "<ImportExportXml><SdkMessageProcessingSteps>{}</SdkMessageProcessingSteps></ImportExportXml>",
            steps.concat()
        ),
    );
    let project = dir.join("project");
    let out =
        xrm_sandbox(&["import", &dir.join("solution").display().to_string(), "--out", &project.display().to_string()]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(printed.contains("note: step \"Contoso.Plugins.Link: Associate of any Entity\": message `Associate` taken from the step's name"), "{printed}");
    assert!(printed.contains("warning: step \"Contoso.Plugins.Link: new_Escalate of account\" on account cannot fire: the sandbox does not run `new_Escalate`"), "{printed}");
    assert!(
        printed.contains("left out: step \"Link accounts (renamed)\"")
            && printed.contains("add it to the mapping's `messages`"),
        "{printed}"
    );
    let steps = read_json(&project.join("registrations.json"))["steps"].as_array().unwrap().clone();
    assert_eq!(
        steps.iter().map(|s| s["message"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Associate"],
        "a message the loader refuses stays out"
    );
    assert_eq!(steps[0]["type"], "Contoso.Plugins.Link", "the type, without its assembly (PIPE-18)");
    assert!(
        std::fs::read_to_string(project.join("identity-map.html")).unwrap().contains("new_Escalate"),
        "but it is in the map"
    );
    let test = xrm_sandbox(&["test", &project.join("suite.json").display().to_string()]);
    assert_eq!(test.status.code(), Some(0), "the Associate step fires:\n{}", text(&test));
    assert!(text(&test).contains("Associate of account and lead"), "{}", text(&test));
}

/// A zip whose entry says it unpacks to 4 GiB is refused before anything is unpacked, with one message
/// naming the entry; nothing is written.
#[test]
fn a_solution_zip_with_a_huge_entry_is_refused_with_one_message() {
    let dir = scratch("huge");
    let zip_file = dir.join("Huge.zip");
    solution_zip(&zip_file, &[("customizations.xml", "<ImportExportXml />")]);
    let mut bytes = std::fs::read(&zip_file).unwrap();
    let central = bytes.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bytes[22..26].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    bytes[central + 24..central + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    std::fs::write(&zip_file, bytes).unwrap();
    let out = xrm_sandbox(&["import", &zip_file.display().to_string(), "--out", &dir.join("p").display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Huge.zip!/customizations.xml") && err.contains("too large for a solution file"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!dir.join("p").exists(), "nothing written");
}
