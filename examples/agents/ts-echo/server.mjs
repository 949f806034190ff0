// ts-echo: an Atlas agent written with the official MCP TypeScript SDK.
//
// Nothing here is Atlas-specific: it is a plain MCP server on the stdio
// transport that exposes one tool named like the agent (docs/agent-protocol.md).
// The SDK speaks the 2025-11-25 handshake (initialize), so atlasd's
// server/discover probe gets "Method not found" and the runtime falls back to
// initialize. Diagnostics go to stderr only: stdout carries JSON-RPC.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "ts-echo", version: "1.0.0" });

server.registerTool(
  "ts-echo",
  {
    description: "Returns its input text, with its length in characters",
    // Must agree with input.schema / output.schema in agent.yaml.
    inputSchema: { text: z.string().describe("The text to echo") },
    outputSchema: { text: z.string(), length: z.number().int() },
  },
  async ({ text }) => {
    const output = { text, length: [...text].length };
    return {
      structuredContent: output,
      content: [{ type: "text", text: JSON.stringify(output) }],
    };
  },
);

// Exit when the runtime closes stdin (docs/agent-protocol.md §7).
process.stdin.on("end", () => process.exit(0));

await server.connect(new StdioServerTransport());
console.error("ts-echo: serving MCP on stdio");
