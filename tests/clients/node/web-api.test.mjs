// The Web API of `xrm-sandbox serve`, driven by a real client: dynamics-web-api, the npm library web apps and
// Azure functions use to talk to Dataverse. The server runs tests/clients/org.json with
// tests/clients/registrations.json (three probe steps on Create of account); the Rust test
// `serve_clients::node_dynamics_web_api` starts it and runs this file with XRM_SERVE_URL, the server's root
// (such as http://127.0.0.1:41234/).
//
// Each user's token is what a client with a fake credential sends: an unsigned JWT whose `oid` claim is the
// user's Entra object id (`azureactivedirectoryobjectid` in org.json). Each test checks what the plug-ins did
// and as whom, through the client's public API only.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import { DynamicsWebApi } from "dynamics-web-api";

const serverUrl = process.env.XRM_SERVE_URL;

/** The users of org.json by their Entra object ids. */
const objectIds = {
    alice: "0a11ce00-0000-4000-8000-000000000001",
    bob: "0b0b0000-0000-4000-8000-000000000002",
    rita: "0e1a0000-0000-4000-8000-000000000003",
    svc: "05fc0000-0000-4000-8000-000000000004",
    teamsvc: "07ea0000-0000-4000-8000-000000000005",
};

/** An unsigned JWT (`alg: none`) carrying `claims`. */
function jwt(claims) {
    const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
    return `${part({ alg: "none", typ: "JWT" })}.${part(claims)}.`;
}

const tokens = Object.fromEntries(Object.entries(objectIds).map(([alias, oid]) => [alias, jwt({ oid })]));

/** A client that calls as `alias`, impersonating with `headers` (`impersonate` or `impersonateAAD`) if given. */
function as(alias, impersonation = {}) {
    const token = tokens[alias];
    assert.ok(token, `no token for ${alias}`);
    return new DynamicsWebApi({
        serverUrl,
        dataApi: { version: "9.2" },
        onTokenRefresh: async () => token,
        propagateErrors: true,
        ...impersonation,
    });
}

/** The error a call fails with (the test fails if it succeeds). */
async function failure(call) {
    try {
        await call();
    } catch (error) {
        return error;
    }
    assert.fail("expected the call to fail");
}

const ids = {};

before(async () => {
    // Each run starts from the organization as loaded.
    const reset = await fetch(new URL("_sandbox/reset", serverUrl), { method: "POST" });
    assert.ok(reset.ok, `reset: ${reset.status}`);
    for (const alias of Object.keys(tokens)) {
        ids[alias] = (await as(alias).callFunction("WhoAmI")).UserId;
    }
});

test("WhoAmI answers the user the bearer token names", async () => {
    const alice = await as("alice").callFunction("WhoAmI");
    assert.match(alice.UserId, /^[0-9a-f-]{36}$/);
    assert.match(alice.BusinessUnitId, /^[0-9a-f-]{36}$/);
    assert.notEqual(alice.UserId, ids.bob);
});

test("IMP-1 IMP-4: a Create fires the steps as the caller, the registered user and the initiating user", async () => {
    const id = await as("alice").create({ collection: "accounts", data: { name: "Node Contoso" } });
    const account = await as("alice").retrieve({ collection: "accounts", key: id, select: ["name", "description"] });
    assert.equal(account.name, "Node Contoso");
    // The PreOperation step ran in the caller's context.
    assert.equal(account.description, `UserId=${ids.alice} InitiatingUserId=${ids.alice}`);
    // The PostOperation step, registered to run as the service account, wrote one note as it and one as the
    // initiating user.
    const notes = await as("svc").retrieveMultiple({
        collection: "annotations",
        select: ["subject", "_createdby_value"],
        filter: "endswith(subject, 'Node Contoso')",
        orderBy: ["subject"],
    });
    assert.deepEqual(
        notes.value.map((n) => [n.subject, n._createdby_value]),
        [
            ["audit: Node Contoso", ids.svc],
            ["initiated: Node Contoso", ids.alice],
        ],
    );
});

