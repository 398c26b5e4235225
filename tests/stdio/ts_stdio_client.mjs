// A TypeScript SDK 1.x client over stdio, driven by the tests: it launches the command
// given after the script's name, lists and calls tools, reads resources, gets a prompt,
// answers an elicitation, and closes. Prints one JSON object with what it saw.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const [command, ...args] = process.argv.slice(2);

const client = new Client(
  { name: "mcpfleet-stdio-tests", version: "1.0.0" },
  { capabilities: { elicitation: {} } },
);
client.setRequestHandler(ElicitRequestSchema, async () => ({
  action: "accept",
  content: { name: "from-typescript" },
}));

const transport = new StdioClientTransport({ command, args, stderr: "pipe" });
await client.connect(transport);
const seen = { protocolVersion: transport.protocolVersion ?? null };
seen.server = client.getServerVersion();
seen.tools = (await client.listTools()).tools.map((tool) => tool.name);
const echoed = await client.callTool({ name: "echo", arguments: { text: "from typescript" } });
seen.echo = echoed.content[0].text;
const added = await client.callTool({ name: "add", arguments: { a: 20, b: 22 } });
seen.add = added.content[0].text;
seen.resources = (await client.listResources()).resources.map((resource) => resource.uri);
seen.greeting = (await client.readResource({ uri: "test://greeting" })).contents[0].text;
seen.item = (await client.readResource({ uri: "test://items/nine" })).contents[0].text;
seen.prompts = (await client.listPrompts()).prompts.map((prompt) => prompt.name);
const prompt = await client.getPrompt({ name: "review", arguments: { code: "let x" } });
seen.prompt = prompt.messages[0].content.text;
const elicited = await client.callTool({ name: "ask_name", arguments: {} });
seen.elicited = elicited.content[0].text;
await client.ping();
seen.pinged = true;
await client.close();
console.log(JSON.stringify(seen));
