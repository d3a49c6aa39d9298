// Mint an ephemeral Realtime key with the official Node SDK, against the mock (or the real API).
//
//   OPENAI_BASE_URL=http://127.0.0.1:8080/v1 node mint.mjs
//
// Prints `value=... expires_at=... session=...`, then shows how an API error arrives
// (`error=400 unknown_parameter session.bogus`). Exits 0 when both turn out as expected.
import OpenAI from "openai";

const baseURL = process.env.OPENAI_BASE_URL || "http://127.0.0.1:8080/v1";
const apiKey = process.env.OPENAI_API_KEY || "sk-test";
const client = new OpenAI({ baseURL, apiKey });

async function main() {
  const secret = await client.realtime.clientSecrets.create({
    session: { type: "realtime", model: "gpt-realtime" },
  });
  console.log(`value=${secret.value} expires_at=${secret.expires_at} session=${secret.session.id}`);
  let ok = secret.value.startsWith("ek_");

  try {
    // An unknown field: the API answers 400 and names it in `param`.
    await client.realtime.clientSecrets.create({ session: { type: "realtime", bogus: 1 } });
    console.log("error=none (expected a 400)");
    ok = false;
  } catch (error) {
    if (!(error instanceof OpenAI.APIError)) throw error;
    console.log(`error=${error.status} ${error.code} ${error.param}`);
    ok &&= error.status === 400 && error.code === "unknown_parameter" && error.param === "session.bogus";
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`mint.mjs: ${error}`);
    process.exitCode = 1;
  },
);
