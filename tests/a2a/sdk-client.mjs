// The official A2A JavaScript SDK's client (@a2a-js/sdk, A2A 1.0 JSON-RPC)
// against a real atlasd, and the card signatures checked with jose and
// with the SDK's own verifier (tests/e2e/t_a2a.sh).
//
//   node sdk-client.mjs ATLAS_URL TOKEN
//
// Prints "ok   - ..." / "FAIL - ..." lines; exits 1 when anything failed.
import {
  ClientFactory,
  ClientFactoryOptions,
  DefaultAgentCardResolver,
  JsonRpcTransportFactory,
  RestTransportFactory,
} from "@a2a-js/sdk/client";
import {
  SendMessageRequest,
  ListTasksRequest,
  Task,
  StreamResponse,
  canonicalizeAgentCard,
  verifyAgentCardSignature,
} from "@a2a-js/sdk";
import * as jose from "jose";
import http from "node:http";

const [base, token] = process.argv.slice(2);
let failed = 0;
const ok = (m) => console.log(`ok   - ${m}`);
const bad = (m) => {
  failed++;
  console.log(`FAIL - ${m}`);
};
const check = (cond, m, detail) => (cond ? ok(m) : bad(`${m}${detail ? ": " + detail : ""}`));

const authFetch = (url, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set("Authorization", `Bearer ${token}`);
  return fetch(url, { ...init, headers });
};
const factory = new ClientFactory(
  ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
    transports: [new JsonRpcTransportFactory({ fetchImpl: authFetch })],
    preferredTransports: ["JSONRPC"],
    cardResolver: new DefaultAgentCardResolver({ fetchImpl: authFetch }),
  }),
);

const restFactory = new ClientFactory(
  ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
    transports: [new RestTransportFactory({ fetchImpl: authFetch })],
    preferredTransports: ["HTTP+JSON"],
    cardResolver: new DefaultAgentCardResolver({ fetchImpl: authFetch }),
  }),
);

const msg = (parts, extra = {}) =>
  SendMessageRequest.fromJSON({
    message: { messageId: `m-${Math.random()}`, role: "ROLE_USER", parts, ...extra.message },
    ...(extra.configuration ? { configuration: extra.configuration } : {}),
    ...(extra.metadata ? { metadata: extra.metadata } : {}),
  });
const taskJson = (t) => Task.toJSON(t);

// The HTTP+JSON binding: the same operations through the SDK's REST transport.
async function restPass() {
  const c = await restFactory.createFromUrl(`${base}/a2a/agents/slow/`);
  const t = taskJson(await c.sendMessage(msg([{ data: { ms: 5, tag: "rest" } }])));
  check(t.status?.state === "TASK_STATE_COMPLETED" && t.artifacts?.[0]?.parts?.[0]?.data?.tag === "rest", "rest send: completed, the output as the artifact");
  const g = taskJson(await c.getTask({ id: t.id }));
  check(g.id === t.id && g.status?.state === "TASK_STATE_COMPLETED", "rest get: the same task");
  const evs = [];
  for await (const ev of c.sendMessageStream(msg([{ data: { ms: 100, tag: "rest-stream" } }]))) evs.push(JSON.stringify(ev));
  check(evs.length >= 3 && /"state":3\b|COMPLETED/.test(evs[evs.length - 1]) && evs.some((e) => e.includes("rest-stream")), "rest stream: task, artifact, completed", `${evs.length}`);
  const r = taskJson(await c.sendMessage(msg([{ data: { ms: 20000 } }], { configuration: { returnImmediately: true } })));
  await new Promise((res) => setTimeout(res, 300));
  const tc = taskJson(await c.cancelTask({ id: r.id }));
  check(tc.status?.state === "TASK_STATE_CANCELED", "rest cancel: canceled", JSON.stringify(tc.status));
  const raise = await restFactory.createFromUrl(`${base}/a2a/agents/raise/`);
  const tf = taskJson(await raise.sendMessage(msg([{ text: "x" }])));
  check(tf.status?.state === "TASK_STATE_FAILED" && JSON.stringify(tf.status).includes("deliberate"), "rest: a failing task fails, saying why", JSON.stringify(tf.status));
  try {
    await c.getTask({ id: "job_nope" });
    bad("rest get unknown: refused");
  } catch (e) {
    check(e.constructor.name.includes("TaskNotFound"), "rest get unknown: TaskNotFoundError", `${e.constructor.name}: ${e.message}`);
  }
  const l = await c.listTasks(ListTasksRequest.fromJSON({ pageSize: 2 }));
  check(l.tasks.length === 2 && l.nextPageToken, "rest list: a page and the next page's token");
}

