// Log-probabilities through the official openai SDK: chat logprobs/top_logprobs, the legacy
// completions logprobs object, streamed and not. Run by tests/e2e/sdk_test.cpp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const model = process.env.GENGYUN_MODEL;
const messages = [{ role: 'user', content: 'Name a color.' }];

/// Checks one chat logprobs entry: bytes match the token, alternatives sorted and within 20.
function checkEntry(entry, top) {
  assert.equal(typeof entry.token, 'string');
  assert.ok(entry.logprob <= 0 && Number.isFinite(entry.logprob));
  assert.ok(Array.isArray(entry.bytes) && entry.bytes.length > 0);
  assert.equal(entry.top_logprobs.length, top);
  for (let i = 1; i < entry.top_logprobs.length; ++i)
    assert.ok(entry.top_logprobs[i - 1].logprob >= entry.top_logprobs[i].logprob);
  const mass = entry.top_logprobs.reduce((sum, t) => sum + Math.exp(t.logprob), 0);
  assert.ok(mass <= 1 + 1e-4, `probabilities sum to ${mass}`);
}

test('greedy chat logprobs: the chosen token is the most likely and spells the answer',
     async () => {
  const completion = await client.chat.completions.create(
      { model, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 });
  const choice = completion.choices[0];
  const content = choice.logprobs.content;
  assert.ok(content.length > 0 && content.length <= 8);
  for (const entry of content) {
    checkEntry(entry, 3);
    assert.deepEqual(entry.top_logprobs[0].bytes, entry.bytes);
    assert.equal(entry.top_logprobs[0].logprob, entry.logprob);
  }
  const bytes = Buffer.from(content.flatMap((e) => e.bytes));
  assert.equal(bytes.toString('utf8'), choice.message.content);
});

test('logprobs without top_logprobs lists no alternatives; off gives null', async () => {
  const on = await client.chat.completions.create(
      { model, messages, max_tokens: 3, temperature: 0, logprobs: true });
  for (const entry of on.choices[0].logprobs.content) checkEntry(entry, 0);
  const off = await client.chat.completions.create(
      { model, messages, max_tokens: 3, temperature: 0 });
  assert.equal(off.choices[0].logprobs, null);
});

test('streamed chat logprobs equal the whole answer\'s', async () => {
  const request = { model, messages, max_tokens: 6, temperature: 0, logprobs: true,
                    top_logprobs: 2 };
  const whole = await client.chat.completions.create(request);
  const stream = await client.chat.completions.create({ ...request, stream: true });
  const streamed = [];
  for await (const chunk of stream)
    if (chunk.choices[0].logprobs) streamed.push(...chunk.choices[0].logprobs.content);
  assert.deepEqual(streamed, whole.choices[0].logprobs.content);
});

test('legacy completions logprobs: tokens, token_logprobs, top_logprobs, text_offset',
     async () => {
  const request = { model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0,
                    logprobs: 2 };
  const whole = await client.completions.create(request);
  const lp = whole.choices[0].logprobs;
  assert.equal(lp.tokens.join(''), whole.choices[0].text);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  assert.equal(lp.top_logprobs.length, lp.tokens.length);
  let offset = 0;
  for (let i = 0; i < lp.tokens.length; ++i) {
    assert.equal(lp.text_offset[i], offset);
    offset += [...lp.tokens[i]].length;
    assert.ok(Object.keys(lp.top_logprobs[i]).length >= 1);
    assert.equal(Math.max(...Object.values(lp.top_logprobs[i])), lp.token_logprobs[i]);
    assert.equal(lp.top_logprobs[i][lp.tokens[i]], lp.token_logprobs[i]);
  }
  const stream = await client.completions.create({ ...request, stream: true });
  const streamed = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for await (const chunk of stream) {
    const part = chunk.choices[0].logprobs;
    if (!part) continue;
    for (const key of Object.keys(streamed)) streamed[key].push(...part[key]);
  }
  assert.deepEqual(streamed, lp);
});

test('top_logprobs out of range is a BadRequestError naming it', async () => {
  await assert.rejects(
      client.chat.completions.create(
          { model, messages, max_tokens: 1, logprobs: true, top_logprobs: 21 }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'top_logprobs');
});
