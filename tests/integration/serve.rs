//! `xrm-sandbox serve`: the server started in this process on a free port and driven over real HTTP/1.1 (a
//! plain client over `TcpStream`), as a Web API client drives it: tokens, CRUD, queries, errors, and plug-ins
//! running as the right users, impersonation headers included (IMP-6..9).

// Test code: a broken expectation is a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use xrm_sandbox::webapi::Server;

const ALICE: &str = "a11ce000-0000-4000-8000-000000000001";
const SVC: &str = "5e7c0000-0000-4000-8000-000000000002";
const EVE: &str = "e7e00000-0000-4000-8000-000000000003";
const ALICE_OID: &str = "0b1ec700-0000-4000-8000-0000000000a1";
const SVC_APP: &str = "a9900000-0000-4000-8000-0000000000a2";

fn org() -> Json {
    let all =
        |names: &[&str]| -> Json { Json::Object(names.iter().map(|n| ((*n).to_owned(), json!("Global"))).collect()) };
    json!({
        "name": "serve",
        "businessunits": [ { "@alias": "root", "name": "Contoso" } ],
        "roles": [
            { "@alias": "sales", "name": "Salesperson", "privileges": all(&[
                "prvCreateAccount", "prvReadAccount", "prvWriteAccount", "prvDeleteAccount", "prvAppendAccount",
                "prvAppendToAccount", "prvCreateContact", "prvReadContact", "prvWriteContact", "prvAppendContact",
                "prvAppendToContact", "prvCreateNote", "prvReadNote", "prvReadUser"]) },
            { "@alias": "delegate", "name": "Delegate", "privileges": all(&["prvActOnBehalfOfAnotherUser"]) },
            { "@alias": "reader", "name": "Reader", "privileges": all(&["prvReadAccount"]) }
        ],
        "tables": [ { "logicalname": "account", "objecttypecode": 1,
                      "keys": [ { "name": "account_number", "columns": ["accountnumber"] } ] } ],
        "relationships": [ { "schemaname": "new_account_contact", "entity1": "account", "entity2": "contact" } ],
        "customapis": [
            { "uniquename": "new_Recalculate", "boundentity": null, "request": {}, "response": {} },
            { "uniquename": "new_Quote", "boundentity": null,
              "request": { "Amount": "Money", "Count": { "type": "Integer", "optional": true },
                           "Customer": { "type": "EntityReference", "optional": true } },
              "response": { "Summary": "String", "Total": "Money" } },
            { "uniquename": "new_Escalate", "boundentity": "account", "request": { "Reason": "String" },
              "response": { "Ticket": "String" } }
        ],
        "users": [
            { "@alias": "alice", "systemuserid": ALICE, "fullname": "Alice Adams", "businessunit": "@root",
              "roles": ["@sales"], "azureactivedirectoryobjectid": ALICE_OID },
            { "@alias": "svc", "systemuserid": SVC, "fullname": "Integration service", "businessunit": "@root",
              "roles": ["@sales", "@delegate"], "applicationid": SVC_APP },
            { "@alias": "eve", "systemuserid": EVE, "fullname": "Eve Reader", "businessunit": "@root",
              "roles": ["@reader"] },
            { "@alias": "dan", "fullname": "Dan (left)", "businessunit": "@root", "roles": ["@sales"],
              "isdisabled": true }
        ]
    })
}

/// A PreOperation step that writes who it runs as into the account's description (and refuses an account
/// named "refuse"), and a PostOperation step registered to run as @svc that writes a note as its user.
fn steps() -> Json {
    json!([
        { "name": "who runs", "plugin": "probe", "message": "Create", "primaryentity": "account", "stage": 20,
          "configuration": { "ops": [
            { "when": { "Target.name": "refuse" }, "ops": [ { "throw": "Accounts named refuse are refused" } ] },
            { "when": { "Target.name": "crash" }, "ops": [ { "panic": "the probe crashes on purpose" } ] },
            { "when": { "Target.name": "tagged" }, "ops": [ { "settarget": { "accountnumber": "tag={Shared.tag}" } } ] },
            { "settarget": { "description": "UserId={UserId} InitiatingUserId={InitiatingUserId} Agent={InitiatingUserAgent}" } }
          ] } },
        { "name": "audit note", "plugin": "probe", "message": "Create", "primaryentity": "account", "stage": 40,
          "impersonatinguserid": "@svc",
          "configuration": { "ops": [
            { "create": { "@logicalname": "annotation", "subject": "note on {Target.name} by {UserId} for {InitiatingUserId}" }, "as": "user" }
          ] } },
        { "name": "associated", "plugin": "probe", "message": "Associate", "stage": 40,
          "configuration": { "ops": [
            { "create": { "@logicalname": "annotation", "subject": "{MessageName} {Input.Relationship} {PrimaryEntityId} by {UserId}" }, "as": "user" }
          ] } },
        { "name": "disassociated", "plugin": "probe", "message": "Disassociate", "stage": 40,
          "configuration": { "ops": [
            { "create": { "@logicalname": "annotation", "subject": "{MessageName} {Input.Relationship} {PrimaryEntityId} by {UserId}" }, "as": "user" }
          ] } },
        { "name": "quotes", "plugin": "probe", "message": "new_Quote", "stage": 30,
          "configuration": { "ops": [
            { "setoutput": { "Summary": "Amount={Input.Amount} Count={Input.Count} Customer={Input.Customer} by {UserId}",
                             "Total": { "@money": "99.50" } } }
          ] } },
        { "name": "escalates", "plugin": "probe", "message": "new_Escalate", "primaryentity": "account", "stage": 30,
          "configuration": { "ops": [
            { "when": { "Input.Reason": "refuse" }, "ops": [ { "throw": "Escalation refused" } ] },
            { "setoutput": { "Ticket": "T-{Target.id} {Input.Reason} by {UserId}" } }
          ] } }
    ])
}

fn start() -> Server {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugins = json!({ "probe": { "crate": root.join("plugins/probe").display().to_string() } });
    let pipeline =
        xrm_sandbox::suite::load_pipeline(&root.join("tests/serve.json"), org(), Some(plugins), Some(steps()))
            .unwrap_or_else(|e| panic!("{e}"));
    Server::start(Arc::new(pipeline), "127.0.0.1:0".parse().unwrap()).unwrap()
}

/// An HTTP response as received.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The platform's error shape, with a JSON content type: (code, message).
    fn error(&self) -> (String, String) {
        assert!(self.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{self:?}");
        let json = self.json();
        let code = json["error"]["code"].as_str().unwrap_or_else(|| panic!("no error code: {self:?}")).to_owned();
        (code, json["error"]["message"].as_str().unwrap().to_owned())
    }
}

/// One request over a fresh HTTP/1.1 connection (`Connection: close`): the whole response.
fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || matches!(method, "POST" | "PATCH") {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("Content-Type")) {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end: {text}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers =
        lines.map(|l| l.split_once(':').unwrap()).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Reply { status, headers, body: body.to_owned() }
}

/// A client of the server as one user.
struct Client<'s> {
    server: &'s Server,
    token: String,
    extra: Vec<(&'static str, String)>,
}

impl<'s> Client<'s> {
    fn new(server: &'s Server, token: &str) -> Self {
        Client { server, token: token.to_owned(), extra: Vec::new() }
    }

