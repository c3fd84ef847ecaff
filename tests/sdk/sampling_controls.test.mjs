// logit_bias, n, structured output (response_format) and the legacy completions' prompt forms
// and echo through the official openai SDK. Run by tests/e2e/sdk_test.cpp.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const model = process.env.GENGYUN_MODEL;
const messages = [{ role: 'user', content: 'Pick a color.' }];

test('logit_bias +100 on a token makes greedy choose it every step', async () => {
  const plain = await client.chat.completions.create(
      { model, messages, max_tokens: 4, temperature: 0, logprobs: true });
  const first = plain.choices[0].logprobs.content[0];
  // The forced token: one that greedy did not choose first, found by its bytes in the answer
  // of the biased request below.
  const forcedId = 15;  // "0" in the tiny model's vocabulary
  const biased = await client.chat.completions.create({
    model, messages, max_tokens: 4, temperature: 0, logprobs: true,
    logit_bias: { [forcedId]: 100 },
  });
  assert.equal(biased.choices[0].message.content, '0000');
  assert.notEqual(first.token, '0');
  await assert.rejects(
      client.chat.completions.create({ model, messages, max_tokens: 1, logit_bias: { 1: 101 } }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'logit_bias');
  await assert.rejects(
      client.chat.completions.create(
          { model, messages, max_tokens: 1, logit_bias: { 99999999: 1 } }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'logit_bias');
});

test('n choices each with their index and finish_reason; usage sums them', async () => {
  const one = await client.chat.completions.create(
      { model, messages, max_tokens: 5, temperature: 0 });
  const three = await client.chat.completions.create(
      { model, messages, max_tokens: 5, temperature: 0, n: 3 });
  assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
  for (const c of three.choices) {
    assert.equal(c.message.content, one.choices[0].message.content);
    assert.equal(c.finish_reason, one.choices[0].finish_reason);
  }
  assert.equal(three.usage.prompt_tokens, one.usage.prompt_tokens);
  assert.equal(three.usage.completion_tokens, 3 * one.usage.completion_tokens);

  const stream = await client.chat.completions.create(
      { model, messages, max_tokens: 5, temperature: 1, seed: 7, n: 2, stream: true });
  const texts = ['', ''];
  const finishes = [null, null];
  let usage = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      texts[c.index] += c.delta.content ?? '';
      if (c.finish_reason) finishes[c.index] = c.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(finishes.every((f) => f === 'stop' || f === 'length'));
  assert.equal(usage.prompt_tokens, one.usage.prompt_tokens);
  const whole = await client.chat.completions.create(
      { model, messages, max_tokens: 5, temperature: 1, seed: 7, n: 2 });
  assert.deepEqual(texts, whole.choices.map((c) => c.message.content));
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test('json_schema (strict): a bounded schema ends by itself and validates', async () => {
  const schema = {
    type: 'object',
    properties: {
      color: { type: 'string', enum: ['red', 'green', 'blue'] },
      bright: { type: 'boolean' },
    },
    required: ['color', 'bright'],
    additionalProperties: false,
  };
  for (const temperature of [0, 1]) {
    const completion = await client.chat.completions.create({
      model, messages, temperature, max_tokens: 64, seed: 3,
      response_format: { type: 'json_schema', json_schema: { name: 'pick', strict: true, schema } },
    });
    const choice = completion.choices[0];
    assert.equal(choice.finish_reason, 'stop', choice.message.content);
    const value = JSON.parse(choice.message.content);
    assert.deepEqual(Object.keys(value), ['color', 'bright']);
    assert.ok(['red', 'green', 'blue'].includes(value.color));
    assert.equal(typeof value.bright, 'boolean');
  }
});

test('json_object answers parse as an object; unsupported schemas are a BadRequestError',
     async () => {
  const completion = await client.chat.completions.create({
    model, messages, temperature: 0, max_tokens: 48, response_format: { type: 'json_object' },
  });
  const text = completion.choices[0].message.content;
  // A random-weights model may not close its object within max_tokens; a prefix is all it owes.
  if (completion.choices[0].finish_reason === 'stop')
    assert.equal(typeof JSON.parse(text), 'object');
  else
    assert.ok(text.startsWith('{'), text);
  await assert.rejects(
      client.chat.completions.create({
        model, messages, max_tokens: 4,
        response_format: { type: 'json_schema',
                           json_schema: { name: 'x', schema: { type: 'string', pattern: 'a+' } } },
      }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'response_format' &&
             /pattern/.test(e.message));
  await assert.rejects(
      client.chat.completions.create(
          { model, messages, max_tokens: 4, response_format: { type: 'xml' } }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'response_format');
});

test('completions: prompt as strings, token ids and arrays of them; echo', async () => {
  const request = { model, max_tokens: 3, temperature: 0 };
  const byText = await client.completions.create({ ...request, prompt: 'Once upon a time' });
  const batch = await client.completions.create(
      { ...request, prompt: ['Once upon a time', 'The sky'] });
  assert.deepEqual(batch.choices.map((c) => c.index), [0, 1]);
  assert.equal(batch.choices[0].text, byText.choices[0].text);
  const sky = await client.completions.create({ ...request, prompt: 'The sky' });
  assert.equal(batch.choices[1].text, sky.choices[0].text);
  assert.equal(batch.usage.prompt_tokens, byText.usage.prompt_tokens + sky.usage.prompt_tokens);

  const ids = [1925, 346, 705, 263, 264, 882];  // "Once upon a time" in the tiny model's vocabulary
  const byIds = await client.completions.create({ ...request, prompt: ids });
  assert.equal(byIds.usage.prompt_tokens, ids.length);
  assert.equal(byIds.choices[0].text, byText.choices[0].text);
  const idBatch = await client.completions.create({ ...request, prompt: [ids, ids] });
  assert.equal(idBatch.choices[1].text, byIds.choices[0].text);

  const echoed = await client.completions.create(
      { ...request, prompt: 'Once upon a time', echo: true });
  assert.equal(echoed.choices[0].text, 'Once upon a time' + byText.choices[0].text);
  const echoedIds = await client.completions.create({ ...request, prompt: ids, echo: true });
  assert.equal(echoedIds.choices[0].text, 'Once upon a time' + byIds.choices[0].text);
  await assert.rejects(
      client.completions.create({ ...request, prompt: 'x', best_of: 2 }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'best_of');
});

test('unknown fields are a BadRequestError naming them; user is a string', async () => {
  const withUser = await client.chat.completions.create(
      { model, messages, max_tokens: 1, user: 'u1' });
  assert.equal(withUser.choices.length, 1);
  await assert.rejects(
      client.chat.completions.create({ model, messages, max_tokens: 1, user: 7 }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'user');
  await assert.rejects(
      client.completions.create({ model, prompt: 'x', max_tokens: 1, suffix: '!' }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'suffix');
});

test('tools in the request reach the template; tool_choice naming another function is refused', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather',
                   parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const withTools = await client.chat.completions.create(
      { model, messages, max_tokens: 1, temperature: 0, tools });
  const without = await client.chat.completions.create(
      { model, messages, max_tokens: 1, temperature: 0 });
  assert.ok(withTools.usage.prompt_tokens > without.usage.prompt_tokens);
  await assert.rejects(
      client.chat.completions.create({ model, messages, max_tokens: 1, tools,
                                       tool_choice: { type: 'function', function: { name: 'f' } } }),
      (e) => e instanceof OpenAI.BadRequestError && e.param === 'tool_choice');
});
