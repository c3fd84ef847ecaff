// Streaming as SDK users read it (the async iterator and choices[0].delta), stream_options,
// models.retrieve, and the response fields of the reference (system_fingerprint,
// message.refusal, usage details). Run by tests/e2e/sdk_test.cpp (tests/sdk/README.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const model = process.env.GENGYUN_MODEL;
const messages = [{ role: 'user', content: 'Count to five.' }];

test('a stream reads with choices[0].delta on every chunk and ends with the usage', async () => {
  const stream = await client.chat.completions.create(
      { model, messages, max_tokens: 6, temperature: 0, stream: true });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    const delta = chunk.choices[0].delta;  // a TypeError if a chunk had no choices
    text += delta.content ?? '';
    if (chunk.choices[0].finish_reason) {
      finish = chunk.choices[0].finish_reason;
      usage = chunk.usage;
    }
    assert.match(chunk.system_fingerprint, /^fp_[0-9a-f]{12}$/);
  }
  assert.ok(['stop', 'length'].includes(finish));
  assert.ok(usage, 'the chunk with the finish_reason carries the usage');
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  const whole = await client.chat.completions.create(
      { model, messages, max_tokens: 6, temperature: 0 });
  assert.equal(text, whole.choices[0].message.content);
  assert.deepEqual(usage, whole.usage);
});

test('stream_options.include_usage adds a last chunk with empty choices', async () => {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 4, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, 4);
  assert.ok(chunks.slice(0, -1).every((c) => c.usage === undefined || c.usage === null));
  assert.ok(chunks.slice(0, -1).every((c) => c.choices.length === 1));
});

test('the SDK stream helper accumulates the completion', async () => {
  const runner = client.chat.completions.stream(
      { model, messages, max_tokens: 5, temperature: 0 });
  const completion = await runner.finalChatCompletion();
  const whole = await client.chat.completions.create(
      { model, messages, max_tokens: 5, temperature: 0 });
  assert.equal(completion.choices[0].message.content, whole.choices[0].message.content);
});

test('a completion has the reference fields', async () => {
  const completion = await client.chat.completions.create(
      { model, messages, max_tokens: 3, temperature: 0 });
  assert.match(completion.system_fingerprint, /^fp_[0-9a-f]{12}$/);
  assert.equal(completion.choices[0].message.refusal, null);
  assert.equal(completion.choices[0].logprobs, null);
  assert.equal(typeof completion.usage.prompt_tokens_details.cached_tokens, 'number');
  // (the tiny model's template reasons: its random answer may open <think>)
  const reasoning = completion.usage.completion_tokens_details.reasoning_tokens;
  assert.equal(reasoning > 0, Boolean(completion.choices[0].message.reasoning_content));
  assert.ok(reasoning <= completion.usage.completion_tokens);
});

test('legacy completions stream with the SDK iterator', async () => {
  const stream = await client.completions.create(
      { model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true });
  let text = '';
  let last;
  for await (const chunk of stream) {
    text += chunk.choices[0].text;
    last = chunk;
  }
  assert.equal(last.choices[0].finish_reason, 'length');
  assert.equal(last.usage.completion_tokens, 5);
  const whole = await client.completions.create(
      { model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
  assert.equal(text, whole.choices[0].text);
});

test('models.retrieve answers the model, NotFoundError for an unknown one', async () => {
  const m = await client.models.retrieve(model);
  assert.equal(m.id, model);
  assert.equal(m.object, 'model');
  assert.equal(m.owned_by, 'gengyun');
  await assert.rejects(client.models.retrieve('no-such-model'),
                       (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
});