    fn with(mut self, name: &'static str, value: &str) -> Self {
        self.extra.push((name, value.to_owned()));
        self
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Json>) -> Reply {
        let auth = format!("Bearer {}", self.token);
        let mut all: Vec<(&str, &str)> = vec![("Authorization", &auth), ("Accept", "application/json")];
        all.extend(self.extra.iter().map(|(n, v)| (*n, v.as_str())));
        all.extend_from_slice(headers);
        let body = body.map(Json::to_string);
        send(self.server.addr(), method, &format!("/api/data/v9.2/{path}"), &all, body.as_deref())
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    fn post(&self, path: &str, body: &Json) -> Reply {
        self.request("POST", path, &[], Some(body))
    }

    /// Creates a record and gives its id, from `OData-EntityId`.
    fn create(&self, set: &str, body: &Json) -> String {
        let reply = self.post(set, body);
        assert_eq!(reply.status, 204, "{reply:?}");
        let url = reply.header("OData-EntityId").unwrap_or_else(|| panic!("no OData-EntityId: {reply:?}"));
        let prefix = format!("{}{}(", self.server.base_url(), set.split('?').next().unwrap());
        assert!(url.starts_with(&prefix), "{url} starts with {prefix}");
        url[prefix.len()..url.len() - 1].to_owned()
    }
}

fn alice(server: &Server) -> Client<'_> {
    Client::new(server, "user-alice")
}

fn svc(server: &Server) -> Client<'_> {
    Client::new(server, "user-svc")
}

/// An unsigned JWT with these claims.
fn jwt(claims: &Json) -> String {
    fn b64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
    format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims.to_string().as_bytes()))
}

#[test]
fn serve_whoami_answers_for_the_tokens_user_with_or_without_parentheses() {
    let server = start();
    for path in ["WhoAmI", "WhoAmI()"] {
        let reply = alice(&server).get(path);
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.header("content-type").unwrap().starts_with("application/json"), "{reply:?}");
        let json = reply.json();
        assert_eq!(json["UserId"], ALICE);
        assert!(json["BusinessUnitId"].as_str().is_some_and(|b| b.len() == 36), "{json}");
        assert!(json["OrganizationId"].as_str().is_some_and(|b| b.len() == 36), "{json}");
        assert!(json["@odata.context"].as_str().unwrap().ends_with("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"));
    }
    assert_eq!(svc(&server).get("WhoAmI").json()["UserId"], SVC);
    let tokens: Vec<(&str, &str)> = server.tokens().iter().map(|t| (t.label.as_str(), t.token.as_str())).collect();
    assert_eq!(
        tokens,
        [
            ("@alice (Alice Adams)", "user-alice"),
            ("@dan (Dan (left))", "user-dan"),
            ("@eve (Eve Reader)", "user-eve"),
            ("@svc (Integration service)", "user-svc")
        ]
    );
}

#[test]
fn serve_no_token_or_an_unknown_one_is_401_in_the_platforms_error_shape() {
    let server = start();
    let reply = send(server.addr(), "GET", "/api/data/v9.2/WhoAmI", &[], None);
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(reply.header("WWW-Authenticate"), Some("Bearer"));
    let (code, message) = reply.error();
    assert_eq!(code, "0x80040220");
    assert!(message.contains("Authorization"), "{message}");

    let reply = Client::new(&server, "user-mallory").get("WhoAmI");
    assert_eq!(reply.status, 401, "{reply:?}");
    reply.error();

    let stranger = "5a5a5a5a-0000-4000-8000-000000000000";
    let reply = Client::new(&server, &jwt(&json!({ "oid": stranger }))).get("WhoAmI");
    assert_eq!(reply.status, 401, "{reply:?}");
    assert!(reply.error().1.contains(stranger), "the message names the oid: {reply:?}");
}

#[test]
fn serve_an_unsigned_jwt_names_its_user_by_oid_or_by_appid() {
    let server = start();
    let by_oid = Client::new(&server, &jwt(&json!({ "oid": ALICE_OID, "aud": "https://contoso.crm.dynamics.com" })));
    assert_eq!(by_oid.get("WhoAmI").json()["UserId"], ALICE);
    let by_app = Client::new(&server, &jwt(&json!({ "appid": SVC_APP })));
    assert_eq!(by_app.get("WhoAmI").json()["UserId"], SVC);
    let by_azp = Client::new(&server, &jwt(&json!({ "azp": SVC_APP })));
    assert_eq!(by_azp.get("WhoAmI").json()["UserId"], SVC);
}

#[test]
fn serve_create_retrieve_update_delete_run_the_plugins_as_the_caller_and_their_registered_user() {
    let server = start();
    let alice = alice(&server).with("User-Agent", "contoso-app/1.0");
    let id = alice.create("accounts", &json!({ "name": "Contoso", "revenue": 1250.5, "industrycode": 3 }));

    let reply = alice.get(&format!("accounts({id})?$select=name,description,revenue,industrycode,_ownerid_value"));
    assert_eq!(reply.status, 200, "{reply:?}");
    let record = reply.json();
    assert_eq!(record["name"], "Contoso");
    assert_eq!(record["revenue"], json!(1250.5));
    assert_eq!(record["industrycode"], 3);
    assert_eq!(record["_ownerid_value"], ALICE);
    assert_eq!(record["accountid"], id.as_str());
    assert!(record["@odata.context"].as_str().unwrap().ends_with("$metadata#accounts/$entity"), "{record}");
    // IMP-1: the PreOperation step ran as the caller; IMP-11: with the client's user agent.
    assert_eq!(record["description"], format!("UserId={ALICE} InitiatingUserId={ALICE} Agent=contoso-app/1.0"));
    // IMP-2: the PostOperation step registered to run as @svc wrote its note as @svc, for @alice.
    let notes = alice.get("annotations?$select=subject,_createdby_value").json();
    assert_eq!(notes["value"].as_array().unwrap().len(), 1, "{notes}");
    assert_eq!(notes["value"][0]["subject"], format!("note on Contoso by {SVC} for {ALICE}"));
    assert_eq!(notes["value"][0]["_createdby_value"], SVC);

    let reply = alice.request(
        "PATCH",
        &format!("accounts({id})"),
        &[("If-Match", "*")],
        Some(&json!({ "name": "Contoso Ltd" })),
    );
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(reply.header("OData-EntityId").unwrap(), format!("{}accounts({id})", server.base_url()));
    assert_eq!(alice.get(&format!("accounts({id})?$select=name")).json()["name"], "Contoso Ltd");

    let reply = alice.request("DELETE", &format!("accounts({id})"), &[], None);
    assert_eq!(reply.status, 204, "{reply:?}");
    let reply = alice.get(&format!("accounts({id})"));
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.error().0, "0x80040217");
    let reply = alice.request("PATCH", &format!("accounts({id})"), &[("If-Match", "*")], Some(&json!({ "name": "x" })));
    assert_eq!(reply.status, 404, "If-Match: * needs the record: {reply:?}");
    reply.error();
}

#[test]
fn serve_return_representation_answers_201_with_the_record_and_lookups_bind_by_url() {
    let server = start();
    let alice = alice(&server);
    let account = alice.create("accounts", &json!({ "name": "Fabrikam" }));
    let body = json!({
        "firstname": "Carl", "lastname": "Cole", "birthdate": "1990-04-01",
        "parentcustomerid_account@odata.bind": format!("/accounts({account})"),
        "ownerid@odata.bind": format!("systemusers({ALICE})"),
        "@odata.type": "Microsoft.Dynamics.CRM.contact"
    });
    let reply = alice.request(
        "POST",
        "contacts?$select=fullname,lastname,birthdate,_parentcustomerid_value",
        &[("Prefer", "return=representation,odata.include-annotations=\"*\"")],
        Some(&body),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(reply.header("Preference-Applied"), Some("return=representation"));
    let record = reply.json();
    let id = record["contactid"].as_str().unwrap();
    assert_eq!(reply.header("OData-EntityId").unwrap(), format!("{}contacts({id})", server.base_url()));
    assert_eq!(record["lastname"], "Cole");
    assert_eq!(record["birthdate"], "1990-04-01T00:00:00Z");
    assert_eq!(record["_parentcustomerid_value"], account.as_str());
    assert_eq!(record["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"], "account");
    assert_eq!(record["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"], "Fabrikam");

    // A lookup bound to a table it cannot point to, or written as its value property, is a 400 naming it.
    let wrong = json!({ "lastname": "x", "parentcustomerid_account@odata.bind": format!("/systemusers({ALICE})") });
    let reply = alice.post("contacts", &wrong);
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("parentcustomerid_account@odata.bind"), "{reply:?}");
    let reply = alice.post("contacts", &json!({ "lastname": "x", "_parentcustomerid_value": account }));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("parentcustomerid@odata.bind"), "{reply:?}");
}

