// The byte-level JSON body reader must give what JSON.parse gives (values, -0, errors), with one
// difference: a "data" array of in-range numbers arrives as the Float32Array of those numbers.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nestsDeeperThan, parseJsonBody } from '../../src/serve/json-body.js';

/** JSON.parse's value with every "data" array of in-range numbers as a Float32Array, as the reader promises. */
function expected(text: string): unknown {
  return JSON.parse(text, function (key, v: unknown) {
    if (key === 'data' && Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && x <= 3.4028234663852886e38 && x >= -3.4028234663852886e38)) {
      return new Float32Array(v as number[]);
    }
    return v;
  });
}

/** deepEqual that tells -0 from 0 and compares typed arrays bit for bit. */
function same(a: unknown, b: unknown, path = '$'): void {
  if (a instanceof Float32Array || b instanceof Float32Array) {
    assert.ok(a instanceof Float32Array && b instanceof Float32Array, `${path}: Float32Array on one side only`);
    assert.deepEqual(new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length), `${path}: values differ`);
    return;
  }
  if (typeof a === 'number') {
    assert.ok(Object.is(a, b), `${path}: ${a} vs ${String(b)}`);
    return;
  }
  if (a === null || typeof a !== 'object') {
    assert.equal(a, b, path);
    return;
  }
  assert.equal(Array.isArray(a), Array.isArray(b), `${path}: array on one side only`);
  assert.equal(Object.getPrototypeOf(a), Object.getPrototypeOf(b), `${path}: prototypes differ`);
  assert.deepEqual(Object.keys(a), Object.keys(b as object), `${path}: keys differ`);
  for (const k of Object.keys(a)) same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
}

function check(text: string): void {
  let want: unknown;
  let wantError: unknown;
  try {
    want = expected(text);
  } catch (e) {
    wantError = e;
  }
  let got: unknown;
  let gotError: unknown;
  try {
    got = parseJsonBody(Buffer.from(text, 'utf8'));
  } catch (e) {
    gotError = e;
  }
  if (wantError) {
    assert.ok(gotError instanceof SyntaxError, `${JSON.stringify(text)}: JSON.parse throws, the reader returned ${String(got)}`);
    assert.equal((gotError as Error).message, (wantError as Error).message);
  } else {
    assert.equal(gotError, undefined, `${JSON.stringify(text)}: the reader threw ${String(gotError)}`);
    same(got, want, JSON.stringify(text).slice(0, 80));
  }
}

/** Seeded xorshift in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

describe('serve: JSON body reader', () => {
  it('reads an inference request: data as a Float32Array, everything else as JSON.parse does', () => {
    const text = '{"id":"a1","inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[0.1, -0, 1e-7 ,3.25E+2]}],"outputs":[{"name":"class"}]}';
    const v = parseJsonBody(Buffer.from(text)) as { inputs: { data: unknown; shape: unknown }[] };
    assert.ok(v.inputs[0]!.data instanceof Float32Array);
    assert.deepEqual(v.inputs[0]!.shape, [1, 4]);
    check(text);
  });

  it('matches JSON.parse on numbers of every form, exact to the last bit', () => {
    const r = rng(7);
    const nums: string[] = ['0', '-0', '0.0', '-0.0e5', '1', '-1', '123456789012345', '1234567890123456789', '0.1', '0.3', '1e22', '1e23', '1e-22', '1e-23', '9007199254740993', '2.2250738585072014e-308', '5e-324', '1e308', '1e309', '-1e400', '3.4028234663852886e38', '3.4028235e38', '1.7976931348623157e308', '0.000001234', '12.5e-3', '1E2', '1e+2', '0e999999999'];
    for (let k = 0; k < 3000; k++) {
      const v = (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
      nums.push(r() < 0.5 ? String(v) : v.toPrecision(1 + Math.floor(r() * 20)));
      nums.push(String(Math.fround(r())), r().toFixed(Math.floor(r() * 12)));
    }
    for (const n of nums) check(n);
    check(`{"data":[${nums.join(',')}]}`);
    check(`{"data":[${nums.filter((n) => !/e3\d\d|e4/.test(n)).join(',')}]}`);
  });

  it('matches JSON.parse on strings, nesting, mixed and empty data, duplicate and __proto__ keys', () => {
    for (const text of [
      '{}', '[]', ' [ ] ', 'true', 'null', '"x"', '{"a":{"b":[1,[2,{"c":null}]]}}', '{"a":1,"a":2}',
      '{"s":"tab\\tnew\\nline \\u00e9 \\ud83d\\ude00 \\"q\\" \\\\"}', '{"é":"ünï"}', '{"data":[]}', '{"data":[1,"2",3]}',
      '{"data":[[1,2],[3,4]]}', '{"data":[1,2,null]}', '{"data":{"data":[5]}}', '{"data":[1e39,2]}', '{"data":["a",1]}',
      '{"__proto__":{"polluted":1},"x":1}', '{"constructor":{"prototype":1}}', '\t\r\n{ "a" : [ 1 , 2 ] }\n',
      '{"s":"\\ud800"}',
    ]) check(text);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it('throws JSON.parse\'s own error on malformed input, and agrees on random mutations of a request', () => {
    for (const text of [
      '', ' ', '{', '}', '[1,]', '[,1]', '{"a":1,}', '{,}', '{"a" 1}', '{a:1}', "{'a':1}", '01', '1.', '.5', '+1', '-', '-a', '1e', '1e+',
      '[1 2]', 'tru', 'nul', '"abc', '"a\u0001b"', '"\\x"', '{"data":[1,2', '{"data":[1,,2]}', '[1]x', '\ufeff{}', 'NaN', 'Infinity', '[-]',
    ]) check(text);
    const base = '{"id":"r","inputs":[{"name":"input","shape":[2,3],"datatype":"FP32","data":[0.5,1,-2.25e-3,0,1e3,7]}],"outputs":[{"name":"logits"}]}';
    const r = rng(11);
    const alphabet = '{}[],:"\\ -+.eE0123456789atrufnl';
    for (let k = 0; k < 4000; k++) {
      const chars = [...base];
      for (let m = 1 + Math.floor(r() * 3); m > 0; m--) {
        const at = Math.floor(r() * chars.length);
        const op = r();
        const c = alphabet[Math.floor(r() * alphabet.length)]!;
        if (op < 0.4) chars[at] = c;
        else if (op < 0.7) chars.splice(at, 1);
        else chars.splice(at, 0, c);
      }
      check(chars.join(''));
    }
  });

  it('measures nesting on the bytes, skipping strings', () => {
    assert.equal(nestsDeeperThan(Buffer.from('[[[1]]]'), 3), false);
    assert.equal(nestsDeeperThan(Buffer.from('[[[[1]]]]'), 3), true);
    assert.equal(nestsDeeperThan(Buffer.from('["[[[[", {"a":"\\"[[[["}]'), 3), false);
    check(`${'['.repeat(300)}1${']'.repeat(300)}`); // deeper than the reader recurses: JSON.parse's answer
  });
});