test("Create with return=representation answers the record; Update, Upsert and Delete", async () => {
    const alice = as("alice");
    const created = await alice.create({
        collection: "accounts",
        data: { name: "Node Fabrikam", revenue: 1000 },
        returnRepresentation: true,
        select: ["name", "revenue"],
    });
    assert.equal(created.name, "Node Fabrikam");
    assert.equal(created.revenue, 1000);
    const id = created.accountid;

    await alice.update({ collection: "accounts", key: id, data: { name: "Node Fabrikam Ltd" } });
    const updated = await alice.retrieve({ collection: "accounts", key: id, select: ["name"] });
    assert.equal(updated.name, "Node Fabrikam Ltd");

    // An update with If-Match: * of a row that does not exist is a 404, not an insert.
    const missing = "00000000-0000-4000-8000-0000000000aa";
    const notFound = await failure(() => alice.update({ collection: "accounts", key: missing, data: { name: "x" } }));
    assert.equal(notFound.status, 404);

    // Upsert (no If-Match) creates it, then updates it.
    await alice.upsert({ collection: "accounts", key: missing, data: { name: "Node Upserted" } });
    await alice.upsert({ collection: "accounts", key: missing, data: { name: "Node Upserted again" } });
    const upserted = await alice.retrieve({ collection: "accounts", key: missing, select: ["name"] });
    assert.equal(upserted.name, "Node Upserted again");
    // If-None-Match: * refuses a row that exists.
    const exists = await failure(() =>
        alice.upsert({ collection: "accounts", key: missing, data: { name: "x" }, ifnonematch: "*" }),
    );
    assert.equal(exists.status, 412);

    await alice.deleteRecord({ collection: "accounts", key: id });
    const gone = await failure(() => alice.retrieve({ collection: "accounts", key: id }));
    assert.equal(gone.status, 404);
});

test("queries: $filter, $orderby, $top, $count and paging with odata.maxpagesize", async () => {
    const alice = as("alice");
    for (const n of [3, 1, 5, 2, 4]) {
        await alice.create({ collection: "accounts", data: { name: `Node Page ${n}`, numberofemployees: n * 10 } });
    }
    const filter = "startswith(name, 'Node Page ') and numberofemployees ge 20";
    const all = await alice.retrieveAll({
        collection: "accounts",
        select: ["name"],
        filter,
        orderBy: ["numberofemployees desc"],
        maxPageSize: 2,
    });
    assert.deepEqual(
        all.value.map((a) => a.name),
        ["Node Page 5", "Node Page 4", "Node Page 3", "Node Page 2"],
    );
    const firstPage = await alice.retrieveMultiple({
        collection: "accounts",
        select: ["name"],
        filter,
        count: true,
        maxPageSize: 3,
    });
    assert.equal(firstPage.value.length, 3);
    assert.equal(firstPage.oDataCount, 4);
    assert.ok(firstPage.oDataNextLink, "a next link while more rows remain");
    const top = await alice.retrieveMultiple({ collection: "accounts", select: ["name"], filter, top: 1, orderBy: ["name"] });
    assert.deepEqual(top.value.map((a) => a.name), ["Node Page 2"]);
    assert.equal(await alice.count({ collection: "accounts", filter }), 4);
});

test("a plug-in's InvalidPluginExecutionException is a 400 in the platform's error shape", async () => {
    const error = await failure(() => as("alice").create({ collection: "accounts", data: { name: "Refuse me" } }));
    assert.equal(error.status, 400);
    assert.equal(error.code, "0x80040265");
    assert.match(error.message, /Accounts called Refuse me are refused/);
});

test("a missing privilege is a 403 naming it", async () => {
    const error = await failure(() => as("rita").create({ collection: "accounts", data: { name: "Node Rita" } }));
    assert.equal(error.status, 403);
    assert.equal(error.code, "0x80040220");
    assert.match(error.message, /prvCreateAccount/);
});

