// A voice agent built with @openai/agents-realtime, tested offline against the mock.
//
// It scripts the "model" on the mock (POST /__mock/replies: call get_weather for Paris, then say the
// answer once the tool's output is back), mints an ek_ key with the official `openai` SDK, and runs a
// RealtimeSession over the WebSocket transport pointed at the mock: `connect({ apiKey, url })`.
// Every server event is also checked against the SDK's own zod schemas: the SDK silently ignores an
// event that fails them ("generic"), so the script collects those and fails if there is any.
//
//   cd examples/node && npm ci
//   MOCK_URL=http://127.0.0.1:8080 node voice-agent.mjs
//
// It prints one JSON line (what the agent did) and exits 0 when the story went as scripted, 1 otherwise.
// MOCK_SCOPE (default "node-voice-agent") keeps its rules and key apart from other tests on the same mock.
import OpenAI from 'openai';
import { RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
import { z } from 'zod';
// The SDK's own parser (not exported by the package), imported by file path to tell which events it drops.
import { parseRealtimeEvent } from './node_modules/@openai/agents-realtime/dist/openaiRealtimeEvents.mjs';

const mockUrl = (process.env.MOCK_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const scope = process.env.MOCK_SCOPE ?? 'node-voice-agent';
const question = 'What is the weather in Paris today?';
const answer = 'It is sunny in Paris, 22 degrees.';
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS ?? 15000);

// 1. Script the model: the first response calls the tool, the one after its output answers.
const replies = [
  { match: { user_text: 'weather' }, tool_calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }] },
  { match: { tool_output: 'get_weather' }, text: answer },
];
const scripted = await fetch(`${mockUrl}/__mock/replies`, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'X-Mock-Scope': scope },
  body: JSON.stringify(replies),
});
if (scripted.status !== 201) {
  console.error(`scripting the replies failed: ${scripted.status} ${await scripted.text()}`);
  process.exit(1);
}

// 2. Mint an ephemeral key as a backend would (the scope travels with the key).
const openai = new OpenAI({
  baseURL: `${mockUrl}/v1`,
  apiKey: process.env.OPENAI_API_KEY ?? 'sk-test',
  defaultHeaders: { 'X-Mock-Scope': scope },
});
const secret = await openai.realtime.clientSecrets.create({
  session: { type: 'realtime', model: 'gpt-realtime' },
});

// 3. The agent and its tool.
const calls = [];
const getWeather = tool({
  name: 'get_weather',
  description: 'The weather in a city today.',
  parameters: z.object({ city: z.string() }),
  execute: async ({ city }) => {
    calls.push(city);
    return `Sunny, 22 degrees in ${city}.`;
  },
});
const agent = new RealtimeAgent({
  name: 'Weather agent',
  instructions: 'Answer questions about the weather with the get_weather tool.',
  tools: [getWeather],
});
const session = new RealtimeSession(agent, { transport: 'websocket', model: 'gpt-realtime' });

const report = { key: secret.value, tool_start: [], tool_end: [], final_text: null, generic: [], errors: [], events: 0 };
session.on('agent_tool_start', (_context, _agent, usedTool, details) => {
  report.tool_start.push({ name: usedTool.name, arguments: details.toolCall.arguments, call_id: details.toolCall.callId });
});
session.on('agent_tool_end', (_context, _agent, usedTool, result) => {
  report.tool_end.push({ name: usedTool.name, result });
});
session.on('error', (error) => {
  report.errors.push(JSON.stringify(error.error ?? error));
});
session.transport.on('*', (event) => {
  report.events += 1;
  const { isGeneric } = parseRealtimeEvent({ data: JSON.stringify(event) });
  if (isGeneric) report.generic.push(event.type);
});

// The final answer: a message in the output of response.done (what the SDK reads after its zod schema).
// The script waits for the rate_limits.updated that follows that response.done: the mock's last event.
let said = null;
session.transport.on('turn_done', (event) => {
  for (const item of event.response.output) {
    if (item.type !== 'message' || item.role !== 'assistant') continue;
    const text = (item.content ?? []).map((part) => part.text ?? part.transcript ?? '').join('');
    if (text) said = text;
  }
});
const finalText = new Promise((resolve) => {
  session.transport.on('*', (event) => {
    if (event.type === 'rate_limits.updated' && said !== null) resolve(said);
  });
});

// 4. Connect over WebSocket with the ek_ key, straight to the mock, and ask.
const realtimeUrl = `${mockUrl.replace(/^http/, 'ws')}/v1/realtime?model=gpt-realtime`;
let timer;
const timeout = new Promise((resolve) => {
  timer = setTimeout(() => resolve(null), TIMEOUT_MS);
});
try {
  await session.connect({ apiKey: secret.value, url: realtimeUrl });
  session.sendMessage(question);
  report.final_text = await Promise.race([finalText, timeout]);
} finally {
  clearTimeout(timer);
  session.close();
}

console.log(JSON.stringify(report));
const ok =
  report.final_text === answer &&
  calls.length === 1 &&
  calls[0] === 'Paris' &&
  report.tool_start.length === 1 &&
  report.tool_end.length === 1 &&
  report.generic.length === 0 &&
  report.errors.length === 0;
process.exit(ok ? 0 : 1);
