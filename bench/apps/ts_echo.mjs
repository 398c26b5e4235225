// The official TypeScript SDK 1.x serving the same `echo` and `progress` tools: McpServer +
// StreamableHTTPServerTransport on node:http, one transport (and server) per session in a Map,
// added by onsessioninitialized and removed when the transport closes (DELETE included).
//
//   node .bench-peers/ts-sdk/ts_echo.mjs --host 127.0.0.1 --port 3000 [--json]
//
// `python -m bench.setup_peers --peers ts-sdk` installs the SDK into .bench-peers/ts-sdk/ and
// links this file there, so that its imports resolve from that folder's node_modules.
// `--json` sets enableJsonResponse (one JSON body per call, no progress); without it every
// call is answered with an SSE stream. SDK 1.x speaks 2025-11-25 sessions, not 2026-07-28.
// With BENCH_WORKLOADS=1 each session's server also has the workloads (addWorkloads).
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "3000" },
    json: { type: "boolean", default: false },
  },
});
const transports = new Map();

function buildServer() {
  const server = new McpServer({ name: "echo-bench", version: "1.0.0" });
  server.registerTool(
    "echo",
    { description: "Return the text unchanged.", inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  server.registerTool(
    "progress",
    {
      description: 'Report `steps` progress notifications (1..steps of steps), then return "done".',
      inputSchema: { steps: z.number().int() },
    },
    async ({ steps }, extra) => {
      const progressToken = extra._meta?.progressToken;
      if (progressToken !== undefined) {
        for (let progress = 1; progress <= steps; progress++) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress, total: steps },
          });
        }
      }
      return { content: [{ type: "text", text: "done" }] };
    },
  );
  if (process.env.BENCH_WORKLOADS === "1") addWorkloads(server);
  return server;
}

// The workloads of bench/workloads.py that Node.js has an equivalent for (no blocking call):
// `wait` (50 ms without blocking), `length` (of a 256 KiB argument) and the 1 MiB resource.
const TOOL_MS = 50;
const SENTENCE = "The quick brown fox jumps over the lazy dog. ";
const PAYLOAD_URI = "bench://payload";
const PAYLOAD = SENTENCE.repeat(Math.ceil((1024 * 1024) / SENTENCE.length) + 1).slice(
  0,
  1024 * 1024,
);

function addWorkloads(server) {
  server.registerTool(
    "wait",
    {
      description: "Wait 50 ms without blocking, then return the text.",
      inputSchema: { text: z.string() },
    },
    async ({ text }) => {
      await new Promise((resolve) => setTimeout(resolve, TOOL_MS));
      return { content: [{ type: "text", text }] };
    },
  );
  server.registerTool(
    "length",
    { description: "The number of characters of the data.", inputSchema: { data: z.string() } },
    async ({ data }) => ({ content: [{ type: "text", text: String(data.length) }] }),
  );
  server.registerResource(
    "payload",
    PAYLOAD_URI,
    { description: "1 MiB of text.", mimeType: "text/plain" },
    async () => ({ contents: [{ uri: PAYLOAD_URI, mimeType: "text/plain", text: PAYLOAD }] }),
  );
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
}

function reject(res, status, message) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
}

const http = createServer(async (req, res) => {
  try {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"status":"ok"}');
      return;
    }
    if (req.url !== "/mcp" && !req.url.startsWith("/mcp?")) return reject(res, 404, "Not found");
    const body = req.method === "POST" ? await readBody(req) : undefined;
    const sessionId = req.headers["mcp-session-id"];
    let transport = sessionId ? transports.get(sessionId) : undefined;
    if (!transport && sessionId) return reject(res, 404, "Session not found");
    if (!transport) {
      if (req.method !== "POST" || !isInitializeRequest(body)) {
        return reject(res, 400, "Bad Request: No valid session ID provided");
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: args.json,
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      transport.onclose = () => transport.sessionId && transports.delete(transport.sessionId);
      await buildServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  } catch (error) {
    if (!res.headersSent) reject(res, 500, String(error));
  }
});

process.on("SIGTERM", () => {
  http.close();
  process.exit(0);
});
http.listen(Number(args.port), args.host);