test("IMP-6 IMP-7 IMP-8: MSCRMCallerID: the service account acts as alice; records stamp both", async () => {
    const client = as("svc", { impersonate: ids.alice });
    const id = await client.create({ collection: "accounts", data: { name: "Node on behalf" } });
    const account = await as("alice").retrieve({
        collection: "accounts",
        key: id,
        select: ["description", "_createdby_value", "_createdonbehalfby_value", "_ownerid_value"],
    });
    assert.equal(account.description, `UserId=${ids.alice} InitiatingUserId=${ids.alice}`);
    assert.equal(account._createdby_value, ids.alice);
    assert.equal(account._ownerid_value, ids.alice);
    assert.equal(account._createdonbehalfby_value, ids.svc);
});

test("IMP-6: CallerObjectId names the user by Entra object id", async () => {
    const client = as("svc", { impersonateAAD: objectIds.bob });
    assert.equal((await client.callFunction("WhoAmI")).UserId, ids.bob);
});

test("IMP-6: the delegate privilege held only through a team does not let a user impersonate", async () => {
    const error = await failure(() =>
        as("teamsvc", { impersonate: ids.alice }).create({ collection: "accounts", data: { name: "Node team" } }),
    );
    assert.equal(error.status, 403);
    assert.equal(error.code, "0x80040220");
    assert.match(error.message, /prvActOnBehalfOfAnotherUser/);
});

test("IMP-7: under impersonation the privileges are the intersection of both users'", async () => {
    // svc may create accounts; rita may not: svc acting as rita may not either.
    const error = await failure(() =>
        as("svc", { impersonate: ids.rita }).create({ collection: "accounts", data: { name: "Node both" } }),
    );
    assert.equal(error.status, 403);
    assert.match(error.message, /prvCreateAccount/);
});

test("no bearer token: 401 in the platform's error shape", async () => {
    const response = await fetch(new URL("api/data/v9.2/WhoAmI", serverUrl));
    assert.equal(response.status, 401);
    assert.match(response.headers.get("content-type"), /application\/json/);
    const body = await response.json();
    assert.match(body.error.code, /^0x[0-9a-f]{8}$/i);
    assert.ok(body.error.message.length > 0);
});

test("$batch: a changeset with a $1 reference, and a query after it, as the impersonated user (IMP-6)", async () => {
    const client = as("svc", { impersonate: ids.alice });
    client.startBatch();
    client.create({ collection: "accounts", data: { name: "Node Batch A" }, contentId: "1" });
    client.update({ contentId: "$1", data: { accountnumber: "NB-1" } });
    client.retrieveMultiple({ collection: "accounts", select: ["name"], filter: "name eq 'Node Batch A'" });
    const results = await client.executeBatch();
    assert.equal(results.length, 3);
    const id = results[0];
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(results[2].value.map((a) => a.name), ["Node Batch A"]);
    const account = await as("alice").retrieve({
        collection: "accounts",
        key: id,
        select: ["accountnumber", "description", "_createdby_value", "_createdonbehalfby_value"],
    });
    assert.equal(account.accountnumber, "NB-1", "the update addressed the record by $1");
    assert.equal(account.description, `UserId=${ids.alice} InitiatingUserId=${ids.alice}`);
    assert.equal(account._createdby_value, ids.alice);
    assert.equal(account._createdonbehalfby_value, ids.svc);
});

test("PIPE-17: a $batch changeset that a plug-in fails is rolled back whole", async () => {
    const alice = as("alice");
    alice.startBatch();
    alice.create({ collection: "accounts", data: { name: "Node Batch kept?" } });
    alice.create({ collection: "accounts", data: { name: "Refuse me" } });
    const error = await failure(() => alice.executeBatch());
    const errors = Array.isArray(error) ? error : [error];
    assert.ok(errors.some((e) => e?.status === 400 && /Accounts called Refuse me are refused/.test(e.error?.message ?? e.message)), `${JSON.stringify(error)}`);
    const rows = await alice.retrieveMultiple({ collection: "accounts", select: ["name"], filter: "name eq 'Node Batch kept?'" });
    assert.deepEqual(rows.value, [], "the first create of the changeset was rolled back");
    const notes = await as("svc").retrieveMultiple({ collection: "annotations", select: ["subject"], filter: "endswith(subject, 'Node Batch kept?')" });
    assert.deepEqual(notes.value, [], "and so were its plug-ins' notes");
});

