// A TypeScript SDK 1.x client that authorizes itself with OAuth 2.1 before its session,
// driven by the tests. Prints one JSON object with what it saw.
//
//   node ts_oauth_client.mjs URL code
//       an in-memory OAuthClientProvider: discovery from the 401, dynamic registration,
//       /authorize followed by fetch (no browser) up to its redirect, then the SDK's
//       documented pattern: connect() throws UnauthorizedError, transport.finishAuth(code),
//       connect again on a new transport.
//   node ts_oauth_client.mjs URL client-credentials CLIENT_ID CLIENT_SECRET ISSUER SCOPE
//       the SDK's ClientCredentialsProvider (no user, so connect() authorizes by itself).
//       Its token request asks for SCOPE only: SDK 1.x's fetchToken() passes
//       clientMetadata.scope, never the PRM's or a 403's scope, to prepareTokenRequest().
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const url = new URL(process.argv[2]);
const flow = process.argv[3];
const REDIRECT_URL = "http://127.0.0.1:3030/callback"; // never contacted: fetch stops at the 302

// Every HTTP exchange the SDK makes (MCP and OAuth alike), in order.
const exchanges = [];
async function loggedFetch(input, init) {
  const response = await fetch(input, init);
  const headers = new Headers(init?.headers);
  exchanges.push({
    method: init?.method ?? "GET",
    url: String(input instanceof Request ? input.url : input),
    status: response.status,
    bearer: (headers.get("authorization") ?? "").startsWith("Bearer "),
  });
  return response;
}

// The OAuthClientProvider interface (client/auth.d.ts), everything in memory.
class MemoryProvider {
  constructor() {
    this.clientInfo = undefined;
    this.savedTokens = undefined;
    this.verifier = undefined;
    this.expectedState = crypto.randomUUID();
    this.authorizationUrls = [];
    this.back = {};
  }
  get redirectUrl() {
    return REDIRECT_URL;
  }
  get clientMetadata() {
    return {
      client_name: "mcpfleet-tests-ts",
      redirect_uris: [REDIRECT_URL],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state() {
    return this.expectedState;
  }
  clientInformation() {
    return this.clientInfo;
  }
  saveClientInformation(info) {
    this.clientInfo = info;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens) {
    this.savedTokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  // The user agent: GET the authorization URL, stop at its redirect, keep what it carried.
  async redirectToAuthorization(authorizationUrl) {
    this.authorizationUrls.push(String(authorizationUrl));
    const response = await fetch(authorizationUrl, { redirect: "manual" });
    const location = response.headers.get("location");
    if (response.status !== 302 || !location?.startsWith(REDIRECT_URL)) {
      throw new Error(`authorization refused: HTTP ${response.status} ${await response.text()}`);
    }
    this.back = Object.fromEntries(new URL(location).searchParams);
  }
}

function newClient() {
  return new Client({ name: "mcpfleet-tests-ts", version: "1.0.0" }, { capabilities: {} });
}

async function session(client, transport, seen) {
  seen.protocolVersion = transport.protocolVersion;
  seen.sessionId = transport.sessionId;
  const whoami = await client.callTool({ name: "whoami", arguments: {} });
  seen.whoami = JSON.parse(whoami.content[0].text);
  const read = await client.callTool({ name: "read_doc", arguments: { doc: "plan" } });
  seen.read = read.content[0].text;
  await transport.terminateSession();
  await client.close();
}

// A failure shows the exchanges so far, for the test's assertion message.
process.on("uncaughtException", (error) => {
  console.error(error);
  console.error(JSON.stringify(exchanges, null, 1));
  process.exit(1);
});

const seen = {};
if (flow === "code") {
  const provider = new MemoryProvider();
  let client = newClient();
  let transport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: loggedFetch });
  try {
    await client.connect(transport);
    seen.firstConnect = "connected";
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    seen.firstConnect = "UnauthorizedError";
    seen.stateMatched = provider.back.state === provider.expectedState;
    seen.iss = provider.back.iss ?? null;
    await transport.finishAuth(provider.back.code);
    client = newClient();
    transport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: loggedFetch });
    await client.connect(transport);
  }
  await session(client, transport, seen);
  seen.authorizationUrls = provider.authorizationUrls;
  seen.registeredClientId = provider.clientInfo?.client_id ?? null;
  seen.accessToken = provider.savedTokens?.access_token ?? null;
  seen.refreshToken = Boolean(provider.savedTokens?.refresh_token);
} else if (flow === "client-credentials") {
  const [clientId, clientSecret, expectedIssuer, scope] = process.argv.slice(4);
  const provider = new ClientCredentialsProvider({ clientId, clientSecret, expectedIssuer, scope });
  const client = newClient();
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider, fetch: loggedFetch });
  await client.connect(transport);
  await session(client, transport, seen);
  seen.accessToken = provider.tokens()?.access_token ?? null;
} else {
  throw new Error(`unknown flow ${flow}`);
}
seen.exchanges = exchanges;
console.log(JSON.stringify(seen));