#[test]
fn serve_key_1_key_2_records_are_named_by_alternate_key_in_the_url_and_in_odata_bind() {
    let server = start();
    let alice = alice(&server);
    let id = alice.create("accounts", &json!({ "name": "Keyed", "accountnumber": "A-1" }));
    assert_eq!(alice.get("accounts(accountnumber='A-1')?$select=name").json()["name"], "Keyed");

    // Update by key, changing the key itself: the record is found before it changes.
    let reply = alice.request(
        "PATCH",
        "accounts(accountnumber='A-1')",
        &[("If-Match", "*")],
        Some(&json!({ "name": "Renamed", "accountnumber": "A-2" })),
    );
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(reply.header("OData-EntityId").unwrap(), format!("{}accounts({id})", server.base_url()));
    assert_eq!(alice.get("accounts(accountnumber='A-2')?$select=name").json()["accountid"], id.as_str());
    let gone = alice.get("accounts(accountnumber='A-1')");
    assert_eq!(gone.status, 404, "{gone:?}");
    assert_eq!(gone.error().0, "0x80040217");
    let reply =
        alice.request("PATCH", "accounts(accountnumber='A-1')", &[("If-Match", "*")], Some(&json!({ "name": "x" })));
    assert_eq!(reply.status, 404, "{reply:?}");

    // Upsert by a key no record has: a new record, with the key's values as its columns.
    let reply = alice.request("PATCH", "accounts(accountnumber='NEW-1')", &[], Some(&json!({ "name": "By key" })));
    assert_eq!(reply.status, 204, "{reply:?}");
    let url = reply.header("OData-EntityId").unwrap().to_owned();
    let created = url.rsplit_once('(').unwrap().1.trim_end_matches(')').to_owned();
    assert_eq!(alice.get(&format!("accounts({created})?$select=accountnumber")).json()["accountnumber"], "NEW-1");

    // KEY-2: a lookup bound by key stores the id of the record the key names.
    let contact = alice.create(
        "contacts",
        &json!({ "lastname": "Cole", "parentcustomerid_account@odata.bind": "/accounts(accountnumber='NEW-1')" }),
    );
    let record = alice.get(&format!("contacts({contact})?$select=_parentcustomerid_value")).json();
    assert_eq!(record["_parentcustomerid_value"], created.as_str());

    let reply = alice.request("DELETE", "accounts(accountnumber='A-2')", &[], None);
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(alice.get(&format!("accounts({id})")).status, 404);
}

#[test]
fn serve_patch_upserts_without_if_match_and_if_none_match_refuses_an_existing_record_with_412() {
    let server = start();
    let alice = alice(&server);
    let id = "1d000000-0000-4000-8000-000000000099";
    let reply = alice.request("PATCH", &format!("accounts({id})"), &[], Some(&json!({ "name": "Upserted" })));
    assert_eq!(reply.status, 204, "upsert creates: {reply:?}");
    let record = alice.get(&format!("accounts({id})?$select=name,description")).json();
    assert_eq!(record["name"], "Upserted");
    assert!(record["description"].as_str().unwrap().starts_with("UserId="), "the Create steps ran: {record}");
    let reply = alice.request(
        "PATCH",
        &format!("accounts({id})"),
        &[("If-None-Match", "null")],
        Some(&json!({ "name": "Upserted again" })),
    );
    assert_eq!(reply.status, 204, "upsert updates: {reply:?}");
    assert_eq!(alice.get(&format!("accounts({id})?$select=name")).json()["name"], "Upserted again");

    let reply =
        alice.request("PATCH", &format!("accounts({id})"), &[("If-None-Match", "*")], Some(&json!({ "name": "x" })));
    assert_eq!(reply.status, 412, "{reply:?}");
    reply.error();
    let other = "1d000000-0000-4000-8000-000000000098";
    let reply = alice.request(
        "PATCH",
        &format!("accounts({other})"),
        &[("If-None-Match", "*"), ("Prefer", "return=representation")],
        Some(&json!({ "name": "Created by PATCH" })),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["name"], "Created by PATCH");
}

#[test]
fn serve_a_plugins_exception_is_400_with_its_message_and_the_request_is_rolled_back() {
    let server = start();
    let alice = alice(&server);
    let reply = alice.post("accounts", &json!({ "name": "refuse" }));
    assert_eq!(reply.status, 400, "{reply:?}");
    let (code, message) = reply.error();
    assert_eq!(code, "0x80040265");
    assert!(message.contains("Accounts named refuse are refused"), "{message}");
    let rows = alice.get("accounts?$filter=name eq 'refuse'".replace(' ', "%20").as_str()).json();
    assert_eq!(rows["value"], json!([]), "nothing was written");
    // The session goes on after the failure.
    alice.create("accounts", &json!({ "name": "accepted" }));
}

#[test]
fn serve_a_plugin_that_crashes_is_a_500_with_the_platforms_error_body() {
    let server = start();
    let reply = alice(&server).post("accounts", &json!({ "name": "crash" }));
    assert_eq!(reply.status, 500, "{reply:?}");
    let (code, message) = reply.error();
    assert_eq!(code, "0x80040224", "{message}");
    assert!(message.contains("Unexpected exception from plug-in `probe`"), "{message}");
    assert_eq!(alice(&server).get("accounts/$count").body, "0", "rolled back");
}

#[test]
fn serve_sec_8_a_disabled_user_is_refused_with_403() {
    let server = start();
    let reply = Client::new(&server, "user-dan").get("WhoAmI");
    assert_eq!(reply.status, 403, "{reply:?}");
    assert_eq!(reply.error().0, "0x80040225");
}

#[test]
fn serve_pipe_7_the_tag_query_parameter_is_the_shared_variable_tag() {
    let server = start();
    let alice = alice(&server);
    let id = alice.create("accounts?tag=from%20the%20client", &json!({ "name": "tagged" }));
    let record = alice.get(&format!("accounts({id})?$select=accountnumber")).json();
    assert_eq!(record["accountnumber"], "tag=from the client");
}

#[test]
fn serve_sec_a_missing_privilege_is_403() {
    let server = start();
    let reply = Client::new(&server, "user-eve").post("accounts", &json!({ "name": "not mine to create" }));
    assert_eq!(reply.status, 403, "{reply:?}");
    let (code, message) = reply.error();
    assert_eq!(code, "0x80040220");
    assert!(message.contains("prvCreateAccount"), "{message}");
}

#[test]
fn serve_imp_6_imp_7_imp_8_mscrmcallerid_runs_the_request_as_the_user_named_with_on_behalf_stamps() {
    let server = start();
    let svc = svc(&server).with("MSCRMCallerID", ALICE);
    let id = svc.create("accounts", &json!({ "name": "for alice" }));
    let record = svc
        .get(&format!("accounts({id})?$select=description,_createdby_value,_createdonbehalfby_value,_ownerid_value"))
        .json();
    assert_eq!(record["_createdby_value"], ALICE);
    assert_eq!(record["_ownerid_value"], ALICE);
    assert_eq!(record["_createdonbehalfby_value"], SVC);
    assert_eq!(record["description"], format!("UserId={ALICE} InitiatingUserId={ALICE} Agent="));
    assert_eq!(svc.get("WhoAmI").json()["UserId"], ALICE, "WhoAmI answers for the impersonated user");
}