test("PIPE-1: custom APIs as actions, unbound and bound, run by their plug-in as the caller", async () => {
    const alice = as("alice");
    const ping = await alice.callAction({ actionName: "new_Ping", action: { Text: "hello" } });
    assert.equal(ping.Echo, `hello from ${ids.alice}`);
    const id = await alice.create({ collection: "accounts", data: { name: "Node Escalated" } });
    const ticket = await as("svc", { impersonate: ids.bob }).callAction({
        actionName: "new_Escalate",
        collection: "accounts",
        key: id,
        action: { Reason: "late" },
    });
    assert.equal(ticket.Ticket, `T-${id} late by ${ids.bob}`);
    const unknown = await failure(() => alice.callAction({ actionName: "new_Nothing" }));
    assert.equal(unknown.status, 404);
});

test("FetchXML: fetchAll follows the paging cookie; the annotations come only when asked for", async () => {
    const alice = as("alice");
    for (const n of [3, 1, 4, 2, 5]) {
        await alice.create({ collection: "accounts", data: { name: `Node Fetch ${n}` } });
    }
    const fetchXml =
        '<fetch count="2"><entity name="account"><attribute name="name"/><attribute name="description"/>' +
        '<order attribute="name"/><filter><condition attribute="name" operator="like" value="Node Fetch %"/>' +
        "</filter></entity></fetch>";
    const all = await alice.fetchAll({
        collection: "accounts",
        fetchXml,
        includeAnnotations: "Microsoft.Dynamics.CRM.fetchxmlpagingcookie",
    });
    assert.deepEqual(
        all.value.map((a) => a.name),
        [1, 2, 3, 4, 5].map((n) => `Node Fetch ${n}`),
    );
    // The rows are the records the Create steps stamped, as alice.
    assert.ok(all.value.every((a) => a.description === `UserId=${ids.alice} InitiatingUserId=${ids.alice}`));
    const first = await alice.fetch({ collection: "accounts", fetchXml });
    assert.equal(first.value.length, 2);
    assert.equal(first.PagingInfo, undefined, "no paging cookie unless asked for");
    assert.equal(first["@Microsoft.Dynamics.CRM.morerecords"], undefined);
});

test("associate and disassociate through $ref fire their steps as the caller", async () => {
    const alice = as("alice");
    const account = await alice.create({ collection: "accounts", data: { name: "Node Associated" } });
    const contact = await alice.create({ collection: "contacts", data: { lastname: "Node Lee" } });
    await as("svc", { impersonate: ids.alice }).associate({
        collection: "accounts",
        primaryKey: account,
        relationshipName: "new_account_contact",
        relatedCollection: "contacts",
        relatedKey: contact,
    });
    await alice.disassociate({ collection: "accounts", primaryKey: account, relationshipName: "new_account_contact", relatedKey: contact });
    const notes = await alice.retrieveMultiple({
        collection: "annotations",
        select: ["subject", "_createdby_value"],
        filter: `contains(subject, '${account}')`,
        orderBy: ["createdon"],
    });
    assert.deepEqual(
        notes.value.map((n) => [n.subject, n._createdby_value]),
        [
            [`Associate new_account_contact ${account} by ${ids.alice}`, ids.alice],
            [`Disassociate new_account_contact ${account} by ${ids.alice}`, ids.alice],
        ],
    );
});

test("EntityDefinitions: the entity set and primary columns of a table", async () => {
    const account = await as("alice").retrieveEntity({
        key: "LogicalName='account'",
        select: ["EntitySetName", "PrimaryIdAttribute", "PrimaryNameAttribute", "LogicalName"],
    });
    assert.equal(account.EntitySetName, "accounts");
    assert.equal(account.PrimaryIdAttribute, "accountid");
    assert.equal(account.PrimaryNameAttribute, "name");
    assert.equal(account.LogicalName, "account");
});