// A receiver on 127.0.0.1 that records every POST; the first POST with the
// token "flaky" is answered 503 (atlasd must try again).
async function receiver() {
  const got = [];
  let flaky = 0;
  const srv = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const tok = req.headers["x-a2a-notification-token"];
      if (tok === "flaky" && flaky++ === 0) {
        res.writeHead(503).end();
        return;
      }
      let j = null;
      try {
        j = JSON.parse(body);
      } catch {}
      got.push({ path: req.url, headers: req.headers, body: j });
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { got, url: `http://127.0.0.1:${srv.address().port}`, close: () => srv.close(), flakyTries: () => flaky };
}

const stateOf = (b) => b?.statusUpdate?.status?.state ?? b?.status?.state ?? (b?.artifactUpdate ? "ARTIFACT" : "?");
async function until(cond, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

async function pushPass(slow, doneTask) {
  const rx = await receiver();
  try {
    const card = await slow.getAgentCard();
    check(card.capabilities?.pushNotifications === true, "the card says pushNotifications: true");
    // a config given with the message: every update of the task
    const t = taskJson(
      await slow.sendMessage(
        msg([{ data: { ms: 400, tag: "pushed" } }], {
          configuration: { returnImmediately: true, taskPushNotificationConfig: { url: `${rx.url}/one`, token: "tok-1" } },
        }),
      ),
    );
    // a second config set while it runs, with an Authorization header
    const c2 = await slow.createTaskPushNotificationConfig({
      taskId: t.id, id: "second", url: `${rx.url}/two`, authentication: { scheme: "Bearer", credentials: "s3cret" },
    });
    check(c2.id === "second" && c2.taskId === t.id && c2.url === `${rx.url}/two`, "push create: the config is answered", JSON.stringify(c2));
    const one = () => rx.got.filter((g) => g.path === "/one");
    const two = () => rx.got.filter((g) => g.path === "/two");
    await until(() => one().some((g) => stateOf(g.body) === "TASK_STATE_COMPLETED") && two().some((g) => stateOf(g.body) === "TASK_STATE_COMPLETED"));
    const seq = one().map((g) => stateOf(g.body));
    check(
      seq.length >= 3 && seq[0] === "TASK_STATE_WORKING" && seq[seq.length - 2] === "ARTIFACT" && seq[seq.length - 1] === "TASK_STATE_COMPLETED" && seq.every((s) => ["TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", "ARTIFACT", "TASK_STATE_COMPLETED"].includes(s)),
      "push: the receiver got working, the artifact, completed, in order",
      seq.join(","),
    );
    const art = one().find((g) => g.body?.artifactUpdate);
    check(art?.body.artifactUpdate.artifact.parts[0].data.tag === "pushed" && art.body.artifactUpdate.taskId === t.id, "push: the artifact update carries the output");
    check(one().every((g) => g.headers["x-a2a-notification-token"] === "tok-1" && /application\/a2a\+json/.test(g.headers["content-type"])), "push: the token header and the A2A content type");
    check(two().length >= 1 && two().every((g) => g.headers.authorization === "Bearer s3cret" && !g.headers["x-a2a-notification-token"]), "push: authentication becomes the Authorization header", JSON.stringify(two().map((g) => g.headers.authorization)));
    // get, list, delete through the SDK
    const g = await slow.getTaskPushNotificationConfig({ taskId: t.id, id: "second" });
    check(g.url === `${rx.url}/two` && g.authentication?.scheme === "Bearer", "push get: the config", JSON.stringify(g));
    const l = await slow.listTaskPushNotificationConfig({ taskId: t.id });
    check(l.configs.length === 2 && l.configs.some((c) => c.token === "tok-1"), "push list: both configs", JSON.stringify(l));
    await slow.deleteTaskPushNotificationConfig({ taskId: t.id, id: "second" });
    const l2 = await slow.listTaskPushNotificationConfig({ taskId: t.id });
    check(l2.configs.length === 1, "push delete: one config left", JSON.stringify(l2));
    try {
      await slow.getTaskPushNotificationConfig({ taskId: t.id, id: "second" });
      bad("push get of a deleted config: refused");
    } catch (e) {
      ok("push get of a deleted config: refused");
    }
    // at most 10 configs per task (one is left): the 11th is refused
    for (let i = 0; i < 9; i++) await slow.createTaskPushNotificationConfig({ taskId: t.id, id: `p${i}`, url: `${rx.url}/none` });
    try {
      await slow.createTaskPushNotificationConfig({ taskId: t.id, id: "p-over", url: `${rx.url}/none` });
      bad("push: the 11th config of a task is refused");
    } catch (e) {
      check(/limit/.test(e.message), "push: the 11th config of a task is refused (the limit)", e.message);
    }
    const again = await slow.createTaskPushNotificationConfig({ taskId: t.id, id: "p0", url: `${rx.url}/none2` });
    check(again.url === `${rx.url}/none2`, "push: the same id replaces, within the limit");
    // refused URLs
    for (const [url, why] of [["file:///etc/passwd", "http or https"], ["http://user:pw@127.0.0.1:1/x", "credentials"], ["gopher://127.0.0.1/", "http or https"]]) {
      try {
        await slow.createTaskPushNotificationConfig({ taskId: t.id, url });
        bad(`push url ${url}: refused`);
      } catch (e) {
        check(new RegExp(why).test(e.message), `push url ${url}: refused (${why})`, e.message);
      }
    }
    try {
      await slow.createTaskPushNotificationConfig({ taskId: "job_nope", url: `${rx.url}/x` });
      bad("push config of an unknown task: refused");
    } catch (e) {
      check(/no task/.test(e.message), "push config of an unknown task: TaskNotFound", e.message);
    }
    // retried with backoff: the first POST is answered 503
    const tr = taskJson(
      await slow.sendMessage(
        msg([{ data: { ms: 1, tag: "flaky" } }], { configuration: { taskPushNotificationConfig: { url: `${rx.url}/flaky`, token: "flaky" } } }),
      ),
    );
    await until(() => rx.got.some((g) => g.path === "/flaky" && stateOf(g.body) === "TASK_STATE_COMPLETED"));
    check(rx.flakyTries() >= 2 && rx.got.some((g) => g.path === "/flaky" && stateOf(g.body) === "TASK_STATE_COMPLETED"), "push: a delivery answered 503 is tried again", `${rx.flakyTries()} ${tr.status?.state}`);
    // 0.3: tasks/pushNotificationConfig/set, the Task object as the body
    const rpc03 = async (method, params) =>
      (await authFetch(`${base}/a2a/agents/slow`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "A2A-Version": "0.3" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 9, method, params }),
      })).json();
    const s03 = await rpc03("message/send", {
      message: { kind: "message", messageId: "p03", role: "user", parts: [{ kind: "data", data: { ms: 300 } }] },
      configuration: { blocking: false },
    });
    const set03 = await rpc03("tasks/pushNotificationConfig/set", { taskId: s03.result.id, pushNotificationConfig: { url: `${rx.url}/v03`, token: "t03" } });
    check(set03.result?.pushNotificationConfig?.url === `${rx.url}/v03` && set03.result.taskId === s03.result.id, "0.3 set: the TaskPushNotificationConfig", JSON.stringify(set03));
    await until(() => rx.got.some((g) => g.path === "/v03" && g.body?.status?.state === "completed"));
    const v03 = rx.got.filter((g) => g.path === "/v03");
    check(v03.length >= 1 && v03.every((g) => g.body?.kind === "task" && g.body.id === s03.result.id) && v03[v03.length - 1].body.status.state === "completed", "0.3: the receiver got Task objects, the last completed", JSON.stringify(v03.map((g) => g.body?.status?.state)));
    const get03 = await rpc03("tasks/pushNotificationConfig/get", { id: s03.result.id });
    check(get03.result?.pushNotificationConfig?.token === "t03", "0.3 get: the config", JSON.stringify(get03));
    const list03 = await rpc03("tasks/pushNotificationConfig/list", { id: s03.result.id });
    check(Array.isArray(list03.result) && list03.result.length === 1, "0.3 list: an array", JSON.stringify(list03));
    const del03 = await rpc03("tasks/pushNotificationConfig/delete", { id: s03.result.id, pushNotificationConfigId: list03.result?.[0]?.pushNotificationConfig?.id });
    check(del03.result === null, "0.3 delete: null", JSON.stringify(del03));
    // a config on a finished task stays (t_a2a.sh reads it after a restart)
    await slow.createTaskPushNotificationConfig({ taskId: doneTask, id: "kept", url: `${rx.url}/kept`, token: "k" });
    console.log(`info kept-task ${doneTask}`);
  } finally {
    rx.close();
  }
}

