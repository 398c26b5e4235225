// A TypeScript SDK 1.x client session through the fleet's load balancer: connect, list,
// call echo N times, answer an elicitation, terminate. Prints one JSON object with what it
// saw, including every HTTP exchange and the task that answered it (HAProxy's
// x-fleet-task header), so the test can tell where each request landed.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const url = new URL(process.argv[2]);
const calls = Number(process.argv[3] ?? "20");
const trace = [];

function describe(body) {
  if (typeof body !== "string") return null;
  try {
    const message = JSON.parse(body);
    if (message.method === "tools/call") return `tools/call:${message.params?.name}`;
    if (message.method) return message.method;
    return "reply";
  } catch {
    return null;
  }
}

async function tracedFetch(input, init) {
  const response = await fetch(input, init);
  trace.push({
    http: init?.method ?? "GET",
    rpc: describe(init?.body),
    status: response.status,
    task: response.headers.get("x-fleet-task"),
  });
  return response;
}

const client = new Client(
  { name: "mcpfleet-fleet-tests", version: "1.0.0" },
  { capabilities: { elicitation: {} } },
);
const asked = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  asked.push(request.params.message);
  return { action: "accept", content: { name: "TypeScript" } };
});

const transport = new StreamableHTTPClientTransport(url, { fetch: tracedFetch });
await client.connect(transport);
const seen = { sessionId: transport.sessionId, protocolVersion: transport.protocolVersion };
seen.tools = (await client.listTools()).tools.map((tool) => tool.name);
seen.texts = [];
for (let i = 0; i < calls; i++) {
  const result = await client.callTool({ name: "echo", arguments: { text: `call ${i}` } });
  seen.texts.push(result.content[0].text);
}
const elicited = await client.callTool({ name: "ask_name", arguments: {} });
seen.elicited = elicited.content[0].text;
seen.asked = asked;
await transport.terminateSession();
seen.terminated = transport.sessionId === undefined;
seen.trace = trace.slice();
await client.close();
console.log(JSON.stringify(seen));
