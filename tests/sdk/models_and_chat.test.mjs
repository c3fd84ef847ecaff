// The basics through the official openai SDK: the model list, a greedy chat completion, and a
// wrong key as the SDK's typed AuthenticationError. Run by tests/e2e/sdk_test.cpp against a
// live `gengyun serve` (environment: OPENAI_BASE_URL, OPENAI_API_KEY, GENGYUN_MODEL).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI();
const model = process.env.GENGYUN_MODEL;

test('models.list has the served model', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes(model), `${model} not in ${JSON.stringify(ids)}`);
});

test('chat.completions.create answers greedily with usage', async () => {
  const completion = await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'Say hello.' }],
    max_tokens: 8,
    temperature: 0,
  });
  assert.equal(completion.object, 'chat.completion');
  assert.equal(completion.choices.length, 1);
  assert.equal(completion.choices[0].message.role, 'assistant');
  assert.equal(typeof completion.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(completion.choices[0].finish_reason));
  assert.ok(completion.usage.prompt_tokens > 0);
  assert.ok(completion.usage.completion_tokens <= 8);
  assert.equal(completion.usage.total_tokens,
               completion.usage.prompt_tokens + completion.usage.completion_tokens);
});

test('a wrong key is an AuthenticationError', async () => {
  const wrong = new OpenAI({ apiKey: 'gy-not-a-key', maxRetries: 0 });
  await assert.rejects(
    wrong.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});