async function main() {
  // --- the agent's card, and a client made from it ---
  const slow = await factory.createFromUrl(`${base}/a2a/agents/slow/`);
  const card = await slow.getAgentCard();
  check(card.name === "slow", "the agent card of slow names it", card.name);
  check(
    card.supportedInterfaces.some((i) => i.protocolBinding === "JSONRPC" && i.protocolVersion === "1.0"),
    "the card offers JSON-RPC 1.0",
  );

  // --- send (blocking): completed, the output as a data artifact ---
  const r1 = await slow.sendMessage(msg([{ data: { ms: 10, tag: "send" } }]));
  const t1 = taskJson(r1);
  check(t1.status?.state === "TASK_STATE_COMPLETED", "send: the task completed", JSON.stringify(t1.status));
  check(t1.artifacts?.[0]?.parts?.[0]?.data?.tag === "send", "send: the output is the artifact's data part");

  // --- get ---
  const g = taskJson(await slow.getTask({ id: t1.id }));
  check(g.id === t1.id && g.status?.state === "TASK_STATE_COMPLETED", "get: the same task, completed");

  // --- stream: the task, working, the artifact, completed ---
  const events = [];
  for await (const ev of slow.sendMessageStream(msg([{ data: { ms: 300, tag: "stream" } }]))) {
    events.push(ev);
  }
  const kinds = events.map((e) => Object.keys(StreamResponse.toJSON(StreamResponse.fromJSON(e?.$case ? { [e.$case]: e.value } : e)))[0] ?? "?");
  const flat = events.map((e) => JSON.stringify(e));
  const last = flat[flat.length - 1] || "";
  check(events.length >= 3, "stream: at least three events", `${events.length}: ${flat.join(" | ").slice(0, 400)}`);
  check(/SUBMITTED|"state":1\b/.test(flat[0] || "") || /kind":"task"|\$case":"task"|"task"/.test(flat[0] || ""), "stream: the task comes first", flat[0]);
  check(flat.some((f) => f.includes("stream") && (f.includes("artifact"))), "stream: an artifact with the output");
  check(/"state":3\b|COMPLETED/.test(last), "stream: the last event says completed", last.slice(0, 300));
  void kinds;

  // --- a task that fails ---
  const raise = await factory.createFromUrl(`${base}/a2a/agents/raise/`);
  const tf = taskJson(await raise.sendMessage(msg([{ text: "hello" }])));
  check(tf.status?.state === "TASK_STATE_FAILED", "fail: the task failed", JSON.stringify(tf.status));
  check(
    JSON.stringify(tf.status?.message || {}).includes("deliberate"),
    "fail: the status message says why",
  );

  // --- cancel a long task sent with returnImmediately ---
  const rc = taskJson(
    await slow.sendMessage(msg([{ data: { ms: 20000 } }], { configuration: { returnImmediately: true } })),
  );
  check(rc.status?.state === "TASK_STATE_SUBMITTED", "returnImmediately: the task is submitted", JSON.stringify(rc.status));
  await new Promise((r) => setTimeout(r, 300));
  const tc = taskJson(await slow.cancelTask({ id: rc.id }));
  check(tc.status?.state === "TASK_STATE_CANCELED", "cancel: the task is canceled", JSON.stringify(tc.status));
  const tc2 = taskJson(await slow.getTask({ id: rc.id }));
  check(tc2.status?.state === "TASK_STATE_CANCELED", "cancel: get says canceled too");
  try {
    await slow.cancelTask({ id: rc.id });
    bad("cancel again: refused");
  } catch (e) {
    check(/already/.test(String(e.message)), "cancel again: TaskNotCancelable", e.message);
  }

  // --- list ---
  const lst = await slow.listTasks(ListTasksRequest.fromJSON({ pageSize: 10 }));
  check(lst.tasks.length >= 3, "list: the tasks are there", `${lst.tasks.length}`);

  // --- unknown task, unknown agent ---
  try {
    await slow.getTask({ id: "job_nope" });
    bad("get unknown: refused");
  } catch (e) {
    check(e.constructor.name.includes("TaskNotFound") || /no task/.test(e.message), "get unknown: TaskNotFound", `${e.constructor.name}: ${e.message}`);
  }
  try {
    await factory.createFromUrl(`${base}/a2a/agents/nope/`);
    bad("unknown agent: no card");
  } catch (e) {
    ok("unknown agent: its card is not found");
  }
  const root = await factory.createFromUrl(base);
  const rcard = await root.getAgentCard();
  check(rcard.skills.some((s) => s.id === "slow") && rcard.skills.some((s) => s.id === "raise"), "atlasd's card lists the agents as skills");
  try {
    await root.sendMessage(msg([{ text: "x" }], { metadata: { "atlas.agent": "nope" } }));
    bad("unknown agent: send refused");
  } catch (e) {
    check(/unknown agent/.test(e.message), "unknown agent: send refused, naming it", e.message);
  }
  const rr = taskJson(await root.sendMessage(msg([{ data: { ms: 1, tag: "root" } }], { metadata: { "atlas.agent": "slow" } })));
  check(rr.status?.state === "TASK_STATE_COMPLETED", "atlasd's endpoint runs the skill named in metadata");

  // --- push notifications: a loopback receiver, the SDK's config methods ---
  await pushPass(slow, t1.id);
  for (const method of ["GetExtendedAgentCard"]) {
    const res = await authFetch(`${base}/a2a/agents/slow`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method, params: {} }),
    });
    const body = await res.json();
    check(body.error && /not supported yet/.test(body.error.message) && body.id === 7, `${method}: the server says not supported yet`, JSON.stringify(body));
  }

  // --- signatures: jose over the SDK's canonical form, and the SDK's verifier ---
  const jwks = await (await authFetch(`${base}/.well-known/jwks.json`)).json();
  const keyset = jose.createLocalJWKSet(jwks);
  const cards = [`${base}/.well-known/agent-card.json`, `${base}/a2a/agents/slow/.well-known/agent-card.json`];
  if (process.argv[4]) cards.push(`${base}/a2a/agents/${process.argv[4]}/.well-known/agent-card.json`);
  for (const url of cards) {
    const raw = await (await authFetch(url)).json();
    const sig = raw.signatures?.[0];
    if (!sig) {
      bad(`signed card ${url}: no signature`);
      continue;
    }
    const payload = jose.base64url.encode(new TextEncoder().encode(canonicalizeAgentCard(raw)));
    try {
      const res = await jose.flattenedVerify({ payload, protected: sig.protected, signature: sig.signature }, keyset);
      check(res.protectedHeader.alg === "EdDSA", `jose verifies the card ${url.replace(base, "")}`);
    } catch (e) {
      bad(`jose verifies the card ${url.replace(base, "")}: ${e.message}`);
    }
    const tampered = { ...raw, description: raw.description + " (tampered)" };
    const tp = jose.base64url.encode(new TextEncoder().encode(canonicalizeAgentCard(tampered)));
    try {
      await jose.flattenedVerify({ payload: tp, protected: sig.protected, signature: sig.signature }, keyset);
      bad("a tampered card does not verify");
    } catch {
      ok(`a tampered card does not verify (${url.replace(base, "")})`);
    }
    try {
      await verifyAgentCardSignature(async (kid) => {
        const k = jwks.keys.find((x) => x.kid === kid);
        return jose.importJWK(k, "EdDSA");
      })(raw);
      ok(`the SDK's verifyAgentCardSignature accepts ${url.replace(base, "")}`);
    } catch (e) {
      bad(`the SDK's verifyAgentCardSignature: ${e.message}`);
    }
  }
}

