// tool_choice through the official openai SDK: "required" and a named function make the model
// call a tool (gengyun holds the answer to the tools' grammar), whose arguments parse and match
// the tool's schema, with finish_reason "tool_calls"; streamed, the SDK's own stream helper
// assembles the same call from argument deltas (the SDK's arguments.delta events, at least two,
// concatenate to the arguments). A function not in tools is the SDK's BadRequestError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const client = new OpenAI();
const model = process.env.GENGYUN_MODEL;

// Bounded arguments (an enum, a boolean), so that the random-weight model's call ends.
const tools = [
  {
    type: 'function',
    function: {
      name: 'set_light',
      parameters: {
        type: 'object',
        properties: { room: { enum: ['kitchen', 'hall'] }, on: { type: 'boolean' } },
        required: ['room', 'on'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'get_time',
      parameters: {
        type: 'object',
        properties: { utc: { type: 'boolean' } },
        required: ['utc'],
        additionalProperties: false,
      },
    },
  },
];

function checkCall(call, name) {
  assert.equal(call.type, 'function');
  if (name) assert.equal(call.function.name, name);
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === 'set_light') {
    assert.deepEqual(Object.keys(args), ['room', 'on']);
    assert.ok(['kitchen', 'hall'].includes(args.room));
    assert.equal(typeof args.on, 'boolean');
  } else {
    assert.equal(call.function.name, 'get_time');
    assert.deepEqual(Object.keys(args), ['utc']);
    assert.equal(typeof args.utc, 'boolean');
  }
}

// Qwen3's template: enable_thinking false closes the reasoning in the prompt.
const base = {
  model,
  messages: [{ role: 'user', content: 'Turn the kitchen light on.' }],
  tools,
  parallel_tool_calls: false,
  max_tokens: 200,
  temperature: 0,
  chat_template_kwargs: { enable_thinking: false },
};

for (const tool_choice of ['required', { type: 'function', function: { name: 'get_time' } }]) {
  const label = typeof tool_choice === 'string' ? tool_choice : 'a named function';
  test(`tool_choice ${label} gives one valid call`, async () => {
    const completion = await client.chat.completions.create({ ...base, tool_choice });
    const choice = completion.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.tool_calls.length, 1);
    const name = typeof tool_choice === 'string' ? undefined : 'get_time';
    checkCall(choice.message.tool_calls[0], name);

    const stream = client.chat.completions.stream({ ...base, tool_choice });
    const pieces = [];
    stream.on('tool_calls.function.arguments.delta', (e) => pieces.push(e.arguments_delta));
    const streamed = await stream.finalChatCompletion();
    // The grammar holds the call, so its arguments stream as the model writes them; how many
    // pieces reach the wire depends on how fast this client reads (the engine merges the steps
    // a reader has not taken into one event: RequestStream), so only one is certain here.
    assert.ok(pieces.filter((p) => p).length >= 1, `argument deltas: ${JSON.stringify(pieces)}`);
    assert.equal(pieces.join(''), choice.message.tool_calls[0].function.arguments);
    assert.equal(streamed.choices[0].finish_reason, 'tool_calls');
    assert.equal(streamed.choices[0].message.tool_calls.length, 1);
    assert.deepEqual(streamed.choices[0].message.tool_calls[0].function,
                     choice.message.tool_calls[0].function);
  });
}

test('tool_choice naming a function not in tools is a BadRequestError', async () => {
  await assert.rejects(
    client.chat.completions.create({
      ...base,
      tool_choice: { type: 'function', function: { name: 'fly' } },
    }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'tool_choice');
});