#[test]
fn serve_imp_6_callerobjectid_names_the_user_by_entra_object_id() {
    let server = start();
    let client = svc(&server).with("CallerObjectId", ALICE_OID);
    let id = client.create("accounts", &json!({ "name": "by object id" }));
    let record = client.get(&format!("accounts({id})?$select=_createdby_value,_createdonbehalfby_value")).json();
    assert_eq!(
        (record["_createdby_value"].as_str(), record["_createdonbehalfby_value"].as_str()),
        (Some(ALICE), Some(SVC))
    );
    let unknown = svc(&server).with("CallerObjectId", "99999999-0000-4000-8000-000000000000").get("WhoAmI");
    assert_eq!(unknown.status, 404, "{unknown:?}");
    assert!(unknown.error().1.contains("azureactivedirectoryobjectid"), "{unknown:?}");
    let malformed = svc(&server).with("CallerObjectId", "alice").get("WhoAmI");
    assert_eq!(malformed.status, 400, "{malformed:?}");
}

#[test]
fn serve_imp_6_impersonating_without_delegate_is_403() {
    let server = start();
    let reply = alice(&server).with("MSCRMCallerID", SVC).post("accounts", &json!({ "name": "x" }));
    assert_eq!(reply.status, 403, "{reply:?}");
    let (code, message) = reply.error();
    assert_eq!(code, "0x80040220");
    assert!(message.contains("prvActOnBehalfOfAnotherUser"), "{message}");
}

#[test]
fn serve_imp_9_a_header_naming_the_caller_is_no_impersonation_and_system_cannot_be_impersonated() {
    let server = start();
    let svc_client = svc(&server).with("MSCRMCallerID", SVC);
    let id = svc_client.create("accounts", &json!({ "name": "self" }));
    let record = svc_client.get(&format!("accounts({id})?$select=_createdby_value,_createdonbehalfby_value")).json();
    assert_eq!(record["_createdby_value"], SVC);
    assert!(record.get("_createdonbehalfby_value").is_none(), "no on-behalf stamp: {record}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let org = xrm_sandbox::suite::load_pipeline(&root.join("tests/serve.json"), org(), None, None).unwrap();
    let system = org.org().system_user.to_string();
    let reply = svc(&server).with("MSCRMCallerID", &system).get("WhoAmI");
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.error().1.contains("SYSTEM"), "{reply:?}");
}

/// The server on a conformance suite's organization, plug-ins and steps (as `serve -r suite.json`).
fn start_suite(file: &str) -> Server {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance").join(file);
    let Json::Object(mut suite) = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap() else {
        panic!("{file} is not a suite")
    };
    let org = suite.remove("org").unwrap();
    let pipeline = xrm_sandbox::suite::load_pipeline(&path, org, suite.remove("plugins"), suite.remove("steps"))
        .unwrap_or_else(|e| panic!("{e}"));
    Server::start(Arc::new(pipeline), "127.0.0.1:0".parse().unwrap()).unwrap()
}

#[test]
fn serve_imp_6_imp_8_the_conformance_impersonation_suite_over_http_delegate_counts_only_when_held_directly() {
    let server = start_suite("impersonation.json");
    let id_of = |alias: &str| {
        let token = format!("user-{alias}");
        server.tokens().iter().find(|t| t.token == token).unwrap().user.to_string()
    };
    let owner = id_of("owner");
    let as_owner = Client::new(&server, "user-owner");

    // IMP-6: Delegate held only through a team never impersonates; nothing is written.
    let reply =
        Client::new(&server, "user-teamdeleg").with("MSCRMCallerID", &owner).post("accounts", &json!({ "name": "x" }));
    assert_eq!(reply.status, 403, "{reply:?}");
    assert!(reply.error().1.contains("prvActOnBehalfOfAnotherUser"), "{reply:?}");
    assert_eq!(as_owner.get("accounts/$count?$filter=name%20eq%20'x'").body, "0");

    // Held directly: the request and the suite's PostOperation step run as @owner, stamped on behalf of
    // @delegsales (IMP-8).
    let delegsales = Client::new(&server, "user-delegsales").with("MSCRMCallerID", &owner);
    let id = delegsales.create("accounts", &json!({ "name": "with a lead" }));
    let account = as_owner.get(&format!("accounts({id})?$select=_createdby_value,_createdonbehalfby_value")).json();
    assert_eq!(account["_createdby_value"], owner.as_str());
    assert_eq!(account["_createdonbehalfby_value"], id_of("delegsales").as_str());
    let leads = as_owner.get("leads?$select=lastname,_createdby_value&$filter=lastname%20eq%20'from%20the%20plug-in'");
    let leads = leads.json();
    assert_eq!(leads["value"].as_array().map(Vec::len), Some(1), "{leads}");
    assert_eq!(leads["value"][0]["_createdby_value"], owner.as_str(), "the step's lead is written as @owner");

    // The organization's application user, named by a JWT's appid.
    let app = Client::new(&server, &jwt(&json!({ "appid": "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a" })));
    assert_eq!(app.get("WhoAmI").json()["UserId"], id_of("app").as_str());
}

