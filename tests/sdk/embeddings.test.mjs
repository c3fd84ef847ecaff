// /v1/embeddings through the official openai SDK: strings, arrays, token ids, `dimensions`,
// base64 (the SDK's default wire format, decoded by it) against explicit floats, llama.cpp's
// vectors, and refusals as the SDK's typed BadRequestError. Run by tests/e2e/sdk_test.cpp
// (environment: OPENAI_BASE_URL, OPENAI_API_KEY, GENGYUN_MODEL, GENGYUN_EMBEDDING_MODEL,
// GENGYUN_EMBEDDING_REFERENCE).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const model = process.env.GENGYUN_EMBEDDING_MODEL;
const reference = JSON.parse(readFileSync(process.env.GENGYUN_EMBEDDING_REFERENCE, 'utf8'));
const cases = reference.cases;

const dot = (a, b) => a.reduce((sum, x, i) => sum + x * b[i], 0);
const unit = (v) => {
  const norm = Math.sqrt(dot(v, v));
  return v.map((x) => x / norm);
};
const floats = (e) => Array.from(e.embedding);

test('strings: unit-length vectors of llama.cpp\'s direction, with usage', async () => {
  const res = await client.embeddings.create({ model, input: cases.map((c) => c.input) });
  assert.equal(res.object, 'list');
  assert.equal(res.model, model);
  assert.equal(res.data.length, cases.length);
  const tokens = cases.reduce((n, c) => n + c.tokens.length + 1, 0);  // EOS appended
  assert.deepEqual(res.usage, { prompt_tokens: tokens, total_tokens: tokens });
  res.data.forEach((e, i) => {
    assert.equal(e.object, 'embedding');
    assert.equal(e.index, i);
    assert.equal(e.embedding.length, reference.n_embd);
    const v = floats(e);
    assert.ok(Math.abs(dot(v, v) - 1) < 1e-5);
    assert.ok(dot(v, unit(cases[i].embedding)) >= 0.99999, cases[i].input);
  });
});

test('base64 (the SDK default) decodes to the float answer exactly', async () => {
  const input = [cases[0].input, 'ok'];
  const decoded = await client.embeddings.create({ model, input });
  // The SDK asked for base64 and decoded it into numbers.
  assert.ok(Array.isArray(decoded.data[0].embedding));
  assert.equal(decoded.data[0].embedding.length, reference.n_embd);
  const explicit = await client.embeddings.create({ model, input, encoding_format: 'float' });
  const raw = await client.embeddings.create({ model, input, encoding_format: 'base64' });
  for (let i = 0; i < input.length; ++i) {
    assert.ok(Array.isArray(explicit.data[i].embedding));
    assert.deepEqual(floats(decoded.data[i]), Array.from(Float32Array.from(explicit.data[i].embedding)));
    const bytes = Buffer.from(raw.data[i].embedding, 'base64');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const little = Array.from({ length: bytes.length / 4 }, (_, k) => view.getFloat32(4 * k, true));
    assert.deepEqual(little, floats(decoded.data[i]));
  }
});

test('token ids, flat and nested, give the vectors of their text', async () => {
  const text = await client.embeddings.create({ model, input: cases[1].input, encoding_format: 'float' });
  const flat = await client.embeddings.create({ model, input: cases[1].tokens, encoding_format: 'float' });
  const nested = await client.embeddings.create({
    model, input: [cases[1].tokens, cases[2].tokens], encoding_format: 'float',
  });
  assert.deepEqual(flat.data[0].embedding, text.data[0].embedding);
  assert.deepEqual(nested.data[0].embedding, text.data[0].embedding);
  assert.equal(nested.data.length, 2);
  assert.equal(nested.usage.prompt_tokens, cases[1].tokens.length + cases[2].tokens.length + 2);
});

test('dimensions truncate, then renormalize', async () => {
  const full = await client.embeddings.create({ model, input: cases[0].input, encoding_format: 'float' });
  const short = await client.embeddings.create({
    model, input: cases[0].input, dimensions: 32, encoding_format: 'float',
  });
  const v = short.data[0].embedding;
  assert.equal(v.length, 32);
  assert.ok(Math.abs(dot(v, v) - 1) < 1e-5);
  const want = unit(full.data[0].embedding.slice(0, 32));
  v.forEach((x, i) => assert.ok(Math.abs(x - want[i]) < 1e-6, `${i}: ${x} vs ${want[i]}`));
});

test('refusals are BadRequestErrors naming their param', async () => {
  const refused = async (body, param) => {
    await assert.rejects(client.embeddings.create({ model, ...body }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === param,
      JSON.stringify(body));
  };
  await refused({ input: '' }, 'input');
  await refused({ input: [] }, 'input');
  await refused({ input: ['a', 'b'], dimensions: reference.n_embd + 1 }, 'dimensions');
  await refused({ input: 'a', model: process.env.GENGYUN_MODEL }, 'model');
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'model');
});
