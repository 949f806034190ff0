// bench/a2a/run.sh: the A2A JavaScript SDK's own server (@a2a-js/sdk, express)
// with a no-op agent: each message completes at once with its input as
// the artifact, as the SDK's sample agent does.  Prints "listening URL".
import express from "express";
import { AgentCard, Task } from "@a2a-js/sdk";
import { DefaultRequestHandler, InMemoryTaskStore, AgentEvent } from "@a2a-js/sdk/server";
import { agentCardHandler, jsonRpcHandler, UserBuilder } from "@a2a-js/sdk/server/express";

const executor = {
  async execute(ctx, bus) {
    const p = ctx.userMessage.parts[0];
    bus.publish(
      AgentEvent.task(
        Task.fromJSON({
          id: ctx.taskId,
          contextId: ctx.contextId,
          status: { state: "TASK_STATE_COMPLETED" },
          artifacts: [{ artifactId: "output", parts: [{ data: p?.content?.value ?? {} }] }],
        }),
      ),
    );
    bus.finished();
  },
  async cancelTask() {},
};
const app = express();
const server = app.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  const url = `http://127.0.0.1:${server.address().port}`;
  const card = AgentCard.fromJSON({
    name: "noop",
    description: "no-op",
    version: "1.0.0",
    supportedInterfaces: [{ url: `${url}/a2a`, protocolBinding: "JSONRPC", protocolVersion: "1.0" }],
    capabilities: { streaming: true },
    skills: [{ id: "noop", name: "noop", description: "no-op" }],
  });
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  app.use("/.well-known/agent-card.json", agentCardHandler({ agentCardProvider: handler }));
  app.use("/a2a", jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  console.log(`listening ${url}`);
});