// input-required through atlasd (A2A_PASS=input): agent "upper" is a
// bridged @a2a-js/sdk server that asks once ({"ask": Q}) then upper-cases
// the answer; Atlas's A2A edge reports input-required and a message with
// the taskId answers it.
async function inputPass() {
  const up = await factory.createFromUrl(`${base}/a2a/agents/upper/`);
  const t = taskJson(await up.sendMessage(msg([{ data: { ask: "your name?" } }])));
  check(t.status?.state === "TASK_STATE_INPUT_REQUIRED", "input: a blocking send returns at input-required", JSON.stringify(t.status));
  check(JSON.stringify(t.status?.message || {}).includes("your name?"), "input: the status message is the remote's question");
  const g = taskJson(await up.getTask({ id: t.id }));
  check(g.status?.state === "TASK_STATE_INPUT_REQUIRED", "input: get says input-required too");
  const w = await up.listTasks(ListTasksRequest.fromJSON({ status: "TASK_STATE_INPUT_REQUIRED" }));
  check(w.tasks.some((x) => x.id === t.id), "input: list by status input-required finds it");
  const t2 = taskJson(await up.sendMessage(msg([{ data: { text: "alice" } }], { message: { taskId: t.id, contextId: t.contextId } })));
  check(t2.id === t.id && t2.status?.state === "TASK_STATE_COMPLETED" && t2.artifacts?.[0]?.parts?.[0]?.data?.upper === "ALICE", "input: the answer (a message with the taskId) completes the task", JSON.stringify(t2).slice(0, 300));
  try {
    await up.sendMessage(msg([{ data: { text: "late" } }], { message: { taskId: t.id } }));
    bad("input: a message to a finished task is refused");
  } catch (e) {
    check(/waits for input|continues only/.test(e.message), "input: a message to a finished task is refused", e.message);
  }
  // streaming: the stream ends at input-required; a streamed answer completes
  const evs = [];
  for await (const ev of up.sendMessageStream(msg([{ data: { ask: "streamed?" } }]))) evs.push(JSON.stringify(ev));
  const last = evs[evs.length - 1] || "";
  check(/INPUT_REQUIRED|"state":6\b/.test(last) && last.includes("streamed?"), "input: a stream ends with input-required and the question", last.slice(0, 300));
  const tid = (evs[0].match(/"id":"(job_[^"]+)"/) || [])[1];
  const sub = [];
  for await (const ev of up.resubscribeTask({ id: tid })) sub.push(JSON.stringify(ev));
  check(sub.length === 1 && /INPUT_REQUIRED|"state":6\b/.test(sub[0]), "input: subscribing to an input-required task: the task, then the stream ends", sub.join(" | ").slice(0, 300));
  const evs2 = [];
  for await (const ev of up.sendMessageStream(msg([{ text: "bob" }], { message: { taskId: tid } }))) evs2.push(JSON.stringify(ev));
  const last2 = evs2[evs2.length - 1] || "";
  check(tid && /COMPLETED|"state":3\b/.test(last2) && evs2.some((e) => e.includes("BOB")), "input: a streamed answer streams the rest of the task", `${tid} ${evs2.join(" | ").slice(0, 400)}`);
}

(process.env.A2A_PASS === "input" ? inputPass() : main().then(restPass))
  .catch((e) => bad(`unexpected: ${e.stack || e}`))
  .finally(() => process.exit(failed ? 1 : 0));