#[test]
fn serve_queries_filter_select_orderby_top_count_and_follow_next_links() {
    let server = start();
    let alice = alice(&server);
    for (name, employees) in [("Alpha", 10), ("Bravo", 20), ("Charlie's", 30), ("Delta", 40), ("Echo", 50)] {
        alice.create("accounts", &json!({ "name": name, "numberofemployees": employees }));
    }
    let names = |reply: &Reply| -> Vec<String> {
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json()["value"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
    };
    // Form-encoded as clients send it: `%24`, `+` for spaces, `''` inside a string.
    let reply = alice.get("accounts?%24select=name&%24filter=numberofemployees+ge+20+and+(startswith(name,'B')+or+name+eq+'Charlie''s')&%24orderby=name+desc");
    assert_eq!(names(&reply), ["Charlie's", "Bravo"]);
    assert_eq!(reply.json()["value"][0].get("numberofemployees"), None, "only the selected columns");
    let reply = alice.get("accounts?$select=name&$filter=not%20contains(name,'a')&$orderby=name");
    assert_eq!(names(&reply), ["Echo"]);
    let reply = alice.get("accounts?$select=name&$orderby=numberofemployees%20desc&$top=2&$count=true");
    assert_eq!(names(&reply), ["Echo", "Delta"]);
    assert_eq!(reply.json()["@odata.count"], 5);
    let count = alice.get("accounts/$count");
    assert_eq!((count.status, count.body.as_str()), (200, "5"), "{count:?}");
    let count = alice.get("accounts/$count?$filter=numberofemployees%20lt%2030");
    assert_eq!(count.body, "2");
    // Lookups by their value property, dates, null, and the annotations asked for.
    let reply = alice.request(
        "GET",
        &format!("accounts?$select=name,_ownerid_value&$filter=_ownerid_value%20eq%20{ALICE}%20and%20createdon%20gt%202000-01-01T00:00:00Z%20and%20telephone1%20eq%20null&$top=1&$orderby=name"),
        &[("Prefer", "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"")],
        None,
    );
    assert_eq!(names(&reply), ["Alpha"]);
    let row = &reply.json()["value"][0];
    assert_eq!(row["_ownerid_value"], ALICE);
    assert_eq!(row["_ownerid_value@OData.Community.Display.V1.FormattedValue"], "Alice Adams");
    assert_eq!(row.get("_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"), None, "not asked for");
    let reply = alice.get(&format!("accounts?$select=name&$filter=_ownerid_value%20ne%20{ALICE}"));
    assert_eq!(names(&reply), Vec::<String>::new());
    // The platform's query functions, by their condition operators' names.
    let reply = alice.get(
        "accounts?$select=name&$orderby=name&$filter=Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['Bravo','Echo'])+and+Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)+and+Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')",
    );
    assert_eq!(names(&reply), ["Bravo", "Echo"]);

    // Pages of two, following @odata.nextLink verbatim.
    let mut seen = Vec::new();
    let mut path = "accounts?$select=name&$orderby=name&$count=true".to_owned();
    let mut pages = 0;
    loop {
        let reply = alice.request("GET", &path, &[("Prefer", "odata.maxpagesize=2")], None);
        assert_eq!(reply.header("Preference-Applied"), Some("odata.maxpagesize=2"));
        seen.extend(names(&reply));
        assert_eq!(reply.json()["@odata.count"], 5);
        pages += 1;
        match reply.json()["@odata.nextLink"].as_str() {
            Some(next) => path = next.strip_prefix(&server.base_url()).unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["Alpha", "Bravo", "Charlie's", "Delta", "Echo"]);
}

#[test]
fn serve_errors_name_what_is_unknown_unsupported_or_malformed() {
    let server = start();
    let alice = alice(&server);
    let check = |reply: Reply, status: u16, says: &str| {
        assert_eq!(reply.status, status, "{reply:?}");
        let (_, message) = reply.error();
        assert!(message.contains(says), "expected {says:?} in {message:?}");
    };
    check(alice.get("widgets"), 404, "'widgets'");
    check(alice.get("$batch"), 405, "'$batch'");
    check(alice.get("accounts?$expand=primarycontactid"), 501, "'$expand'");
    check(alice.get("accounts(name='x')"), 400, "not a defined key");
    check(alice.get("accounts(nosuchcolumn='x')"), 400, "nosuchcolumn");
    check(alice.get("accounts(numberofemployees='many')"), 400, "'many'");
    check(alice.post("new_Nothing", &json!({})), 404, "'new_Nothing'");
    check(alice.post("accounts/Microsoft.Dynamics.CRM.new_Nothing", &json!({})), 404, "'new_Nothing'");
    check(alice.post("Merge", &json!({})), 501, "'Merge'");
    check(alice.get(&format!("accounts({ALICE})/name")), 501, "'name'");
    check(alice.get("accounts?$filter=name%20eq%20'x"), 400, "not closed");
    check(alice.get("accounts?$filter=nosuchcolumn%20eq%201"), 400, "nosuchcolumn");
    check(alice.get("accounts?$top=lots"), 400, "$top");
    let bypass = [("MSCRM.BypassCustomPluginExecution", "true")];
    check(
        alice.request("POST", "accounts", &bypass, Some(&json!({ "name": "z" }))),
        501,
        "BypassCustomPluginExecution",
    );
    check(alice.get("accounts(42)"), 400, "'42'");
    check(alice.request("POST", "accounts", &[], None), 400, "no body");
    check(send_raw(&server, "POST", "accounts", "{not json"), 400, "not JSON");
    check(alice.post("accounts", &json!({ "nosuchcolumn": 1 })), 400, "nosuchcolumn");
    let reply = alice.request(
        "POST",
        "accounts?$select=nosuchcolumn",
        &[("Prefer", "return=representation")],
        Some(&json!({ "name": "y" })),
    );
    check(reply, 400, "nosuchcolumn");
    assert_eq!(alice.get("accounts/$count").body, "0", "a $select that cannot be read back creates nothing");
    check(alice.post("accounts", &json!({ "numberofemployees": "many" })), 400, "numberofemployees");
    check(alice.request("PUT", "accounts", &[], None), 405, "PUT");
    check(send(server.addr(), "GET", "/nothing/here", &[], None), 404, "/api/data/v9.2/");
}

/// A request with a body that is not JSON.
fn send_raw(server: &Server, method: &str, path: &str, body: &str) -> Reply {
    let headers = [("Authorization", "Bearer user-alice")];
    send(server.addr(), method, &format!("/api/data/v9.2/{path}"), &headers, Some(body))
}

/// Reads one response with a Content-Length body from a kept-alive connection.
fn read_response(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn serve_a_kept_alive_connection_serves_request_after_request() {
    let server = start();
    let stream = TcpStream::connect(server.addr()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let body = json!({ "name": "over one connection" }).to_string();
    for i in 0..3 {
        let create = format!(
            "POST /api/data/v9.2/accounts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer user-alice\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(create.as_bytes()).unwrap();
        assert_eq!(read_response(&mut reader).0, 204, "request {i}");
    }
    writer
        .write_all(
            b"GET /api/data/v9.2/accounts/$count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer user-alice\r\n\r\n",
        )
        .unwrap();
    assert_eq!(read_response(&mut reader), (200, "3".to_owned()));
}

#[test]
fn serve_writes_persist_across_requests_and_reset_restores_the_organization() {
    let server = start();
    let alice = alice(&server);
    let id = alice.create("accounts", &json!({ "name": "kept" }));
    assert_eq!(alice.get(&format!("accounts({id})?$select=name")).json()["name"], "kept");
    let reply = send(server.addr(), "POST", "/_sandbox/reset", &[], None);
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(alice.get(&format!("accounts({id})")).status, 404);
    assert_eq!(alice.get("accounts/$count").body, "0");
    assert_eq!(send(server.addr(), "GET", "/_sandbox/reset", &[], None).status, 405);
}

#[test]
fn serve_the_command_prints_the_base_url_and_tokens_and_port_0_picks_a_free_port() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("xrm-sandbox-serve-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("org.json"), org().to_string()).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_xrm-sandbox"))
        .args(["serve", "--org", &dir.join("org.json").display().to_string(), "--port", "0"])
        .current_dir(&root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let done = line.contains("/_sandbox/reset");
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    let url = text.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:") && w.ends_with("/api/data/v9.2/"));
    let url = url.unwrap_or_else(|| panic!("no base URL in {text}"));
    assert!(!url.contains(":0/"), "the real port is printed: {text}");
    let alice = text.lines().find(|l| l.trim_start().starts_with("@alice (Alice Adams) "));
    assert!(alice.is_some_and(|l| l.ends_with(" user-alice")), "{text}");
    let addr: SocketAddr = url["http://".len()..url.len() - "/api/data/v9.2/".len()].parse().unwrap();
    let reply = send(addr, "GET", "/api/data/v9.2/WhoAmI()", &[("Authorization", "Bearer user-eve")], None);
    drop(child);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["UserId"], EVE);
}

/// A server process stopped when the test ends, passed or failed.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a `$batch` whose body is written with LF line endings (CRLF when `crlf`), with the boundary `batch_1`.
fn send_batch(client: &Client, headers: &[(&str, &str)], body: &str, crlf: bool) -> Reply {
    let auth = format!("Bearer {}", client.token);
    let mut all: Vec<(&str, &str)> =
        vec![("Authorization", &auth), ("Content-Type", "multipart/mixed; boundary=batch_1")];
    all.extend(client.extra.iter().map(|(n, v)| (*n, v.as_str())));
    all.extend_from_slice(headers);
    let body = if crlf { body.replace('\n', "\r\n") } else { body.to_owned() };
    send(client.server.addr(), "POST", "/api/data/v9.2/$batch", &all, Some(&body))
}

/// The `application/http` parts of a batch answer, in order (changesets' parts included): (status, Content-ID,
/// headers and body text).
fn batch_parts(reply: &Reply) -> Vec<(u16, Option<String>, String)> {
    let content_type = reply.header("Content-Type").unwrap();
    let boundary = content_type.split("boundary=").nth(1).unwrap();
    assert!(boundary.starts_with("batchresponse_"), "{content_type}");
    assert!(!reply.body.replace("\r\n", "").contains('\n'), "CRLF line endings only: {:?}", reply.body);
    assert!(reply.body.ends_with(&format!("--{boundary}--\r\n")), "{:?}", reply.body);
    let mut parts = Vec::new();
    for chunk in reply.body.split("Content-Type: application/http\r\n").skip(1) {
        let content_id =
            chunk.lines().take_while(|l| !l.is_empty()).find_map(|l| l.strip_prefix("Content-ID: ")).map(str::to_owned);
        let status_line = chunk.lines().find(|l| l.starts_with("HTTP/1.1 ")).unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let rest = &chunk[chunk.find(status_line).unwrap() + status_line.len()..];
        parts.push((status, content_id, rest.to_owned()));
    }
    parts
}

/// The JSON object in a part's text.
fn part_json(text: &str) -> Json {
    serde_json::from_str(&text[text.find('{').unwrap()..=text.rfind('}').unwrap()]).unwrap()
}

const CHANGESET: &str = "--batch_1
Content-Type: multipart/mixed; boundary=changeset_a

--changeset_a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST /api/data/v9.2/accounts HTTP/1.1
Content-Type: application/json

{\"name\": \"FIRST\"}
--changeset_a
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 2

POST contacts HTTP/1.1
Content-Type: application/json
Prefer: return=representation

{\"lastname\": \"Lee\", \"parentcustomerid_account@odata.bind\": \"$1\"}
--changeset_a--
--batch_1
Content-Type: application/http
Content-Transfer-Encoding: binary

GET accounts?$select=name,description HTTP/1.1
Accept: application/json

--batch_1--
";

#[test]
fn serve_batch_runs_a_changeset_with_content_id_references_and_a_query_with_lf_or_crlf_bodies() {
    for crlf in [false, true] {
        let server = start();
        let alice = alice(&server).with("User-Agent", "batcher/2");
        let reply = send_batch(&alice, &[], CHANGESET, crlf);
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.body.contains("boundary=changesetresponse_"), "{:?}", reply.body);
        let parts = batch_parts(&reply);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert_eq!((parts[0].0, parts[0].1.as_deref()), (204, Some("1")));
        let account_url = parts[0].2.lines().find_map(|l| l.strip_prefix("OData-EntityId: ")).unwrap();
        let account = &account_url[account_url.find("accounts(").unwrap() + 9..account_url.len() - 1];
        assert_eq!((parts[1].0, parts[1].1.as_deref()), (201, Some("2")));
        // `$1` in @odata.bind named the account the first part created.
        let contact = part_json(&parts[1].2);
        assert_eq!(contact["lastname"], "Lee");
        assert_eq!(contact["_parentcustomerid_value"], account);
        // The GET outside the changeset sees what it wrote; the plug-in ran as the batch's caller with its agent.
        assert_eq!(parts[2].0, 200);
        let rows = part_json(&parts[2].2);
        assert_eq!(rows["value"][0]["name"], "FIRST");
        assert_eq!(rows["value"][0]["description"], format!("UserId={ALICE} InitiatingUserId={ALICE} Agent=batcher/2"));
        // A `$1` URL: the next part of a changeset may address the record created before it.
        let patch = "--batch_1\nContent-Type: multipart/mixed; boundary=cs\n\n--cs\nContent-Type: application/http\n\
                     Content-ID: 7\n\nPOST accounts HTTP/1.1\n\n{\"name\": \"SECOND\"}\n--cs\n\
                     Content-Type: application/http\nContent-ID: 8\n\nPATCH $7 HTTP/1.1\nIf-Match: *\n\n\
                     {\"accountnumber\": \"N-7\"}\n--cs--\n--batch_1--\n";
        let reply = send_batch(&alice, &[], patch, crlf);
        assert_eq!(reply.status, 200, "{reply:?}");
        let rows = alice.get("accounts?$filter=name%20eq%20'SECOND'&$select=accountnumber").json();
        assert_eq!(rows["value"][0]["accountnumber"], "N-7", "{rows}");
    }
}

const FAILING_CHANGESET: &str = "--batch_1
Content-Type: multipart/mixed; boundary=changeset_b

--changeset_b
Content-Type: application/http
Content-ID: 1

POST accounts HTTP/1.1

{\"name\": \"kept?\"}
--changeset_b
Content-Type: application/http
Content-ID: 2

POST accounts HTTP/1.1

{\"name\": \"refuse\"}
--changeset_b--
--batch_1
Content-Type: application/http

POST accounts HTTP/1.1

{\"name\": \"after\"}
--batch_1--
";

#[test]
fn serve_batch_pipe_17_a_plugin_failing_the_second_part_of_a_changeset_rolls_back_all_of_it() {
    let server = start();
    let alice = alice(&server);
    let reply = send_batch(&alice, &[], FAILING_CHANGESET, true);
    // Without odata.continue-on-error the failure ends the batch: 400, the failing part's error alone.
    assert_eq!(reply.status, 400, "{reply:?}");
    let parts = batch_parts(&reply);
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!((parts[0].0, parts[0].1.as_deref()), (400, Some("2")));
    let error = part_json(&parts[0].2);
    assert_eq!(error["error"]["code"], "0x80040265");
    assert!(error["error"]["message"].as_str().unwrap().contains("Accounts named refuse are refused"));
    // Nothing of the changeset stays: not the first account, not the note its PostOperation step wrote; the
    // part after it never ran.
    assert_eq!(alice.get("accounts").json()["value"], json!([]));
    assert_eq!(alice.get("annotations").json()["value"], json!([]));

    // With odata.continue-on-error the batch goes on after the failed changeset: 200.
    let reply = send_batch(&alice, &[("Prefer", "odata.continue-on-error")], FAILING_CHANGESET, false);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("Preference-Applied"), Some("odata.continue-on-error"));
    let parts = batch_parts(&reply);
    assert_eq!(parts.iter().map(|p| p.0).collect::<Vec<_>>(), vec![400, 204], "{parts:?}");
    let names: Vec<Json> = alice.get("accounts?$select=name").json()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("after")]);
    let notes = alice.get("annotations?$select=subject").json();
    assert_eq!(notes["value"].as_array().unwrap().len(), 1, "only the kept account's note: {notes}");
}

#[test]
fn serve_batch_imp_6_the_batchs_impersonation_applies_to_every_part_and_a_parts_own_header_overrides() {
    let server = start();
    let svc = svc(&server);
    let body = "--batch_1
Content-Type: application/http

POST accounts HTTP/1.1

{\"name\": \"for alice\"}
--batch_1
Content-Type: application/http

POST accounts HTTP/1.1
MSCRMCallerID: 5e7c0000-0000-4000-8000-000000000002

{\"name\": \"as svc\"}
--batch_1
Content-Type: application/http

GET WhoAmI HTTP/1.1

--batch_1--
";
    let reply = send_batch(&svc, &[("CallerObjectId", ALICE_OID)], body, true);
    assert_eq!(reply.status, 200, "{reply:?}");
    let parts = batch_parts(&reply);
    assert_eq!(parts.iter().map(|p| p.0).collect::<Vec<_>>(), vec![204, 204, 200], "{parts:?}");
    assert_eq!(part_json(&parts[2].2)["UserId"], ALICE, "WhoAmI in the batch answers for the impersonated user");
    let rows =
        svc.get("accounts?$select=name,description,_createdby_value,_createdonbehalfby_value&$orderby=name").json();
    let (alices, svcs) = (&rows["value"][1], &rows["value"][0]);
    assert_eq!(alices["name"], "for alice");
    assert_eq!(alices["_createdby_value"], ALICE);
    assert_eq!(alices["_createdonbehalfby_value"], SVC, "IMP-8: stamped on behalf");
    assert_eq!(alices["description"], format!("UserId={ALICE} InitiatingUserId={ALICE} Agent="));
    // IMP-9: the part's own header names the sender itself: no impersonation.
    assert_eq!(svcs["name"], "as svc");
    assert_eq!(svcs["_createdby_value"], SVC);
    assert_eq!(svcs["_createdonbehalfby_value"], Json::Null);
}

#[test]
fn serve_batch_malformed_bodies_are_400_naming_what_is_wrong() {
    let server = start();
    let alice = alice(&server);
    let reply = alice.request("POST", "$batch", &[], Some(&json!({})));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("multipart/mixed; boundary="), "{reply:?}");
    let reply = send_batch(&alice, &[], "--batch_1\nContent-Type: application/http\n\nGET WhoAmI HTTP/1.1\n", false);
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("does not end with the line '--batch_1--'"), "{reply:?}");
    let reply = send_batch(&alice, &[], "--batch_1\nContent-Type: application/http\n\nWhoAmI\n--batch_1--\n", false);
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("not 'METHOD URL HTTP/1.1'"), "{reply:?}");
    let no_token = send(server.addr(), "POST", "/api/data/v9.2/$batch", &[], Some("x"));
    assert_eq!(no_token.status, 401, "{no_token:?}");
    // A reference to no earlier part is that part's 400.
    let body = "--batch_1\nContent-Type: multipart/mixed; boundary=c\n\n--c\nContent-Type: application/http\n\
                Content-ID: 1\n\nPATCH $9 HTTP/1.1\n\n{}\n--c--\n--batch_1--\n";
    let reply = send_batch(&alice, &[], body, false);
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(part_json(&batch_parts(&reply)[0].2)["error"]["message"].as_str().unwrap().contains("'$9'"));
}

#[test]
fn serve_pipe_1_custom_apis_are_actions_unbound_and_bound_with_typed_parameters_and_response_properties() {
    let server = start();
    let alice = alice(&server);
    let account = alice.create("accounts", &json!({ "name": "Contoso" }));
    let reply = alice.post(
        "new_Quote",
        &json!({ "Amount": 12.5, "Count": 3,
                 "Customer": { "@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": account } }),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert!(body["@odata.context"].as_str().unwrap().ends_with("$metadata#Microsoft.Dynamics.CRM.new_QuoteResponse"));
    // The stage-30 plug-in read each parameter as its declared type, and ran as the caller.
    let summary = body["Summary"].as_str().unwrap();
    assert!(summary.starts_with("Amount=12.5"), "{summary}");
    assert!(summary.contains("Count=3 "), "{summary}");
    assert!(summary.contains(&account), "{summary}");
    assert!(summary.ends_with(&format!("by {ALICE}")), "{summary}");
    assert_eq!(body["Total"], json!(99.5));
    // Parameters of the wrong type or unknown ones: 400 naming them; the declared types are checked (PIPE-1).
    let reply = alice.post("new_Quote", &json!({ "Amount": "lots" }));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("'Amount'"), "{reply:?}");
    let reply = alice.post("new_Quote", &json!({ "Amount": 1, "Colour": "red" }));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("'Colour'"), "{reply:?}");
    let reply = alice.post("new_Quote", &json!({}));
    assert_eq!(reply.status, 400, "a required parameter is missing: {reply:?}");
    // An action without response properties answers 204.
    assert_eq!(alice.post("new_Recalculate", &json!({})).status, 204);

    // Bound to a record: its Target is the record of the URL; the impersonated user runs it (IMP-6).
    let svc = svc(&server).with("MSCRMCallerID", ALICE);
    let reply =
        svc.post(&format!("accounts({account})/Microsoft.Dynamics.CRM.new_Escalate"), &json!({ "Reason": "late" }));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["Ticket"], format!("T-{account} late by {ALICE}"));
    let reply =
        alice.post(&format!("accounts({account})/Microsoft.Dynamics.CRM.new_Escalate"), &json!({ "Reason": "refuse" }));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("Escalation refused"), "{reply:?}");
    let reply = alice.post("new_Escalate", &json!({ "Reason": "x" }));
    assert_eq!(reply.status, 400, "a bound action called unbound: {reply:?}");
    assert!(reply.error().1.contains("accounts({id})/Microsoft.Dynamics.CRM.new_Escalate"), "{reply:?}");
}

#[test]
fn serve_pipe_17_createmultiple_and_upsertmultiple_bound_to_an_entity_set_answer_their_ids() {
    let server = start();
    let alice = alice(&server);
    let reply = alice.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        &json!({ "Targets": [
            { "@odata.type": "Microsoft.Dynamics.CRM.account", "name": "One" },
            { "@odata.type": "Microsoft.Dynamics.CRM.account", "name": "Two" }
        ] }),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let ids = reply.json()["Ids"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 2);
    // The Create steps ran once per target (PIPE-17), as the caller.
    for (id, name) in ids.iter().zip(["One", "Two"]) {
        let record = alice.get(&format!("accounts({})?$select=name,description", id.as_str().unwrap())).json();
        assert_eq!(record["name"], name);
        assert_eq!(record["description"], format!("UserId={ALICE} InitiatingUserId={ALICE} Agent="));
    }
    let reply = alice.post(
        "accounts/Microsoft.Dynamics.CRM.UpsertMultiple",
        &json!({ "Targets": [
            { "@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": ids[0], "name": "One (upserted)" },
            { "@odata.type": "Microsoft.Dynamics.CRM.account", "name": "Three" }
        ] }),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let upserted = reply.json()["Ids"].as_array().unwrap().clone();
    assert_eq!(upserted.len(), 2, "{upserted:?}");
    assert_eq!(upserted[0], ids[0]);
    assert_eq!(
        alice.get(&format!("accounts({})?$select=name", ids[0].as_str().unwrap())).json()["name"],
        "One (upserted)"
    );
    assert_eq!(alice.get("accounts/$count").body, "3");
    // A plug-in failing one target fails the whole request: nothing is written.
    let reply = alice.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        &json!({ "Targets": [ { "name": "Four" }, { "name": "refuse" } ] }),
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(alice.get("accounts/$count").body, "3");
    let reply = alice.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        &json!({ "Targets": [ { "@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "x" } ] }),
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("contact"), "{reply:?}");
}

/// Percent-encodes everything but unreserved characters, as a client encodes a query option.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn serve_fetchxml_runs_through_the_query_engine_with_paging_annotations_only_when_asked() {
    let server = start();
    let alice = alice(&server);
    for name in ["F3", "F1", "F5", "F2", "F4", "Other"] {
        alice.create("accounts", &json!({ "name": name }));
    }
    let fetch = |page: u32, cookie: Option<&str>| {
        let cookie = cookie.map_or(String::new(), |c| {
            format!(
                " paging-cookie=\"{}\"",
                c.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
            )
        });
        format!(
            "<fetch count=\"2\" page=\"{page}\"{cookie}><entity name=\"account\"><attribute name=\"name\"/>\
             <attribute name=\"description\"/><order attribute=\"name\"/><filter><condition attribute=\"name\" \
             operator=\"like\" value=\"F%\"/></filter></entity></fetch>"
        )
    };
    let annotations = [("Prefer", "odata.include-annotations=\"*\"")];
    let names = |reply: &Reply| -> Vec<String> {
        reply.json()["value"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
    };
    // Without the preference: the rows, no paging annotations.
    let plain = alice.get(&format!("accounts?fetchXml={}", url_encode(&fetch(1, None))));
    assert_eq!(plain.status, 200, "{plain:?}");
    assert_eq!(names(&plain), ["F1", "F2"]);
    let body = plain.json();
    assert!(body.get("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie").is_none(), "{body}");
    assert!(body.get("@Microsoft.Dynamics.CRM.morerecords").is_none(), "{body}");
    // The plug-in's PreOperation stamp is read back: the rows are the records Create wrote.
    assert_eq!(body["value"][0]["description"], format!("UserId={ALICE} InitiatingUserId={ALICE} Agent="));

    // With it: the cookie in the platform's form, followed page after page.
    let mut cookie: Option<String> = None;
    let mut seen = Vec::new();
    for page in 1..=3 {
        let reply = alice.request(
            "GET",
            &format!("accounts?fetchXml={}", url_encode(&fetch(page, cookie.as_deref()))),
            &annotations,
            None,
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        seen.extend(names(&reply));
        let body = reply.json();
        let more = body["@Microsoft.Dynamics.CRM.morerecords"].as_bool().unwrap();
        assert_eq!(more, page < 3, "{body}");
        match body.get("@Microsoft.Dynamics.CRM.fetchxmlpagingcookie").and_then(Json::as_str) {
            Some(annotation) => {
                assert!(more);
                assert!(
                    annotation.starts_with(&format!("<cookie pagenumber=\"{}\" pagingcookie=\"", page + 1)),
                    "{annotation}"
                );
                let encoded = annotation.split("pagingcookie=\"").nth(1).unwrap().split('"').next().unwrap();
                let inner = url_decode(&url_decode(encoded));
                assert!(inner.starts_with(&format!("<cookie page=\"{page}\">")), "{inner}");
                cookie = Some(inner);
            }
            None => assert!(!more, "a cookie while more records follow: {body}"),
        }
    }
    assert_eq!(seen, ["F1", "F2", "F3", "F4", "F5"]);

    let other = "<fetch><entity name=\"contact\"><attribute name=\"fullname\"/></entity></fetch>";
    let reply = alice.get(&format!("accounts?fetchXml={}", url_encode(other)));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.error().1.contains("'contact'"), "{reply:?}");
    let reply = alice.get(&format!(
        "accounts?fetchXml={}",
        url_encode("<fetch><entity name=\"account\"><nonsense/></entity></fetch>")
    ));
    assert_eq!(reply.status, 400, "the engine's own refusal: {reply:?}");
}

#[test]
fn serve_ref_associates_and_disassociates_many_to_many_and_sets_or_clears_single_valued_navigation() {
    let server = start();
    let alice = alice(&server);
    let account = alice.create("accounts", &json!({ "name": "Contoso" }));
    let contact = alice.create("contacts", &json!({ "lastname": "Lee" }));
    let contact_url = format!("{}contacts({contact})", server.base_url());
    let subjects = |client: &Client| -> Vec<(String, String)> {
        let notes = client.get("annotations?$select=subject,_createdby_value&$filter=startswith(subject,'Dis')%20or%20startswith(subject,'Ass')&$orderby=createdon").json();
        notes["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["subject"].as_str().unwrap().to_owned(), n["_createdby_value"].as_str().unwrap().to_owned()))
            .collect()
    };

    // Associate, sent by @svc on behalf of @alice (IMP-6): the Associate step ran as alice.
    let svc = svc(&server).with("MSCRMCallerID", ALICE);
    let reply =
        svc.post(&format!("accounts({account})/new_account_contact/$ref"), &json!({ "@odata.id": contact_url }));
    assert_eq!(reply.status, 204, "{reply:?}");
    assert_eq!(subjects(&alice), [(format!("Associate new_account_contact {account} by {ALICE}"), ALICE.to_owned())]);

    // Disassociate by ?$id= and by the related key in the path.
    let reply = alice.request(
        "DELETE",
        &format!("accounts({account})/new_account_contact/$ref?$id={}", url_encode(&contact_url)),
        &[],
        None,
    );
    assert_eq!(reply.status, 204, "{reply:?}");
    let reply = alice.post(
        &format!("accounts({account})/new_account_contact/$ref"),
        &json!({ "@odata.id": format!("/contacts({contact})") }),
    );
    assert_eq!(reply.status, 204, "associated again once disassociated: {reply:?}");
    let reply = alice.request("DELETE", &format!("accounts({account})/new_account_contact({contact})/$ref"), &[], None);
    assert_eq!(reply.status, 204, "{reply:?}");
    let subjects = subjects(&alice);
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    assert!(subjects[1].0.starts_with("Disassociate new_account_contact"), "{subjects:?}");
    let reply = alice.request("DELETE", &format!("accounts({account})/new_account_contact/$ref"), &[], None);
    assert_eq!(reply.status, 400, "no related record named: {reply:?}");
    assert!(reply.error().1.contains("$id"), "{reply:?}");

    // A single-valued navigation property: PUT sets the lookup, DELETE clears it.
    let reply = alice.request(
        "PUT",
        &format!("accounts({account})/primarycontactid/$ref"),
        &[],
        Some(&json!({ "@odata.id": contact_url })),
    );
    assert_eq!(reply.status, 204, "{reply:?}");
    let record = alice.get(&format!("accounts({account})?$select=_primarycontactid_value")).json();
    assert_eq!(record["_primarycontactid_value"], contact.as_str());
    let reply = alice.request("DELETE", &format!("accounts({account})/primarycontactid/$ref"), &[], None);
    assert_eq!(reply.status, 204, "{reply:?}");
    let record = alice.get(&format!("accounts({account})?$select=_primarycontactid_value")).json();
    assert_eq!(record["_primarycontactid_value"], Json::Null);

    let reply = alice.post(&format!("accounts({account})/nothing_here/$ref"), &json!({ "@odata.id": contact_url }));
    assert_eq!(reply.status, 405, "{reply:?}");
    let reply = alice.request(
        "PUT",
        &format!("accounts({account})/nothing_here/$ref"),
        &[],
        Some(&json!({ "@odata.id": contact_url })),
    );
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(reply.error().1.contains("'nothing_here'"), "{reply:?}");
}

#[test]
fn serve_entitydefinitions_answer_entity_set_primary_columns_and_keys_from_the_organization() {
    let server = start();
    let alice = alice(&server);
    let reply = alice.get(
        "EntityDefinitions(LogicalName='account')?$select=EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,LogicalName",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["EntitySetName"], "accounts");
    assert_eq!(body["PrimaryIdAttribute"], "accountid");
    assert_eq!(body["PrimaryNameAttribute"], "name");
    assert_eq!(body["LogicalName"], "account");
    assert!(body.get("ObjectTypeCode").is_none(), "only the properties selected: {body}");
    // The organization's alternate keys (KEY-1).
    let keys = alice.get("EntityDefinitions(LogicalName='account')/Keys").json();
    assert_eq!(keys["value"][0]["LogicalName"], "account_number", "{keys}");
    assert_eq!(keys["value"][0]["KeyAttributes"], json!(["accountnumber"]));
    let all = alice.get("EntityDefinitions?$select=LogicalName,EntitySetName").json();
    let task = all["value"].as_array().unwrap().iter().find(|t| t["LogicalName"] == "task").cloned();
    assert_eq!(task.unwrap()["EntitySetName"], "tasks");
    let reply = alice.get("EntityDefinitions(LogicalName='widget')");
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(reply.error().1.contains("'widget'"));
    let reply = alice.get("EntityDefinitions(LogicalName='account')/Attributes");
    assert_eq!(reply.status, 501, "{reply:?}");
    assert!(reply.error().1.contains("'Attributes'"));
    assert_eq!(send(server.addr(), "GET", "/api/data/v9.2/EntityDefinitions", &[], None).status, 401);
}
