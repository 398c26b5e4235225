// A TypeScript SDK 1.x client session, driven by the tests: connect, list, call,
// answer an elicitation, terminate. Prints one JSON object with what it saw.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const url = new URL(process.argv[2]);
const calls = Number(process.argv[3] ?? "1");

const client = new Client(
  { name: "mcpfleet-tests", version: "1.0.0" },
  { capabilities: { elicitation: {} } },
);
client.setRequestHandler(ElicitRequestSchema, async () => ({
  action: "accept",
  content: { response: "from-typescript" },
}));

const transport = new StreamableHTTPClientTransport(url);
await client.connect(transport);
const seen = { sessionId: transport.sessionId, protocolVersion: transport.protocolVersion };
seen.tools = (await client.listTools()).tools.map((tool) => tool.name);
seen.texts = [];
for (let i = 0; i < calls; i++) {
  const result = await client.callTool({ name: "test_simple_text", arguments: {} });
  seen.texts.push(result.content[0].text);
}
const elicited = await client.callTool({ name: "test_elicitation", arguments: { message: "Go?" } });
seen.elicited = elicited.content[0].text;
await transport.terminateSession();
seen.terminated = transport.sessionId === undefined;
await client.close();
console.log(JSON.stringify(seen));
