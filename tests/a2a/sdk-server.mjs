// An A2A server built with the official A2A JavaScript SDK (@a2a-js/sdk,
// express), for `atlas register --a2a` (tests/e2e/t_a2a.sh).
//
//   node sdk-server.mjs PORT     (0: any; prints "listening URL" when up)
//
// One skill, "upper": the input's text (data {"text"} or a text part) in
// upper case as a data artifact {"upper", "via"}; data {"fail": true}
// fails the task, {"ms": N} works N ms first (cancellable), {"ask": Q}
// answers input-required with the question Q once, then completes with the
// answer's text upper-cased ({"upper", "answer": true}).  Requests must
// carry "Authorization: Bearer $A2A_TEST_TOKEN" when that is set.
import express from "express";
import { AgentCard, Task, TaskStatusUpdateEvent, TaskArtifactUpdateEvent } from "@a2a-js/sdk";
import { DefaultRequestHandler, InMemoryTaskStore, AgentEvent } from "@a2a-js/sdk/server";
import { agentCardHandler, jsonRpcHandler, UserBuilder } from "@a2a-js/sdk/server/express";

const port = Number(process.argv[2] || 0);
const need = process.env.A2A_TEST_TOKEN || "";
const cancelled = new Set();
const asked = new Map(); // taskId -> contextId, while it waits on our question
let calls = 0;

const status = (taskId, contextId, state, text) =>
  AgentEvent.statusUpdate(
    TaskStatusUpdateEvent.fromJSON({
      taskId,
      contextId,
      status: {
        state,
        ...(text ? { message: { messageId: `s-${Math.random()}`, role: "ROLE_AGENT", parts: [{ text }] } } : {}),
      },
    }),
  );

const executor = {
  async execute(ctx, bus) {
    calls++;
    const { taskId, contextId } = ctx;
    let input = {};
    for (const p of ctx.userMessage.parts) {
      if (p.content?.$case === "data") input = { ...input, ...p.content.value };
      else if (p.content?.$case === "text") input.text = p.content.value;
    }
    if (asked.has(taskId)) {
      // the answer to our question: complete with it
      asked.delete(taskId);
      bus.publish(status(taskId, contextId, "TASK_STATE_WORKING"));
      bus.publish(
        AgentEvent.artifactUpdate(
          TaskArtifactUpdateEvent.fromJSON({
            taskId,
            contextId,
            artifact: { artifactId: "a1", parts: [{ data: { upper: String(input.text ?? "").toUpperCase(), answer: true, via: "a2a-js" } }] },
            lastChunk: true,
          }),
        ),
      );
      bus.publish(status(taskId, contextId, "TASK_STATE_COMPLETED"));
      bus.finished();
      return;
    }
    bus.publish(
      AgentEvent.task(Task.fromJSON({ id: taskId, contextId, status: { state: "TASK_STATE_SUBMITTED" } })),
    );
    bus.publish(status(taskId, contextId, "TASK_STATE_WORKING"));
    if (input.ask) {
      asked.set(taskId, contextId);
      bus.publish(status(taskId, contextId, "TASK_STATE_INPUT_REQUIRED", String(input.ask)));
      bus.finished();
      return;
    }
    const end = Date.now() + (Number(input.ms) || 0);
    while (Date.now() < end && !cancelled.has(taskId)) await new Promise((r) => setTimeout(r, 20));
    if (cancelled.has(taskId)) {
      bus.publish(status(taskId, contextId, "TASK_STATE_CANCELED", "cancelled by the client"));
    } else if (input.fail) {
      bus.publish(status(taskId, contextId, "TASK_STATE_FAILED", "upper: asked to fail"));
    } else {
      bus.publish(
        AgentEvent.artifactUpdate(
          TaskArtifactUpdateEvent.fromJSON({
            taskId,
            contextId,
            artifact: {
              artifactId: "a1",
              parts: [{ data: { upper: String(input.text ?? "").toUpperCase(), via: "a2a-js" } }],
            },
            lastChunk: true,
          }),
        ),
      );
      bus.publish(status(taskId, contextId, "TASK_STATE_COMPLETED"));
    }
    bus.finished();
  },
  async cancelTask(taskId, bus) {
    cancelled.add(taskId);
    if (asked.has(taskId)) {
      // waiting on our question: no execute() runs to say it ended
      const contextId = asked.get(taskId);
      asked.delete(taskId);
      bus.publish(status(taskId, contextId, "TASK_STATE_CANCELED", "cancelled while asking"));
      bus.finished();
    }
  },
};

const app = express();
app.use((req, res, next) => {
  if (req.path === "/calls") return res.json({ calls, cancelled: [...cancelled] });
  if (need && req.headers.authorization !== `Bearer ${need}`) return res.status(401).json({ error: "unauthenticated" });
  next();
});
const server = app.listen(port, "127.0.0.1", () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  const card = AgentCard.fromJSON({
    name: "upper",
    description: "Upper-cases text (an @a2a-js/sdk server)",
    version: "1.0.0",
    supportedInterfaces: [{ url: `${url}/a2a`, protocolBinding: "JSONRPC", protocolVersion: "1.0" }],
    capabilities: { streaming: true, pushNotifications: false },
    defaultInputModes: ["application/json", "text/plain"],
    defaultOutputModes: ["application/json"],
    skills: [{ id: "upper", name: "upper", description: "Upper-cases input.text", tags: ["text"] }],
  });
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  app.use("/.well-known/agent-card.json", agentCardHandler({ agentCardProvider: handler }));
  app.use("/a2a", jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  console.log(`listening ${url}`);
});
