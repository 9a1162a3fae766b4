// The official TypeScript SDK's client against an MCP endpoint: lists the
// tools and makes the calls given, printing one JSON object. The SDK is
// the one the conformance suite installs (MCP_SDK_DIR names its folder).
//   node tsclient.mjs URL TOKEN '[{"name":"tool","arguments":{}}]'
import { pathToFileURL } from "node:url";

const [url, token, callsJSON] = process.argv.slice(2);
const sdk = process.env.MCP_SDK_DIR;
const { Client } = await import(pathToFileURL(sdk + "/dist/esm/client/index.js"));
const { StreamableHTTPClientTransport } = await import(pathToFileURL(sdk + "/dist/esm/client/streamableHttp.js"));

const client = new Client({ name: "ts-e2e", version: "1.0.0" });
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: "Bearer " + token } },
});
const out = { tools: [], calls: [] };
try {
  await client.connect(transport);
  out.protocolVersion = transport.protocolVersion;
  let cursor;
  do {
    const page = await client.listTools({ cursor });
    out.tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  for (const c of JSON.parse(callsJSON || "[]")) {
    const res = await client.callTool({ name: c.name, arguments: c.arguments });
    const text = (res.content || []).filter((x) => x.type === "text").map((x) => x.text).join("\n");
    out.calls.push({ name: c.name, isError: !!res.isError, text });
  }
  await transport.terminateSession().catch(() => {});
  await client.close();
} catch (e) {
  out.error = String(e && e.message ? e.message : e);
}
console.log(JSON.stringify(out));
process.exit(out.error ? 1 : 0);
