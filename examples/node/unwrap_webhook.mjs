// Verify a webhook from the mock (or from OpenAI) with the official Node SDK, as a Node backend would.
//
//   OPENAI_WEBHOOK_SECRET=whsec_... node unwrap_webhook.mjs < delivery.json
//
// Reads `{"body": "<the raw request body>", "headers": {...}}` on stdin, checks the signature
// with `client.webhooks.unwrap`, and prints `type=... call_id=...`. Exits 1 if it does not verify.
import OpenAI from "openai";

const client = new OpenAI({ apiKey: "unused", webhookSecret: process.env.OPENAI_WEBHOOK_SECRET });

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { body, headers } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  const event = await client.webhooks.unwrap(body, headers);
  console.log(`type=${event.type} call_id=${event.data.call_id}`);
}

main().catch((error) => {
  console.error(`unwrap_webhook.mjs: ${error.name}: ${error.message}`);
  process.exitCode = 1;
});
