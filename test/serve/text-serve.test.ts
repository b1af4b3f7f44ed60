// nabla serve with text models: BYTES inputs tokenised in the server give the CLI's answers,
// /generate streams server-sent events whose tokens are what generate() gives, and bad text input
// is a 400 JSON answer while the server keeps serving.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { manualSeed, serve, type ServeHandle } from '../../src/index.js';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.js';
import { generate } from '../../src/models/generate.js';
import { GPT, TextTransformerClassifier } from '../../src/models/text.js';
import { predictTexts } from '../../src/cli/eval-text.js';
import { CharTokenizer } from '../../src/text/tokenizer.js';
import { postJson, tempDir } from './helpers.js';

const tmp = tempDir();
let srv: ServeHandle;
const tok = CharTokenizer.fromCorpus('abcdefghijklmnopqrstuvwxyz .');
const files = { 'tokenizer.json': JSON.stringify(tok.toJSON()) };

before(async () => {
  manualSeed(7);
  saveModelDir(`${tmp.dir}/clf`, new TextTransformerClassifier(tok.vocabSize, 2, { dModel: 16, nhead: 2, numLayers: 1, dimFeedforward: 16, maxLen: 12 }),
    { input: { shape: [12], kind: 'text', maxLength: 12, task: 'classification' }, output: 'logits', classes: ['ham', 'spam'] }, { files });
  saveModelDir(`${tmp.dir}/lm`, new GPT(tok.vocabSize, { nLayer: 1, nHead: 2, dModel: 16, contextLength: 16 }),
    { input: { shape: [16], kind: 'text', maxLength: 16, task: 'language-model' }, output: 'logits', classes: [] }, { files });
  srv = await serve({ models: [`clf=${tmp.dir}/clf`, `lm=${tmp.dir}/lm`], port: 0 });
  await srv.loaded;
});
after(async () => {
  await srv.close();
  tmp.cleanup();
});

const bytes = (data: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ inputs: [{ name: 'input', datatype: 'BYTES', shape: [data.length], data, ...extra }] });

describe('serve: text models', () => {
  it('BYTES inputs are tokenised in the server and answer as nabla predict --text does (truncation reported)', async () => {
    const texts = ['free cash now', 'a', '', 'this text is longer than twelve characters'];
    const r = await postJson(`${srv.url}/v2/models/clf/infer`, bytes(texts));
    assert.equal(r.status, 200, r.text);
    const probs = r.json.outputs.find((o: { name: string }) => o.name === 'probabilities').data as number[];
    const want = predictTexts(loadModelDir(`${tmp.dir}/clf`), `${tmp.dir}/clf`, texts);
    want.forEach((w, i) => assert.ok(Math.abs(probs[i * 2 + 1]! - w.probabilities.spam!) < 1e-5, `${texts[i]}: ${probs[i * 2 + 1]} vs ${w.probabilities.spam}`));
    assert.equal(r.json.parameters.truncated, 2); // 'free cash now' (13 characters) and the last text
    const md = await (await fetch(`${srv.url}/v2/models/clf`)).json();
    assert.deepEqual(md.inputs, [{ name: 'input', datatype: 'BYTES', shape: [-1] }]);
  });

  it('bad text requests are 400 JSON and the server keeps serving', async () => {
    const cases: [string, string, RegExp][] = [
      ['clf/infer', JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 12], data: new Array(12).fill(0) }] }), /expected "BYTES"/],
      ['clf/infer', bytes([3]), /data\[0\]: expected a string/],
      ['clf/infer', bytes(['a', 'b'], { shape: [3] }), /expected \[2\]/],
      ['lm/infer', bytes(['a']), /language model: POST \/v2\/models\/lm\/generate/],
      ['clf/generate', JSON.stringify({ text_input: 'a' }), /text classifier/],
      ['lm/generate', JSON.stringify({ text_input: '' }), /prompt is empty/],
      ['lm/generate', JSON.stringify({ text_input: 'a'.repeat(17) }), /17 tokens long; the model's context is 16/],
      ['lm/generate', JSON.stringify({ text_input: 'a', parameters: { temperature: -1 } }), /temperature/],
      ['lm/generate', JSON.stringify({ text_input: 'a', parameters: { beams: 2 } }), /unknown "beams"/],
      ['lm/generate', JSON.stringify({ prompt: 'a' }), /text_input: expected the prompt/],
    ];
    for (const [path, body, re] of cases) {
      const r = await postJson(`${srv.url}/v2/models/${path}`, body);
      assert.equal(r.status, 400, `${path} ${body}: ${r.text}`);
      assert.match(r.json.error, re);
    }
    assert.equal((await fetch(`${srv.url}/v2/health/ready`)).status, 200);
  });

  it('/generate streams one event per token, the same tokens as generate(), then a done event', async () => {
    const res = await fetch(`${srv.url}/v2/models/lm/generate`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text_input: 'the cat', parameters: { max_tokens: 12, seed: 3, top_k: 4 } }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/event-stream/);
    const events = (await res.text()).trim().split('\n\n');
    const tokens = events.filter((e) => e.startsWith('data: ')).map((e) => JSON.parse(e.slice(6)).token_id as number);
    const done = events.find((e) => e.startsWith('event: done'))!;
    const { model } = loadModelDir(`${tmp.dir}/lm`);
    const want = generate(model as unknown as GPT, tok.encode('the cat'), { maxTokens: 12, seed: 3, topK: 4, eosId: tok.eosId }); // the server stops at the tokenizer's eos
    assert.equal(want.length, 12, 'this seed samples no eos: all 12 tokens stream');
    assert.deepEqual(tokens, want);
    assert.equal(JSON.parse(done.split('\n')[1]!.slice(6)).text_output, tok.decode(want));
    const plain = await postJson(`${srv.url}/v2/models/lm/generate`, JSON.stringify({ text_input: 'the cat', parameters: { max_tokens: 12, seed: 3, top_k: 4, stream: false } }));
    assert.equal(plain.json.text_output, tok.decode(want));
  });
});
