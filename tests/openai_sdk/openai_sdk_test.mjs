// The official `openai` npm client against a real `ovserve serve` (the demo
// checkpoint, generated into a temporary folder: no fixtures needed): chat
// with an image data URL, streaming with usage, n=2, stop strings, logprobs,
// 401, 400 for 13 images, 429 from admission, and a disconnect that frees
// the request. Run by ctest (tests/CMakeLists.txt) with OVSERVE_BIN set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import OpenAI from 'openai';

const bin = process.env.OVSERVE_BIN;
const work = mkdtempSync(join(tmpdir(), 'ovserve-openai-'));
const keyFile = join(work, 'keys');
writeFileSync(keyFile, 'tester sk-test-key\n');

// A valid w x h RGB PNG (CRCs included), so the server decodes a real image.
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < h; y++) {
    const row = Buffer.alloc(1 + 3 * w);
    for (let x = 0; x < w; x++) row.set([(x * 7) & 255, (y * 5) & 255, ((x + y) * 3) & 255], 1 + 3 * x);
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
const imageUrl = 'data:image/png;base64,' + png(64, 48).toString('base64');

// Starts `ovserve serve`; resolves with its HTTP and metrics ports.
function startServer(name, extraArgs) {
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--http-port', '0', '--metrics-port', '0',
    '--threads', '2', '--kv-cache-bytes', '67108864', '--demo-dir', join(work, name, 'demo-tiny'),
    '--drain-timeout-ms', '2000', ...extraArgs];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + log)), 120000);
    const onData = (data) => {
      log += data.toString();
      const ports = log.match(/HTTP \(OpenAI API\) on port (\d+), metrics on port (\d+)/);
      if (ports && log.includes('serving ')) {
        clearTimeout(timer);
        resolve({ child, http: Number(ports[1]), metrics: Number(ports[2]), log: () => log });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
}

async function metric(port, series) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

let main, shedding, client;
before(async () => {
  main = await startServer('main', ['--api-key-file', keyFile]);
  shedding = await startServer('shedding', ['--max-waiting-requests', '0']);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${main.http}/v1`, apiKey: 'sk-test-key', maxRetries: 0 });
});
after(() => {
  main?.child.kill('SIGTERM');
  shedding?.child.kill('SIGTERM');
});

const userText = (text) => [{ role: 'user', content: text }];

test('chat with an image data URL', async () => {
  const r = await client.chat.completions.create({
    model: 'demo-tiny',
    messages: [{ role: 'user', content: [
      { type: 'image_url', image_url: { url: imageUrl } },
      { type: 'text', text: 'What is in the image?' },
    ] }],
    max_tokens: 6, temperature: 0, ignore_eos: true,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  assert.ok(r.ovserve.image_tokens > 0, JSON.stringify(r.ovserve));
  assert.equal(r.usage.prompt_tokens, r.ovserve.prompt_text_tokens + r.ovserve.image_tokens);
  // The same request again: its prompt (image included) comes from the prefix cache.
  const again = await client.chat.completions.create({
    messages: [{ role: 'user', content: [
      { type: 'image_url', image_url: { url: imageUrl } },
      { type: 'text', text: 'What is in the image?' },
    ] }],
    max_tokens: 6, temperature: 0, ignore_eos: true,
  });
  assert.equal(again.choices[0].message.content, r.choices[0].message.content);
  assert.ok(again.usage.prompt_tokens_details.cached_tokens > 0);
});

test('streaming with usage', async () => {
  const stream = await client.chat.completions.create({
    messages: userText('Count to ten.'), max_tokens: 8, temperature: 0, ignore_eos: true,
    stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let first = true;
  for await (const chunk of stream) {
    if (first) {
      assert.equal(chunk.choices[0].delta.role, 'assistant');
      first = false;
    }
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 8);
  const whole = await client.chat.completions.create({
    messages: userText('Count to ten.'), max_tokens: 8, temperature: 0, ignore_eos: true,
  });
  assert.equal(text, whole.choices[0].message.content);
});

test('n = 2 and seeds', async () => {
  const r = await client.chat.completions.create({
    messages: userText('Pick a word.'), max_tokens: 5, n: 2, seed: 7, temperature: 1, ignore_eos: true,
  });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  assert.equal(r.usage.completion_tokens, 10);
  const again = await client.chat.completions.create({
    messages: userText('Pick a word.'), max_tokens: 5, n: 2, seed: 7, temperature: 1, ignore_eos: true,
  });
  assert.deepEqual(again.choices.map((c) => c.message.content), r.choices.map((c) => c.message.content));
});

test('stop strings end the text before them', async () => {
  const free = await client.completions.create({
    model: 'demo-tiny', prompt: 'The weather today is', max_tokens: 24, temperature: 0, ignore_eos: true,
  });
  const text = free.choices[0].text;
  assert.ok(text.length >= 6, JSON.stringify(text));
  const chars = Array.from(text);  // code points: never half a surrogate pair
  const stop = chars.slice(3, 6).join('');
  const cut = await client.completions.create({
    prompt: 'The weather today is', max_tokens: 24, temperature: 0, ignore_eos: true, stop: [stop],
  });
  assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
});

test('logprobs', async () => {
  const r = await client.chat.completions.create({
    messages: userText('Hello'), max_tokens: 4, temperature: 0, ignore_eos: true,
    logprobs: true, top_logprobs: 2,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, 4);
  for (const entry of content) {
    assert.ok(entry.logprob <= 0);
    assert.equal(entry.top_logprobs.length, 2);
    // Greedy: the chosen token is the most likely one.
    assert.equal(entry.top_logprobs[0].logprob, entry.logprob);
    assert.ok(entry.top_logprobs[1].logprob <= entry.top_logprobs[0].logprob);
  }
  assert.equal(content.map((e) => e.token).join(''), r.choices[0].message.content);
});

test('a wrong key is 401', async () => {
  const wrong = new OpenAI({ baseURL: `http://127.0.0.1:${main.http}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

test('13 images is 400 naming the limit', async () => {
  const content = Array.from({ length: 13 }, () => ({ type: 'image_url', image_url: { url: imageUrl } }));
  content.push({ type: 'text', text: 'Too many' });
  await assert.rejects(
    client.chat.completions.create({ messages: [{ role: 'user', content }], max_tokens: 2 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /12/.test(e.message));
});

test('admission sheds with 429', async () => {
  const c = new OpenAI({ baseURL: `http://127.0.0.1:${shedding.http}/v1`, apiKey: 'unused', maxRetries: 0 });
  await assert.rejects(
    c.chat.completions.create({
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: imageUrl } }, { type: 'text', text: 'x' }] }],
      max_tokens: 2,
    }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && /max_waiting_requests/.test(e.message));
  const ok = await c.chat.completions.create({ messages: userText('text is fine'), max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
});

test('a disconnect frees the request', async () => {
  const cancelled = 'ovserve_requests_total{finish_reason="cancelled",frontend="http",status="cancelled"}';
  const before = (await metric(main.metrics, cancelled)) ?? 0;
  const stream = await client.chat.completions.create({
    messages: userText('Tell a very long story.'), max_tokens: 20000, ignore_eos: true, stream: true,
  });
  for await (const chunk of stream) {
    if (chunk.choices[0]?.delta?.content) break; // leaving the loop aborts the response
  }
  let running = -1, count = before;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    running = await metric(main.metrics, 'ovserve_requests_running');
    count = (await metric(main.metrics, cancelled)) ?? 0;
    if (running === 0 && count === before + 1) break;
  }
  assert.equal(running, 0);
  assert.equal(count, before + 1);
  assert.equal(await metric(main.metrics, 'ovserve_kv_cache_usage_ratio'), 0);
});
