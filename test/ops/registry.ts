// The op registry (PyTorch's OpInfo): one record per exported op with its sample inputs
// (broadcasting, 0-d, empty, non-contiguous views), dtypes, gradient support and error inputs.
// test/ops/registry.test.ts generates every op test from it and fails when an op exported from
// ops/index.ts has no entry here. Adding an op = its family file + one entry below.

import { AutogradError, AxisError, DTypeError, IndexError, LinAlgError, ShapeError, ValueError } from '../../src/errors.js';
import { Generator } from '../../src/random.js';
import { Tensor, fullLike, tensor } from '../../src/tensor.js';
import * as ops from '../../src/ops/index.js';
import {
  ALL, E, FLOAT, S, SL, T, X, f64, i32, intRejected, notTensor, op, with_,
  type Base, type ErrorInput, type MakeOptions, type Maker, type OpInfo, type Sample,
} from './registry-kit.js';

export * from './registry-kit.js';

/** Exported functions that are not ops, each with the reason it has no entry. */
export const NOT_OPS: Readonly<Record<string, string>> = {
  broadcastView: 'kernel-level helper returning a backend View (no Tensor, no autograd); exercised by every broadcasting sample',
  // The registry's harness runs ops that return one Tensor; these return several. Each is a thin
  // composition of registered ops; test/ops/transformer-ops.test.ts gradchecks every piece and
  // compares values with PyTorch.
  sort: 'returns [values, indices]: argsort (registered) then gather (registered)',
  topk: 'returns [values, indices]: argsort (registered), slice and gather (registered)',
  split: 'returns an array of pieces, each a slice (registered)',
  chunk: 'returns an array of pieces, each a slice (registered), via split',
};

// ---- elementwise -------------------------------------------------------------------------------

function unarySamples(m: Maker, o: MakeOptions = {}, ...extra: unknown[]): Sample[] {
  return [
    S('[3,4]', m.t([3, 4], o), ...extra),
    S('0-d', m.t([], o), ...extra),
    S('empty [0,3]', m.t([0, 3], o), ...extra),
    S('transposed [3,4]', m.t([3, 4], with_(o, T)), ...extra),
    S('sliced [2,3,4]', m.t([2, 3, 4], with_(o, SL)), ...extra),
  ];
}

function unary(name: string, fn: (x: Tensor) => Tensor, o: MakeOptions = {}, extra: Partial<Base> = {}): OpInfo {
  return op({ name, fn, methodName: name, torchFixture: [name], samples: (m) => unarySamples(m, o), errors: () => [notTensor(name)], ...extra });
}

const STEP = 'piecewise constant: the derivative is 0 almost everywhere, so backward returns no gradient';

function binarySamples(m: Maker, a: MakeOptions = {}, b: MakeOptions = a): Sample[] {
  return [
    S('same shape [3,4]', m.t([3, 4], a), m.t([3, 4], b)),
    S('broadcast [3,4] with [4]', m.t([3, 4], a), m.t([4], b)),
    S('broadcast both [2,1,4] with [3,1]', m.t([2, 1, 4], a), m.t([3, 1], b)),
    S('0-d with [2,3]', m.t([], a), m.t([2, 3], b)),
    S('[3,4] with 0-d', m.t([3, 4], a), m.t([], b)),
    S('0-d with 0-d', m.t([], a), m.t([], b)),
    S('tensor with number', m.t([3, 4], a), m.num(b)),
    S('number with tensor', m.num(a), m.t([2, 3], b)),
    S('empty [0,3] with [3]', m.t([0, 3], a), m.t([3], b)),
    S('transposed with sliced', m.t([3, 4], with_(a, T)), m.t([3, 4], with_(b, SL))),
  ];
}

function binaryErrors(name: string): () => ErrorInput[] {
  return () => [
    E('shapes do not broadcast', [f64([1, 2, 3], [3]), f64([1, 2, 3, 4], [4])], ShapeError, name, '[3]', '[4]', 'broadcast'),
    E('no tensor argument', [1, 2], DTypeError, name, 'at least one argument must be a Tensor'),
    E('null argument', [f64([1]), null], DTypeError, name, 'Tensor or a number'),
  ];
}

function binary(name: string, fn: (a: any, b: any) => Tensor, a: MakeOptions = {}, b: MakeOptions = a, extra: Partial<Base> = {}): OpInfo {
  return op({ name, fn, methodName: name, torchFixture: [name], samples: (m) => binarySamples(m, a, b), errors: binaryErrors(name), ...extra });
}

function comparison(name: string, fn: (a: any, b: any) => Tensor): OpInfo {
  const grid: MakeOptions = { grid: true, low: -1, high: 2 };
  return binary(name, fn, {}, {}, {
    supportsGrad: false,
    noGradReason: 'comparison: int32 0/1 output, not differentiable',
    samples: (m) => [...binarySamples(m), S('ties (integer values)', m.t([3, 4], grid), m.t([3, 4], grid)), S('ties broadcast', m.t([2, 1, 4], grid), m.t([3, 1], grid))],
  });
}

const NO_0D_INDEX = { zeroDim: 'a 0-d tensor has no dimension to index (an error input checks it)' };
const MATRICES = { zeroDim: 'operands need at least 1 (matmul) or 2 (linalg) dimensions; error inputs check 0-d' };
const LARGE = 'large sample for the threaded kernel paths; gradients are checked on the small samples';
const IMAGES = { zeroDim: 'images are 4-D [N,C,H,W] (or 3-D); error inputs check other ranks' };

// No Tensor method exists for these (methods.ts); no PyTorch fixture either.
const NO_FIXTURE = { torchFixture: undefined };

// Fake quantisation's backward is the straight-through estimator, not the staircase's derivative
// (0 almost everywhere), so finite differences cannot check it: test/compress/qat.test.ts compares
// forward and backward with torch.fake_quantize_* fixtures instead.
const STE = 'straight-through estimator: a defined gradient, not the derivative finite differences see; checked against PyTorch in test/compress/qat.test.ts';

const POS: MakeOptions = { low: 0.5, high: 2 };
const AWAY: MakeOptions = { away: 0.1 };

const elementwise: OpInfo[] = [
  unary('neg', ops.neg),
  unary('exp', ops.exp),
  unary('log', ops.log, POS),
  unary('sqrt', ops.sqrt, POS),
  unary('abs', ops.abs, AWAY),
  unary('relu', ops.relu, AWAY, {
    samples: (m) => [...unarySamples(m, AWAY), ...(m.ints ? [] : [X('NaN propagates', [NaN, 0, 2], tensor([NaN, -1, 2], { dtype: m.dtype }))])],
  }),
  unary('sigmoid', ops.sigmoid, { low: -4, high: 4 }),
  unary('tanh', ops.tanh),
  unary('sin', ops.sin, {}, NO_FIXTURE),
  unary('cos', ops.cos, {}, NO_FIXTURE),
  unary('square', ops.square, {}, { torchFixture: undefined }),
  unary('reciprocal', ops.reciprocal, { away: 0.5 }, { ...NO_FIXTURE, dtypes: FLOAT, errors: () => [notTensor('reciprocal'), intRejected('reciprocal')] }),
  unary('sign', ops.sign, {}, { torchFixture: undefined, supportsGrad: false, noGradReason: STEP }),
  unary('floor', ops.floor, {}, { ...NO_FIXTURE, supportsGrad: false, noGradReason: STEP }),
  unary('ceil', ops.ceil, {}, { ...NO_FIXTURE, supportsGrad: false, noGradReason: STEP }),
  op({
    name: 'fakeQuantizePerTensorAffine', fn: ops.fakeQuantizePerTensorAffine, dtypes: FLOAT,
    samples: (m) => [
      { ...S('[3,4] on a uint8 grid', m.t([3, 4]), 0.05, 10, 0, 255), skipGrad: STE },
      { ...S('[3,4] on an int8 grid, some values clamped', m.t([3, 4]), 0.004, 0, -128, 127), skipGrad: STE },
      { ...S('0-d', m.t([]), 0.1, 0, -128, 127), skipGrad: STE },
      { ...S('empty [0,3]', m.t([0, 3]), 0.1, 0, -128, 127), skipGrad: STE },
      { ...S('transposed [3,4]', m.t([3, 4], T), 0.05, 128, 0, 255), skipGrad: STE },
      X('ties to even, clamped ends', [-0.5, -0, 0, 1, 1, 1.5], tensor([-9, -0.25, 0.25, 0.75, 1.25, 9], { dtype: m.dtype }), 0.5, 0, -1, 3),
    ],
    errors: () => [
      notTensor('fakeQuantizePerTensorAffine', 0.1, 0, 0, 255),
      intRejected('fakeQuantizePerTensorAffine', 0.1, 0, 0, 255),
      E('scale 0', [tensor([1, 2]), 0, 0, 0, 255], ValueError, 'scale must be finite and positive'),
      E('zero point outside the range', [tensor([1, 2]), 0.1, 300, 0, 255], ValueError, 'zeroPoint must be an integer in [quantMin, quantMax]'),
      E('quantMin > quantMax', [tensor([1, 2]), 0.1, 0, 5, 1], ValueError, 'quantMin ≤ quantMax'),
    ],
  }),
  op({
    name: 'fakeQuantizePerChannelAffine', fn: ops.fakeQuantizePerChannelAffine, dtypes: FLOAT,
    samples: (m) => {
      const sc = (n: number) => tensor(Array.from({ length: n }, (_, i) => 0.01 * (i + 1)), { dtype: m.dtype });
      const zp = (n: number, z = 0) => tensor(new Int32Array(n).fill(z), { dtype: 'int32' });
      return [
        { ...S('[3,4] per row, int8', m.t([3, 4]), sc(3), zp(3), 0, -128, 127), skipGrad: STE },
        { ...S('[3,4] per column, uint8', m.t([3, 4]), sc(4), zp(4, 7), 1, 0, 255), skipGrad: STE },
        { ...S('[2,3,4] axis -1, sliced', m.t([2, 3, 4], SL), sc(4), zp(4), -1, -128, 127), skipGrad: STE },
        { ...S('empty [0,3] per column', m.t([0, 3]), sc(3), zp(3), 1, -128, 127), skipGrad: STE },
      ];
    },
    sampleGaps: { zeroDim: 'a per-channel op needs an axis, which a 0-d tensor lacks' },
    errors: () => [
      notTensor('fakeQuantizePerChannelAffine', tensor([0.1]), tensor(new Int32Array(1), { dtype: 'int32' }), 0, -128, 127),
      E('scale of the wrong length', [tensor([[1, 2], [3, 4]]), tensor([0.1]), tensor(new Int32Array(1), { dtype: 'int32' }), 0, -128, 127], ShapeError, 'scale must be 1-D with 2 values'),
      E('float zero points', [tensor([[1, 2], [3, 4]]), tensor([0.1, 0.1]), tensor([0, 0]), 0, -128, 127], ValueError, 'zeroPoint must be int32'),
      E('axis out of range', [tensor([[1, 2], [3, 4]]), tensor([0.1, 0.1]), tensor(new Int32Array(2), { dtype: 'int32' }), 2, -128, 127], ValueError, 'axis 2 is out of range'),
    ],
  }),
  op({
    name: 'round', fn: ops.round, methodName: 'round', supportsGrad: false, noGradReason: STEP, errors: () => [notTensor('round')],
    samples: (m) => [
      ...unarySamples(m),
      // ties go to the even neighbour, as torch.round: [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.7]
      ...(m.ints ? [] : [X('ties to even', [-2, -2, -0, 0, 2, 2, 4, NaN, Infinity], tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.7, NaN, Infinity], { dtype: m.dtype }))]),
    ],
  }),
  op({
    name: 'leakyRelu', fn: ops.leakyRelu, methodName: 'leakyRelu', torchFixture: ['leaky_relu'],
    samples: (m) => [...unarySamples(m, AWAY), S('slope 0.2', m.t([3, 4], AWAY), 0.2), S('0-d, slope 0.1', m.t([], AWAY), 0.1)],
    errors: () => [notTensor('leakyRelu')],
  }),
  op({
    name: 'clamp', fn: ops.clamp, methodName: 'clamp', torchFixture: ['clamp'],
    samples: (m) => [
      ...unarySamples(m, {}, -0.5, 0.5),
      S('min only', m.t([3, 4]), -0.2),
      S('max only', m.t([3, 4]), null, 0.3),
      S('min > max (all become max)', m.t([3, 4]), 0.5, -0.5),
    ],
    errors: () => [E('neither bound', [f64([1, 2])], ValueError, 'clamp', 'at least one of min and max'), notTensor('clamp', 0, 1)],
  }),
  op({
    name: 'toDType', fn: ops.toDType, methodName: 'to',
    samples: (m) => [
      ...(['float64', 'float32', 'int32'] as const).flatMap((d) => {
        const skip = d === 'float64' ? undefined
          : d === 'int32' ? 'int32 output: not differentiable'
          : 'float32 output: finite differences at eps 1e-6 are below its resolution (RELIABILITY A7)';
        return [
          { ...S(`[3,4] to ${d}`, m.t([3, 4]), d), skipGrad: skip },
          { ...S(`transposed to ${d}`, m.t([3, 4], T), d), skipGrad: skip },
          { ...S(`0-d to ${d}`, m.t([]), d), skipGrad: skip },
        ];
      }),
      S('empty to float64', m.t([0, 2]), 'float64'),
    ],
    errors: () => [E('unknown dtype', [f64([1]), 'float16'], DTypeError, 'to', 'float16'), notTensor('to', 'float32')],
  }),
  binary('add', ops.add),
  binary('sub', ops.sub),
  binary('mul', ops.mul),
  binary('div', ops.div, {}, { away: 0.5 }),
  binary('pow', ops.pow, POS, { low: -2, high: 2 }, {
    samples: (m) => [
      ...binarySamples(m, POS, { low: -2, high: 2 }),
      S('exponent 2', m.t([3, 4]), 2),
      S('exponent 3, negative bases', m.t([3, 4], { low: -2, high: -0.5 }), 3),
      S('exponent 0.5', m.t([3, 4], POS), 0.5),
      S('exponent -1.5', m.t([3, 4], POS), -1.5),
      S('exponent 0', m.t([3, 4], AWAY), 0),
      { ...S('exponent 0 at zero bases (gradient 0, like PyTorch)', ops.mul(m.t([3, 4]), m.mask([3, 4])), 0), expected: [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]] },
    ],
  }),
  binary('maximum', ops.maximum),
  binary('minimum', ops.minimum),
  comparison('eq', ops.eq),
  comparison('ne', ops.ne),
  comparison('lt', ops.lt),
  comparison('le', ops.le),
  comparison('gt', ops.gt),
  comparison('ge', ops.ge),
  op({
    name: 'where', fn: ops.where, torchFixture: ['where'],
    samples: (m) => [
      S('same shape', m.mask([3, 4]), m.t([3, 4]), m.t([3, 4])),
      S('broadcast all three', m.mask([3, 1]), m.t([4]), m.t([])),
      S('broadcast condition', m.mask([4]), m.t([2, 3, 1]), m.t([3, 4])),
      S('0-d', m.mask([]), m.t([]), m.t([])),
      S('number branch', m.mask([3, 4]), m.t([3, 4]), 0),
      S('empty', m.mask([0, 3]), m.t([0, 3]), m.t([3])),
      S('transposed and sliced', m.t([3, 4], { grid: true, low: 0, high: 1, layout: 'transposed' }), m.t([3, 4], T), m.t([3, 4], SL)),
    ],
    errors: () => [
      E('shapes do not broadcast', [i32([1, 0]), f64([1, 2, 3]), f64([1])], ShapeError, 'where', 'broadcast'),
      E('condition not a tensor', [true, f64([1]), f64([2])], DTypeError, 'where', 'condition'),
    ],
  }),
];

// ---- reductions --------------------------------------------------------------------------------

function reduceSamples(m: Maker, o: MakeOptions = {}, empty = true): Sample[] {
  return [
    S('all of [3,4]', m.t([3, 4], o)),
    S('dim 1', m.t([3, 4], o), 1),
    S('dim 1 keepdim', m.t([3, 4], o), 1, true),
    S('dim -1 of [2,3,4]', m.t([2, 3, 4], o), -1),
    S('dims [0,2] keepdim', m.t([2, 3, 4], o), [0, 2], true),
    S('dims [-1,-2]', m.t([2, 3, 4], o), [-1, -2]),
    S('0-d', m.t([], o)),
    S('transposed, dim 0', m.t([3, 4], with_(o, T)), 0),
    S('sliced, all', m.t([2, 3, 4], with_(o, SL))),
    ...(empty ? [S('empty [0,3] over dim 0', m.t([0, 3], o), 0), S('empty [0,3] over dim 1', m.t([0, 3], o), 1), S('empty, all', m.t([0, 3], o))] : []),
  ];
}

const reduceErrors = (name: string) => () => [
  E('dim out of range', [f64([1, 2, 3, 4], [2, 2]), 2], AxisError, name, 'out of range'),
  E('repeated dim', [f64([1, 2, 3, 4], [2, 2]), [0, -2]], AxisError, name, 'repeated'),
  notTensor(name),
];

function reduction(name: string, fn: (...a: any[]) => Tensor, o: MakeOptions = {}, extra: Partial<Base> = {}): OpInfo {
  return op({ name, fn, methodName: name, torchFixture: [name], samples: (m) => reduceSamples(m, o), errors: reduceErrors(name), ...extra });
}

const nanRow = (m: Maker, expected: number[]) => (m.ints ? [] : [X('NaN propagates', expected, tensor([[1, NaN, 3], [2, -1, 0]], { dtype: m.dtype }), 1)]);
const emptyExtreme = (name: string) => E('reduce over an empty dim', [f64([], [0, 3]), 0], ValueError, name, 'size 0');

const reductions: OpInfo[] = [
  reduction('sum', ops.sum),
  reduction('mean', ops.mean),
  reduction('prod', ops.prod, { low: 0.5, high: 1.5 }, { torchFixture: undefined }),
  reduction('logsumexp', ops.logsumexp, {}, {
    samples: (m) => [
      ...reduceSamples(m),
      ...(m.ints ? [] : [X('±inf entries', [Infinity, -Infinity, 2.1269280110429727], tensor([[Infinity, 0, 1], [-Infinity, -Infinity, -Infinity], [-Infinity, 2, 0]], { dtype: m.dtype }), 1)]),
    ],
  }),
  reduction('max', ops.max, {}, { samples: (m) => [...reduceSamples(m, {}, false), S('empty [0,3] over dim 1', m.t([0, 3]), 1), ...nanRow(m, [NaN, 2])], errors: () => [...reduceErrors('max')(), emptyExtreme('max')] }),
  reduction('min', ops.min, {}, { samples: (m) => [...reduceSamples(m, {}, false), S('empty [0,3] over dim 1', m.t([0, 3]), 1), ...nanRow(m, [NaN, -1])], errors: () => [...reduceErrors('min')(), emptyExtreme('min')] }),
  ...(['argmax', 'argmin'] as const).map((name) =>
    op({
      name, fn: ops[name], methodName: name, torchFixture: name === 'argmax' ? ['argmax'] : undefined,
      supportsGrad: false, noGradReason: 'int32 indices, not differentiable',
      samples: (m) => [
        S('all of [4,5]', m.t([4, 5])), S('dim 1', m.t([3, 4]), 1), S('dim 0 keepdim', m.t([3, 4]), 0, true),
        S('dim -1 of [2,3,4]', m.t([2, 3, 4]), -1), S('0-d', m.t([])), S('ties take the first', m.t([3, 4], { grid: true, low: 0, high: 1 }), 1),
        S('transposed', m.t([3, 4], T), 1), S('sliced, all', m.t([2, 3], SL)), S('empty [0,3] over dim 1', m.t([0, 3]), 1),
        X('ties: the first index', name === 'argmax' ? [1, 0] : [0, 2], tensor([[1, 3, 3], [2, 2, 0]], { dtype: m.dtype }), 1),
        ...(m.ints ? [] : [X('the first NaN wins (PyTorch)', [1, 0], tensor([[1, NaN, 3], [NaN, NaN, 0]], { dtype: m.dtype }), 1)]),
      ],
      errors: () => [
        E('empty tensor', [f64([], [0])], ValueError, name, 'empty'),
        E('reduce over a dim of size 0', [f64([], [0, 3]), 0], ValueError, name, 'size 0'),
        E('dim out of range', [f64([1, 2]), 1], AxisError, name, 'out of range'),
        notTensor(name),
      ],
    })),
  ...([['variance', ops.variance, 'var'], ['std', ops.std, 'std']] as const).map(([name, fn, method]) =>
    op({
      name, fn, methodName: method, aliases: name === 'variance' ? ['var_'] : undefined, torchFixture: name === 'variance' ? ['var'] : undefined,
      samples: (m) => [
        S('all', m.t([3, 4])), S('all, correction 0', m.t([3, 4]), undefined, { correction: 0 }),
        S('dim 1', m.t([3, 4]), 1), S('dim 0 keepdim', m.t([3, 4]), 0, { keepdim: true }),
        S('dims [0,2] keepdim', m.t([2, 3, 4]), [0, 2], { keepdim: true }), S('dim -1, correction 0', m.t([2, 3, 4]), -1, { correction: 0 }),
        S('transposed, dim 1', m.t([3, 4], T), 1), S('sliced, all', m.t([2, 3], SL)),
        { ...S('0-d, correction 0', m.t([]), undefined, { correction: 0 }), skipGrad: name === 'std' ? 'zero variance: std = sqrt(0) is not differentiable there (PyTorch gives NaN too)' : undefined },
        S('empty rows', m.t([0, 3]), 1),
      ],
      errors: () => [E('dim out of range', [f64([1, 2]), 3], AxisError, method, 'out of range'), notTensor(method)],
    })),
];

// ---- movement ----------------------------------------------------------------------------------

const M = (name: string, samples: (m: Maker) => Sample[], errors: () => ErrorInput[], extra: Partial<Base> = {}): OpInfo =>
  op({ name, fn: (ops as unknown as Record<string, (...a: any[]) => Tensor>)[name], methodName: name, torchFixture: [name], samples, errors, ...extra });

const X23 = () => f64([1, 2, 3, 4, 5, 6], [2, 3]);

const movement: OpInfo[] = [
  M('contiguous', (m) => [S('transposed', m.t([3, 4], T)), S('sliced', m.t([2, 3], SL)), S('already contiguous', m.t([2, 3])), S('0-d', m.t([])), S('empty', m.t([0, 2], T))],
    () => [notTensor('contiguous')], { torchFixture: undefined }),
  M('reshape', (m) => [
    S('[3,4] to [4,3]', m.t([3, 4]), [4, 3]), S('infer -1', m.t([2, 3, 4]), [2, -1]), S('to 0-d', m.t([1, 1]), []),
    S('from 0-d', m.t([]), [1, 1]), S('empty', m.t([0, 3]), [3, 0]), S('transposed (copies)', m.t([3, 4], T), [12]),
    S('sliced, split last dim (view)', m.t([2, 4], SL), [2, 2, 2]),
  ], () => [
    E('wrong size', [X23(), [4, 2]], ShapeError, 'reshape', 'invalid for input of size 6'),
    E('two -1', [X23(), [-1, -1]], ShapeError, 'reshape', 'only one dimension can be -1'),
    notTensor('reshape', [1]),
  ], { aliases: ['view'] }),
  M('flatten', (m) => [S('all', m.t([2, 3, 4])), S('dims 1..2', m.t([2, 3, 4]), 1, 2), S('0-d', m.t([])), S('transposed', m.t([3, 4], T)), S('empty', m.t([2, 0, 3]), 1)],
    () => [E('start after end', [f64([1], [1, 1, 1]), 2, 1], ValueError, 'flatten', 'startDim'), E('dim out of range', [X23(), 0, 5], AxisError, 'flatten', 'out of range')],
    { torchFixture: undefined }),
  M('permute', (m) => [S('3-d', m.t([2, 3, 4]), [2, 0, 1]), S('negative dims', m.t([2, 3, 4]), [-1, 0, 1]), S('identity', m.t([2, 3]), [0, 1]),
    S('0-d', m.t([]), []), S('transposed input', m.t([3, 4], T), [1, 0]), S('empty', m.t([0, 2, 3]), [2, 0, 1])],
  () => [E('wrong number of dims', [X23(), [0]], ShapeError, 'permute', '1 dims'), E('repeated dim', [X23(), [1, 1]], ValueError, 'permute', 'repeat'), notTensor('permute', [0])]),
  M('transpose', (m) => [S('2-d default', m.t([3, 4])), S('0-d is unchanged', m.t([])), S('dims 0,1', m.t([3, 4]), 0, 1), S('3-d, -1 and 0', m.t([2, 3, 4]), -1, 0),
    S('1-d is unchanged', m.t([4])), S('sliced input', m.t([2, 3], SL), 0, 1), S('empty', m.t([0, 3]), 0, 1)],
  () => [E('dim out of range', [X23(), 0, 2], AxisError, 'transpose', 'out of range'), notTensor('transpose')]),
  M('expand', (m) => [S('column', m.t([3, 1]), [3, 4]), S('new dims, -1', m.t([3, 1]), [2, -1, 4]), S('0-d', m.t([]), [2, 3]), S('same', m.t([2, 3]), [2, 3]),
    S('sliced input', m.t([3, 1], SL), [3, 2]), S('to empty', m.t([1, 3]), [0, 3])],
  () => [E('incompatible size', [X23(), [4, 3]], ShapeError, 'expand', 'must match'), E('fewer dims', [X23(), [6]], ShapeError, 'expand', 'fewer dimensions')]),
  M('squeeze', (m) => [S('dim 1', m.t([3, 1, 4]), 1), S('empty', m.t([0, 1, 3]), 1), S('dim that is not 1', m.t([3, 4]), 0), S('all', m.t([1, 3, 1, 4, 1])), S('dim -1', m.t([3, 4, 1]), -1),
    S('0-d', m.t([]), 0), S('list of dims', m.t([1, 3, 1]), [0, 2]), S('sliced', m.t([3, 1, 4], SL), 1)],
  () => [E('dim out of range', [X23(), 2], AxisError, 'squeeze', 'out of range'), notTensor('squeeze')]),
  M('unsqueeze', (m) => [S('dim 0', m.t([3, 4]), 0), S('dim -1', m.t([3, 4]), -1), S('middle', m.t([3, 4]), 1), S('0-d', m.t([]), 0),
    S('transposed, middle', m.t([3, 4], T), 1), S('empty', m.t([0, 2]), 1)],
  () => [E('dim out of range', [X23(), 3], AxisError, 'unsqueeze', 'out of range'), notTensor('unsqueeze', 0)]),
  M('slice', (m) => [
    S('basic', m.t([3, 5]), 1, 1, 3), S('step 2', m.t([3, 5]), 1, 0, 5, 2), S('negative bounds', m.t([4, 5]), 0, -3, -1),
    S('end clamped', m.t([3, 5]), -1, 2, 100, 2), S('omitted bounds, step 3', m.t([2, 6]), 1, undefined, undefined, 3),
    S('empty result', m.t([3, 5]), 1, 3, 1), S('empty input', m.t([0, 3]), 1, 0, 2), S('3-d middle', m.t([2, 5, 3]), 1, 1, 4, 2), S('of a transposed view', m.t([4, 5], T), 0, 1, 4, 2),
  ], () => [E('0-d input', [f64([1], []), 0, 0, 1], IndexError, 'slice', '0-d'), E('step 0', [X23(), 1, 0, 2, 0], ValueError, 'slice', 'step'), E('dim out of range', [X23(), 2], AxisError, 'slice', 'out of range'), notTensor('slice', 0)], { sampleGaps: NO_0D_INDEX }),
  M('narrow', (m) => [S('dim 1', m.t([3, 5]), 1, 1, 3), S('empty input', m.t([0, 3]), 1, 1, 2), S('length 0', m.t([3, 5]), 0, 1, 0), S('transposed', m.t([3, 4], T), 0, 1, 2)],
    () => [E('0-d input', [f64([1], []), 0, 0, 1], IndexError, 'narrow', '0-d'), E('range out of bounds', [X23(), 1, 2, 2], IndexError, 'narrow', 'out of bounds'), notTensor('narrow', 0, 0, 1)], { torchFixture: undefined, sampleGaps: NO_0D_INDEX }),
  M('select', (m) => [S('dim 0', m.t([3, 4]), 0, 1), S('empty other dim', m.t([0, 3]), 1, 1), S('negative index', m.t([3, 4]), 1, -1), S('1-d to 0-d', m.t([4]), 0, 2), S('transposed', m.t([3, 4], T), 1, 2)],
    () => [E('0-d input', [f64([1], []), 0, 0], IndexError, 'select', '0-d'), E('index out of range', [X23(), 0, 2], IndexError, 'select', 'out of range'), notTensor('select', 0, 0)], { torchFixture: undefined, sampleGaps: NO_0D_INDEX }),
  op({
    name: 'cat', fn: ops.cat, aliases: ['concat'], torchFixture: ['cat'], sampleGaps: { zeroDim: '0-d tensors have no dimension to join along (an error input checks it)' },
    samples: (m) => [
      S('dim 0', [m.t([2, 4]), m.t([3, 4])], 0), S('dim 1', [m.t([3, 2]), m.t([3, 4])], 1),
      S('three, dim -1', [m.t([2, 3, 1]), m.t([2, 3, 2]), m.t([2, 3, 3])], -1), S('with empty', [m.t([0, 4]), m.t([2, 4])], 0),
      S('single', [m.t([2, 3])], 0), S('transposed and sliced', [m.t([3, 4], T), m.t([3, 2], SL)], 1),
    ],
    errors: () => [
      E('empty list', [[], 0], ValueError, 'cat', 'non-empty'),
      E('shapes differ', [[X23(), f64([1, 2], [1, 2])], 0], ShapeError, 'cat', 'tensors[1]'),
      E('dtypes differ', [[X23(), tensor([[1, 2, 3]])], 0], DTypeError, 'cat', 'float32'),
      E('dim out of range', [[X23()], 2], AxisError, 'cat', 'out of range'),
      E('element not a tensor', [[X23(), 3], 0], DTypeError, 'cat', 'tensors[1]'),
      E('0-d tensors', [[f64([1], []), f64([2], [])], 0], ShapeError, 'cat', '0-d'),
    ],
  }),
  op({
    name: 'stack', fn: ops.stack, torchFixture: ['stack'],
    samples: (m) => [
      S('dim 0', [m.t([3, 4]), m.t([3, 4])], 0), S('dim 1 of three', [m.t([3, 4]), m.t([3, 4]), m.t([3, 4])], 1),
      S('dim -1', [m.t([3, 4]), m.t([3, 4])], -1), S('0-d', [m.t([]), m.t([]), m.t([])], 0), S('empty', [m.t([0, 2]), m.t([0, 2])], 1), S('transposed and sliced', [m.t([2, 3], T), m.t([2, 3], SL)], 1),
    ],
    errors: () => [E('empty list', [[], 0], ValueError, 'stack', 'non-empty'), E('shapes differ', [[X23(), f64([1, 2, 3])], 0], ShapeError, 'stack', 'all must match')],
  }),
  M('pad', (m) => [
    S('last dim', m.t([2, 3]), [1, 2]), S('last two dims, value 0.5', m.t([2, 3, 4]), [1, 1, 2, 0], 0.5),
    S('three dims, value -1', m.t([2, 2, 3]), [0, 1, 1, 0, 1, 1], -1), S('negative entries crop', m.t([3, 5]), [-1, 2, 1, -1]),
    S('NCHW', m.t([1, 2, 3, 3]), [1, 1, 1, 1]), S('0-d, no padding', m.t([]), []), S('transposed', m.t([3, 4], T), [2, 1]), S('empty', m.t([0, 2]), [1, 1, 1, 0]),
  ], () => [
    E('odd length', [X23(), [1]], ValueError, 'pad', 'even length'),
    E('crop past the size', [X23(), [-2, -2]], ValueError, 'pad', 'negative size'),
    notTensor('pad', [1, 1]),
  ]),
  M('repeat', (m) => [S('[2,3] by [2,1]', m.t([2, 3]), [2, 1]), S('more reps than dims', m.t([3]), [2, 1, 2]), S('0-d', m.t([]), [3]),
    S('transposed', m.t([2, 3], T), [1, 2]), S('zero reps', m.t([2, 3]), [0, 1]), S('empty input', m.t([0, 2]), [2, 1])],
  () => [E('fewer reps than dims', [X23(), [2]], ValueError, 'repeat', 'at least 2')], { torchFixture: undefined }),
];

// ---- matmul, indexing --------------------------------------------------------------------------

const matmulOps: OpInfo[] = [
  op({
    name: 'matmul', fn: ops.matmul, methodName: 'matmul', aliases: ['mm', 'bmm'], torchFixture: ['matmul'], sampleGaps: MATRICES,
    tolerance: {
      float32: { rtol: 1e-5, atol: 1e-4 },
      reason: 'the float32 kernels of fast backends (wasm, BLAS) accumulate in float32 like PyTorch\'s: error ~ √K·eps32·Σ|a·b|, measured 1.7e-5 at K = 128',
    },
    samples: (m) => [
      S('1-d · 1-d', m.t([4]), m.t([4])), S('2-d · 2-d', m.t([3, 4]), m.t([4, 5])), S('3-d · 3-d', m.t([2, 3, 4]), m.t([2, 4, 5])),
      S('broadcast batch', m.t([2, 1, 3, 4]), m.t([5, 4, 2])), S('1-d · 2-d', m.t([4]), m.t([4, 3])), S('2-d · 1-d', m.t([3, 4]), m.t([4])),
      S('1-d · 3-d', m.t([4]), m.t([2, 4, 3])), S('3-d · 1-d', m.t([2, 3, 4]), m.t([4])), S('3-d · 2-d', m.t([2, 3, 4]), m.t([4, 2])),
      S('empty inner dim', m.t([3, 0]), m.t([0, 2])), S('empty batch', m.t([0, 2, 3]), m.t([3, 2])),
      S('transposed · sliced', m.t([3, 4], T), m.t([4, 2], SL)), S('transposed batch', m.t([2, 3, 4], T), m.t([2, 4, 3], T)),
      { ...S('large: 8 Mflop, threaded kernels', m.t([2, 128, 128]), m.t([128, 128], T)), skipGrad: LARGE },
    ],
    errors: () => [
      E('inner sizes differ', [X23(), X23()], ShapeError, 'matmul', 'cannot be multiplied'),
      E('0-d argument', [f64([1], []), X23()], ShapeError, 'matmul', 'at least 1 dimension'),
      E('int32 with float', [i32([1, 2]), f64([1, 2])], DTypeError, 'matmul', 'same dtype'),
      E('batch dims do not broadcast', [f64([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2]), f64([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 2, 2])], ShapeError, 'matmul', 'broadcast'),
      notTensor('matmul', X23()),
    ],
  }),
  op({
    name: 'dot', fn: ops.dot, sampleGaps: MATRICES,
    samples: (m) => [S('1-d', m.t([4]), m.t([4])), S('sliced', m.t([3], SL), m.t([3])), S('empty', m.t([0]), m.t([0]))],
    errors: () => [E('2-d argument', [X23(), f64([1, 2, 3])], ShapeError, 'dot', '1-D'), notTensor('dot', f64([1]))],
  }),
  op({
    name: 'outer', fn: ops.outer, sampleGaps: MATRICES,
    samples: (m) => [S('[3] ⊗ [4]', m.t([3]), m.t([4])), S('sliced', m.t([3], SL), m.t([2])), S('empty', m.t([0]), m.t([2]))],
    errors: () => [E('2-d argument', [X23(), f64([1, 2, 3])], ShapeError, 'outer', '1-D'), notTensor('outer', f64([1]))],
  }),
];

const indexing: OpInfo[] = [
  op({
    name: 'gather', fn: ops.gather, methodName: 'gather', torchFixture: ['gather'],
    samples: (m) => [
      S('dim 1', m.t([3, 4]), 1, m.idx([3, 2], 4)), S('dim 0', m.t([3, 4]), 0, m.idx([2, 4], 3)), S('smaller index', m.t([3, 4]), 1, m.idx([2, 2], 4)),
      S('dim -1, 3-d, repeats', m.t([2, 3, 4]), -1, m.idx([2, 3, 5], 4)), S('transposed input', m.t([3, 4], T), 1, m.idx([3, 3], 4)),
      S('0-d', m.t([]), 0, m.idx([], 1)), S('empty index', m.t([3, 4]), 1, m.idx([3, 0], 4)),
    ],
    errors: () => [
      E('index out of range', [X23(), 1, i32([0, 3], [2, 1])], IndexError, 'gather', 'out of bounds'),
      E('0-d input, index out of range', [f64([1], []), 0, i32([1], [])], IndexError, 'gather', 'out of bounds'),
      E('index not a tensor', [X23(), 1, [0]], DTypeError, 'gather', 'index'),
      E('float index', [X23(), 1, f64([0, 1], [2, 1])], DTypeError, 'gather', 'int32'),
      E('index rank differs', [X23(), 1, i32([0, 1])], ShapeError, 'gather', 'dims'),
      E('index larger than input', [X23(), 1, i32([0, 0, 0, 0, 0, 0], [3, 2])], ShapeError, 'gather', 'exceeds'),
    ],
  }),
  op({
    name: 'scatterAdd', fn: ops.scatterAdd,
    samples: (m) => [
      S('dim 0 with repeats', [3, 4], 0, m.idx([5, 4], 3), m.t([5, 4])), S('dim 1', [3, 4], 1, m.idx([3, 2], 4), m.t([3, 2])),
      S('transposed src', [2, 3], 1, m.idx([2, 4], 3), m.t([2, 4], T)), S('empty src', [2, 3], 0, m.idx([0, 3], 2), m.t([0, 3])),
      S('0-d', [], 0, m.idx([], 1), m.t([])),
    ],
    errors: () => [
      E('index out of range', [[2, 2], 0, i32([0, 2], [1, 2]), f64([1, 2], [1, 2])], IndexError, 'scatterAdd', 'out of bounds'),
      E('0-d, index out of range', [[], 0, i32([1], []), f64([1], [])], IndexError, 'scatterAdd', 'out of bounds'),
      E('index not a tensor', [[2], 0, [0], f64([1])], DTypeError, 'scatterAdd', 'index'),
      E('index and src shapes differ', [[2, 2], 0, i32([0, 1], [1, 2]), f64([1, 2, 3], [1, 3])], ShapeError, 'scatterAdd', 'share a shape'),
      E('src not a tensor', [[2], 0, i32([0]), 1], DTypeError, 'scatterAdd', 'src'),
    ],
  }),
  op({
    name: 'indexSelect', fn: ops.indexSelect, methodName: 'indexSelect', torchFixture: ['index_select'],
    samples: (m) => [
      S('dim 0', m.t([3, 4]), 0, m.idx([3], 3)), S('dim 1', m.t([3, 4]), 1, m.idx([2], 4)), S('dim -1, 3-d, repeats', m.t([2, 3, 4]), -1, m.idx([5], 4)),
      S('empty index', m.t([3, 4]), 0, m.idx([0], 3)), S('transposed input', m.t([3, 4], T), 1, m.idx([3], 4)), S('0-d index', m.t([3, 4]), 0, m.idx([], 3)),
    ],
    errors: () => [
      E('index out of range', [X23(), 0, i32([2])], IndexError, 'indexSelect', 'out of bounds'),
      E('2-d index', [X23(), 0, i32([0, 1], [1, 2])], ShapeError, 'indexSelect', '1-D'),
      E('float index', [X23(), 0, f64([0])], DTypeError, 'indexSelect', 'int32'),
      E('0-d input', [f64([1], []), 0, i32([0])], ShapeError, 'indexSelect', '0-d'),
      E('index not a tensor', [X23(), 0, [0]], DTypeError, 'indexSelect', 'index'),
      notTensor('indexSelect', 0, i32([0])),
    ],
  }),
];

// ---- in-place ----------------------------------------------------------------------------------

const INPLACE = 'in-place update: refused while gradients are recorded (AutogradError); optimisers use it under noGrad';

function inplace(name: string, inplaceOf: (...a: any[]) => Tensor, samples: (m: Maker) => Sample[], errors: () => ErrorInput[] = () => []): OpInfo {
  return op({
    name, fn: (ops as unknown as Record<string, (...a: any[]) => Tensor>)[name], methodName: name, inplaceOf, samples,
    supportsGrad: false, noGradReason: INPLACE,
    errors: () => [
      E('destination requires grad while recording', [tensor([1, 2], { requiresGrad: true, dtype: 'float64' }), ...(name === 'zero_' ? [] : [1])], AutogradError, name, 'in place'),
      ...errors(),
    ],
  });
}

const inplaceSamples = (m: Maker, b: MakeOptions = {}): Sample[] => [
  S('same shape', m.t([3, 4]), m.t([3, 4], b)), S('broadcast source', m.t([3, 4]), m.t([4], b)), S('number', m.t([3, 4]), m.num(b)),
  S('0-d', m.t([]), m.t([], b)), S('into a transposed view', m.t([3, 4], T), m.t([3, 4], b)), S('into a sliced view', m.t([2, 3], SL), m.t([1, 3], with_(b, T))),
  S('empty', m.t([0, 3]), m.t([3], b)),
  ((a: Tensor) => S('source is a view of the destination (x, x.t())', a, ops.transpose(a)))(m.t([3, 3], b)),
];
const srcTooBig = (name: string) => E('source does not broadcast to the destination', [f64([1, 2, 3]), f64([1, 2, 3, 4, 5, 6], [2, 3])], ShapeError, name);

const inplaceOps: OpInfo[] = [
  inplace('copy_', (x: Tensor, s: Tensor | number) => ops.toDType(ops.expand(s instanceof Tensor ? s : fullLike(x, s), x.shape), x.dtype), inplaceSamples,
    () => [srcTooBig('copy_'), notTensor('copy_', 1)]),
  inplace('fill_', (x: Tensor, v: number) => fullLike(x, v), (m) => [S('value', m.t([3, 4]), m.num()), S('transposed view', m.t([3, 4], T), 2), S('0-d', m.t([]), -1), S('empty', m.t([0, 2]), 1)]),
  inplace('zero_', (x: Tensor) => fullLike(x, 0), (m) => [S('[3,4]', m.t([3, 4])), S('sliced view', m.t([2, 3], SL)), S('0-d', m.t([])), S('empty', m.t([2, 0]))]),
  inplace('add_', (x: Tensor, y: Tensor | number, alpha = 1) => ops.toDType(ops.add(x, alpha === 1 ? y : ops.mul(y, alpha)), x.dtype),
    (m) => [...inplaceSamples(m), S('alpha -0.5', m.t([3, 4]), m.t([3, 4]), -0.5)], () => [srcTooBig('add_')]),
  inplace('sub_', (x: Tensor, y: Tensor | number) => ops.toDType(ops.sub(x, y), x.dtype), inplaceSamples, () => [srcTooBig('sub_')]),
  inplace('mul_', (x: Tensor, y: Tensor | number) => ops.toDType(ops.mul(x, y), x.dtype), inplaceSamples, () => [srcTooBig('mul_')]),
  inplace('div_', (x: Tensor, y: Tensor | number) => ops.toDType(ops.div(x, y), x.dtype), (m) => inplaceSamples(m, { away: 0.5 }), () => [srcTooBig('div_')]),
];


// ---- convolution and pooling -------------------------------------------------------------------

const geo = (kernel: unknown, stride: unknown = 1, padding: unknown = 0, dilation: unknown = 1) => ({ kernel, stride, padding, dilation });
const X4 = () => f64(Array.from({ length: 16 }, (_, i) => i), [1, 1, 4, 4]);
const poolErrors = (name: string) => () => [
  E('padding over half the kernel', [X4(), 2, { padding: 2 }], ValueError, name, 'at most half'),
  E('2-d input', [f64([1, 2, 3, 4], [2, 2]), 2], ShapeError, name, '4-D'),
  E('window larger than the input', [X4(), 5], ShapeError, name, 'larger than the padded input'),
  intRejected(name, 1),
];

const convOps: OpInfo[] = [
  op({
    name: 'im2col', fn: ops.im2col, dtypes: FLOAT, sampleGaps: IMAGES,
    samples: (m) => [
      S('k2', m.t([2, 2, 4, 4]), geo(2)), S('k3 s2 p1, pad value 0.5', m.t([1, 2, 5, 5]), geo(3, 2, 1), 0.5),
      S('non-square, dilation', m.t([1, 2, 5, 6]), geo([2, 3], [1, 2], [1, 0], [2, 1])), S('transposed input', m.t([1, 2, 4, 5], T), geo(2, 2)),
      S('sliced input', m.t([1, 1, 3, 4], SL), geo(2)), S('empty batch', m.t([0, 1, 3, 3]), geo(2)),
      S('batch-inner layout', m.t([2, 2, 4, 5]), geo(3, 1, 1), 0, true), S('batch-inner, transposed input', m.t([3, 1, 4, 5], T), geo(2, 2), 0, true),
    ],
    errors: () => [
      E('3-d input', [f64([1, 2, 3, 4], [1, 2, 2]), geo(2)], ShapeError, 'im2col', '4-D'),
      E('kernel larger than input', [X4(), geo(5)], ShapeError, 'im2col', 'larger than the padded input'),
      E('stride 0', [X4(), geo(2, 0)], ValueError, 'im2col', 'stride'),
    ],
  }),
  op({
    name: 'col2im', fn: ops.col2im, dtypes: FLOAT, sampleGaps: IMAGES,
    samples: (m) => [
      S('k2 on 4x4', m.t([1, 8, 9]), geo(2), [1, 2, 4, 4]), S('k3 s2 p1 on 5x5', m.t([2, 9, 9]), geo(3, 2, 1), [2, 1, 5, 5]),
      S('non-square, dilation', m.t([1, 6, 10]), geo([2, 3], [1, 2], [1, 0], [2, 1]), [1, 1, 5, 6]), S('transposed columns', m.t([1, 4, 9], T), geo(2), [1, 1, 4, 4]),
      S('empty batch', m.t([0, 4, 9]), geo(2), [0, 1, 4, 4]),
      S('batch-inner layout', m.t([4, 2, 9]), geo(2), [2, 1, 4, 4], true), S('batch-inner, k3 s2 p1', m.t([9, 3, 9]), geo(3, 2, 1), [3, 1, 5, 5], true),
    ],
    errors: () => [
      E('columns do not match', [f64([1, 2, 3, 4], [1, 2, 2]), geo(2), [1, 1, 4, 4]], ShapeError, 'col2im', 'do not match'),
      E('bad input shape', [f64([1, 2, 3, 4], [1, 2, 2]), geo(2), [1, 1, 4]], ValueError, 'col2im', 'inputShape'),
    ],
  }),
  op({
    name: 'linear', fn: ops.linear, dtypes: FLOAT, torchFixture: ['linear'], sampleGaps: MATRICES,
    tolerance: {
      float32: { rtol: 1e-5, atol: 1e-4 },
      reason: 'a matrix product: the float32 kernels of fast backends accumulate in float32, as for matmul',
    },
    samples: (m) => [
      S('[4,5] with bias', m.t([4, 5]), m.t([3, 5]), m.t([3])), S('no bias', m.t([4, 5]), m.t([3, 5])),
      S('3-d input', m.t([2, 3, 5]), m.t([4, 5]), m.t([4])), S('1-d input', m.t([5]), m.t([3, 5]), m.t([3])),
      S('one row (gemv)', m.t([1, 6]), m.t([4, 6]), m.t([4])),
      S('transposed input and weight', m.t([4, 5], T), m.t([3, 5], T), m.t([3])), S('sliced input', m.t([2, 3, 5], SL), m.t([4, 5]), null),
      S('empty batch', m.t([0, 5]), m.t([3, 5]), m.t([3])), S('zero in-features', m.t([2, 0]), m.t([3, 0]), m.t([3])),
      { ...S('large: 4 Mflop, threaded kernels', m.t([64, 160]), m.t([200, 160]), m.t([200])), skipGrad: LARGE },
    ],
    errors: () => [
      E('in-features do not match', [f64([1, 2, 3, 4, 5, 6], [2, 3]), f64([1, 2, 3, 4], [2, 2])], ShapeError, 'linear', 'in-features'),
      E('1-d weight', [f64([1, 2], [1, 2]), f64([1, 2])], ShapeError, 'linear', '2-D weight'),
      E('bias of the wrong size', [f64([1, 2], [1, 2]), f64([1, 2, 3, 4], [2, 2]), f64([1, 2, 3])], ShapeError, 'linear', 'bias'),
      E('dtypes differ', [f64([1, 2], [1, 2]), tensor([1, 2, 3, 4], { shape: [2, 2] })], DTypeError, 'linear', 'same dtype'),
      intRejected('linear', i32([1, 2], [1, 2])),
      notTensor('linear', f64([1, 2, 3, 4], [2, 2])),
    ],
  }),
  op({
    name: 'conv2d', fn: ops.conv2d, dtypes: FLOAT, sampleGaps: IMAGES, torchFixture: ['conv2d'],
    samples: (m) => [
      S('basic with bias', m.t([2, 3, 5, 5]), m.t([4, 3, 3, 3]), m.t([4])), S('no bias', m.t([1, 2, 4, 4]), m.t([3, 2, 3, 3])),
      S('stride 2, padding 1', m.t([1, 2, 5, 5]), m.t([3, 2, 3, 3]), m.t([3]), { stride: 2, padding: 1 }),
      S('non-square stride/padding', m.t([1, 2, 4, 5]), m.t([2, 2, 2, 3]), m.t([2]), { stride: [1, 2], padding: [1, 0] }),
      S('dilation 2', m.t([1, 1, 5, 5]), m.t([2, 1, 3, 3]), null, { dilation: 2 }),
      S('groups 2', m.t([1, 4, 4, 4]), m.t([4, 2, 3, 3]), m.t([4]), { groups: 2 }),
      S('unbatched [C,H,W]', m.t([2, 4, 4]), m.t([3, 2, 3, 3]), m.t([3])),
      S('transposed input, sliced weight', m.t([1, 2, 4, 5], T), m.t([2, 2, 2, 2], SL), m.t([2])),
      S('empty batch', m.t([0, 2, 4, 4]), m.t([3, 2, 3, 3]), m.t([3])),
      { ...S('large: 5 Mflop, threaded kernels', m.t([8, 8, 18, 18]), m.t([16, 8, 3, 3]), m.t([16]), { padding: 1 }), skipGrad: LARGE },
    ],
    errors: () => [
      E('channels do not match', [f64(new Array(32).fill(1), [1, 2, 4, 4]), f64(new Array(27).fill(1), [1, 3, 3, 3])], ShapeError, 'conv2d', 'channels'),
      E('dtypes differ', [f64(new Array(16).fill(1), [1, 1, 4, 4]), tensor(new Array(9).fill(1), { shape: [1, 1, 3, 3] })], DTypeError, 'conv2d', 'same dtype'),
      E('bias of the wrong size', [X4(), f64(new Array(9).fill(1), [1, 1, 3, 3]), f64([1, 2])], ShapeError, 'conv2d', 'bias'),
      E('2-d input', [f64([1, 2, 3, 4], [2, 2]), f64([1], [1, 1, 1, 1])], ShapeError, 'conv2d', '4-D'),
      intRejected('conv2d', i32([1], [1, 1, 1, 1])),
    ],
  }),
  op({
    name: 'conv2dRelu', fn: ops.conv2dRelu, dtypes: FLOAT, sampleGaps: IMAGES,
    samples: (m) => [
      S('basic with bias', m.t([2, 3, 5, 5]), m.t([4, 3, 3, 3]), m.t([4])), S('no bias', m.t([1, 2, 4, 4]), m.t([3, 2, 3, 3])),
      S('stride 2, padding 1', m.t([1, 2, 5, 5]), m.t([3, 2, 3, 3]), m.t([3]), { stride: 2, padding: 1 }),
      S('dilation 2, 1 output channel', m.t([2, 1, 5, 5]), m.t([1, 1, 3, 3]), null, { dilation: 2 }),
      S('1x1 kernel', m.t([2, 3, 3, 4]), m.t([2, 3, 1, 1]), m.t([2])),
      S('groups 2 (composite)', m.t([1, 4, 4, 4]), m.t([4, 2, 3, 3]), m.t([4]), { groups: 2 }),
      S('unbatched [C,H,W]', m.t([2, 4, 4]), m.t([3, 2, 3, 3]), m.t([3])),
      S('transposed input, sliced weight', m.t([1, 2, 4, 5], T), m.t([2, 2, 2, 2], SL), m.t([2])),
      S('empty batch', m.t([0, 2, 4, 4]), m.t([3, 2, 3, 3]), m.t([3])),
      { ...S('large: 5 Mflop, threaded kernels', m.t([8, 8, 18, 18]), m.t([16, 8, 3, 3]), m.t([16]), { padding: 1 }), skipGrad: LARGE },
    ],
    errors: () => [
      E('channels do not match', [f64(new Array(32).fill(1), [1, 2, 4, 4]), f64(new Array(27).fill(1), [1, 3, 3, 3])], ShapeError, 'conv2dRelu', 'channels'),
      E('dtypes differ', [f64(new Array(16).fill(1), [1, 1, 4, 4]), tensor(new Array(9).fill(1), { shape: [1, 1, 3, 3] })], DTypeError, 'conv2dRelu', 'same dtype'),
      E('bias of the wrong size', [X4(), f64(new Array(9).fill(1), [1, 1, 3, 3]), f64([1, 2])], ShapeError, 'conv2dRelu', 'bias'),
      E('2-d input', [f64([1, 2, 3, 4], [2, 2]), f64([1], [1, 1, 1, 1])], ShapeError, 'conv2dRelu', '4-D'),
      E('kernel larger than the input', [f64(new Array(4).fill(1), [1, 1, 2, 2]), f64(new Array(9).fill(1), [1, 1, 3, 3])], ShapeError, 'conv2dRelu', 'larger'),
      intRejected('conv2dRelu', i32([1], [1, 1, 1, 1])),
      notTensor('conv2dRelu', f64([1], [1, 1, 1, 1])),
    ],
  }),
  op({
    // Composite of conv2dRelu and maxPool2d (each checked against PyTorch); the fused kernels
    // (non-overlapping windows, groups 1) are compared with that composite in test/backend/conv-pool.test.ts.
    name: 'conv2dReluMaxPool2d', fn: ops.conv2dReluMaxPool2d, dtypes: FLOAT, sampleGaps: IMAGES,
    samples: (m) => [
      S('3x3 conv, 2x2 pool', m.t([2, 3, 8, 8]), m.t([4, 3, 3, 3]), m.t([4]), {}, 2),
      S('odd sizes: the last row and column dropped', m.t([1, 2, 7, 7]), m.t([3, 2, 3, 3]), null, {}, 2),
      S('conv stride 2, padding 1', m.t([2, 2, 9, 9]), m.t([3, 2, 3, 3]), m.t([3]), { stride: 2, padding: 1 }, 2),
      S('2x2 conv, non-square 2x3 pool', m.t([1, 2, 8, 9]), m.t([2, 2, 2, 2]), m.t([2]), {}, [2, 3]),
      S('overlapping pool (composite)', m.t([1, 2, 7, 7]), m.t([2, 2, 3, 3]), m.t([2]), {}, 3, { stride: 1 }),
      S('pool padding (composite)', m.t([1, 1, 6, 6]), m.t([2, 1, 3, 3]), m.t([2]), {}, 2, { padding: 1 }),
      S('groups 2 (composite)', m.t([1, 4, 6, 6]), m.t([4, 2, 3, 3]), m.t([4]), { groups: 2 }, 2),
      S('unbatched [C,H,W]', m.t([2, 6, 6]), m.t([3, 2, 3, 3]), m.t([3]), {}, 2),
      S('transposed input, sliced weight', m.t([1, 2, 6, 7], T), m.t([2, 2, 2, 2], SL), m.t([2]), {}, 2),
      S('empty batch', m.t([0, 2, 6, 6]), m.t([3, 2, 3, 3]), m.t([3]), {}, 2),
      { ...S('large: threaded kernels', m.t([8, 8, 18, 18]), m.t([16, 8, 3, 3]), m.t([16]), { padding: 1 }, 2), skipGrad: LARGE },
    ],
    errors: () => [
      E('channels do not match', [f64(new Array(32).fill(1), [1, 2, 4, 4]), f64(new Array(27).fill(1), [1, 3, 3, 3])], ShapeError, 'conv2dReluMaxPool2d', 'channels'),
      E('pool padding over half the window', [f64(new Array(36).fill(1), [1, 1, 6, 6]), f64(new Array(9).fill(1), [1, 1, 3, 3]), null, {}, 2, { padding: 2 }], ValueError, 'maxPool2d', 'padding'),
      E('2-d input', [f64([1, 2, 3, 4], [2, 2]), f64([1], [1, 1, 1, 1])], ShapeError, 'conv2dReluMaxPool2d', '4-D'),
      intRejected('conv2dReluMaxPool2d', i32([1], [1, 1, 1, 1])),
      notTensor('conv2dReluMaxPool2d', f64([1], [1, 1, 1, 1])),
    ],
  }),
  op({
    name: 'maxPool2d', fn: ops.maxPool2d, dtypes: FLOAT, sampleGaps: IMAGES, torchFixture: ['max_pool2d'],
    samples: (m) => [
      S('k2', m.t([2, 2, 4, 4]), 2), S('k3 s2 p1', m.t([1, 2, 5, 5]), 3, { stride: 2, padding: 1 }),
      S('non-square', m.t([1, 1, 4, 6]), [2, 3], { stride: [2, 1] }), S('dilation 2', m.t([1, 1, 5, 5]), 2, { dilation: 2, stride: 1 }),
      S('unbatched', m.t([2, 4, 4]), 2), S('transposed input', m.t([1, 2, 4, 4], T), 2), S('odd input, floor', m.t([1, 1, 5, 5]), 2),
      S('empty batch', m.t([0, 1, 4, 4]), 2),
    ],
    errors: poolErrors('maxPool2d'),
  }),
  op({
    name: 'avgPool2d', fn: ops.avgPool2d, dtypes: FLOAT, sampleGaps: IMAGES, torchFixture: ['avg_pool2d'],
    samples: (m) => [
      S('k2', m.t([2, 2, 4, 4]), 2), S('k3 s2 p1', m.t([1, 2, 5, 5]), 3, { stride: 2, padding: 1 }),
      S('exclude padding', m.t([1, 2, 5, 5]), 3, { stride: 2, padding: 1, countIncludePad: false }),
      S('non-square', m.t([1, 1, 4, 6]), [2, 3], { stride: [2, 1] }), S('unbatched', m.t([2, 4, 4]), 2), S('sliced input', m.t([1, 2, 4, 4], SL), 2),
      S('empty batch', m.t([0, 1, 4, 4]), 2),
    ],
    errors: poolErrors('avgPool2d'),
  }),
];

// ---- nn functions, linear algebra --------------------------------------------------------------

const softmaxLike = (name: 'softmax' | 'logSoftmax', fixture: string): OpInfo =>
  op({
    name, fn: ops[name], methodName: name, dtypes: FLOAT, torchFixture: [fixture],
    samples: (m) => [
      S('dim 1', m.t([3, 5]), 1), S('dim 0', m.t([3, 5]), 0), S('3-d, dim -1', m.t([2, 3, 4]), -1), S('3-d, dim 1', m.t([2, 3, 4]), 1),
      S('large values', m.t([2, 4], { low: -100, high: 100 }), 1), S('1-d', m.t([5]), 0), S('0-d', m.t([]), 0),
      S('empty', m.t([0, 3]), 1), S('transposed', m.t([3, 4], T), 1), S('sliced', m.t([2, 3], SL), -1),
    ],
    errors: () => [E('dim out of range', [f64([1, 2]), 1], AxisError, name, 'out of range'), intRejected(name, 1), notTensor(name, 0)],
  });

const square = (m: Maker, shape: number[], o: MakeOptions = {}) => m.t(shape, with_({ low: -0.3, high: 0.3, diag: 1 }, o));
const SINGULAR = () => f64([1, 2, 2, 4], [2, 2]);

const nnOps: OpInfo[] = [
  softmaxLike('softmax', 'softmax'),
  softmaxLike('logSoftmax', 'log_softmax'),
  op({
    name: 'dropout', fn: ops.dropout, dtypes: FLOAT,
    samples: (m) => {
      const g = () => new Generator(m.rng.nextUint32());
      return [
        S('p 0.5, training', m.t([4, 5]), 0.5, true, g()), S('p 0.2, transposed', m.t([3, 4], T), 0.2, true, g()),
        S('not training (identity)', m.t([3, 4]), 0.5, false), S('p 0 (identity)', m.t([3, 4]), 0), S('p 1 (zeros)', m.t([3, 4]), 1, true, g()),
        S('0-d', m.t([]), 0.5, true, g()), S('empty', m.t([0, 3]), 0.5, true, g()),
      ];
    },
    errors: () => [E('p above 1', [f64([1]), 1.5], ValueError, 'dropout', 'p must be in [0, 1]'), E('int32 input', [i32([1, 2]), 0.5], DTypeError, 'dropout', 'int32')],
  }),
  op({
    name: 'embedding', fn: ops.embedding, torchFixture: ['embedding'],
    samples: (m) => [
      S('2-d indices', m.idx([2, 3], 10), m.t([10, 4])), S('1-d indices', m.idx([4], 10), m.t([10, 4])), S('0-d index', m.idx([], 10), m.t([10, 4])),
      S('empty indices', m.idx([0], 5), m.t([5, 3])), S('transposed weight', m.idx([3, 2], 4), m.t([4, 3], T)),
      { ...S('paddingIdx 1', i32([1, 0, 2, 1]), m.t([3, 2]), { paddingIdx: 1 }), skipGrad: 'paddingIdx cuts the gradient of the padding row on purpose (PyTorch semantics), so it differs from finite differences' },
    ],
    errors: () => [
      E('index out of range', [i32([0, 5]), f64([1, 2, 3, 4], [2, 2])], IndexError, 'embedding', 'out of range'),
      E('float indices', [f64([0]), f64([1, 2, 3, 4], [2, 2])], DTypeError, 'embedding', 'int32'),
      E('1-d weight', [i32([0]), f64([1, 2])], ShapeError, 'embedding', '2-D'),
    ],
  }),
  op({
    name: 'oneHot', fn: ops.oneHot, dtypes: ['int32'], supportsGrad: false, noGradReason: 'int32 indices in, constant 0/1 out',
    samples: (m) => [
      S('[2,3], 5 classes', m.idx([2, 3], 5), 5), S('inferred classes', m.idx([4], 3)), S('0-d', m.idx([], 4), 4),
      S('empty', m.idx([0], 3), 3), S('transposed indices', ops.transpose(m.idx([3, 2], 4)), 4),
    ],
    errors: () => [
      E('float indices', [f64([0])], DTypeError, 'oneHot', 'int32'),
      E('index ≥ numClasses', [i32([0, 3]), 3], IndexError, 'oneHot', 'out of range'),
      E('empty without numClasses', [i32([])], ValueError, 'oneHot', 'infer'),
    ],
  }),
];

const linalgOps: OpInfo[] = [
  ...(['det', 'inv'] as const).map((name) =>
    op({
      name, fn: ops[name], methodName: name === 'inv' ? 'inverse' : 'det', aliases: name === 'inv' ? ['inverse'] : undefined, dtypes: FLOAT, sampleGaps: MATRICES, torchFixture: [name],
      samples: (m) => [
        S('2x2', square(m, [2, 2])), S('3x3', square(m, [3, 3])), S('1x1', square(m, [1, 1])), S('4x4', square(m, [4, 4])),
        S('needs pivoting', ops.indexSelect(square(m, [3, 3]), 0, i32([1, 0, 2]))), S('batched [2,3,3]', square(m, [2, 3, 3])),
        S('batched [2,2,2,2]', square(m, [2, 2, 2, 2])), S('transposed', square(m, [3, 3], T)), S('sliced', square(m, [2, 2], SL)),
        S('empty batch', square(m, [0, 2, 2])),
      ],
      errors: () => [
        E('not square', [X23()], ShapeError, name, 'square'), E('1-d', [f64([1, 2])], ShapeError, name, 'square'), intRejected(name),
        ...(name === 'inv' ? [E('singular', [SINGULAR()], LinAlgError, 'inv', 'singular'), E('singular in a batch', [ops.stack([f64([1, 0, 0, 1], [2, 2]), SINGULAR()])], LinAlgError, 'inv', 'batch index 1')] : []),
      ],
    })),
  op({
    name: 'solve', fn: ops.solve, dtypes: FLOAT, sampleGaps: MATRICES, torchFixture: ['solve'],
    samples: (m) => [
      S('matrix B', square(m, [3, 3]), m.t([3, 2])), S('vector B', square(m, [3, 3]), m.t([3])), S('needs pivoting', ops.indexSelect(square(m, [4, 4]), 0, i32([1, 0, 2, 3])), m.t([4, 2])),
      S('batched matrix', square(m, [2, 3, 3]), m.t([2, 3, 2])), S('batched vector', square(m, [2, 3, 3]), m.t([2, 3])),
      S('broadcast A', square(m, [3, 3]), m.t([2, 3, 2])), S('broadcast B', square(m, [2, 3, 3]), m.t([3, 2])),
      S('transposed A, sliced B', square(m, [3, 3], T), m.t([3, 2], SL)), S('empty k', square(m, [2, 2]), m.t([2, 0])),
    ],
    errors: () => [
      E('B does not fit', [f64([1, 0, 0, 1], [2, 2]), f64([1, 2, 3])], ShapeError, 'solve', 'does not fit'),
      E('singular', [SINGULAR(), f64([1, 2])], LinAlgError, 'solve', 'singular'),
      E('dtypes differ', [f64([1, 0, 0, 1], [2, 2]), tensor([1, 2])], DTypeError, 'solve', 'same dtype'),
      E('A not square', [X23(), f64([1, 2])], ShapeError, 'solve', 'square'),
    ],
  }),
];

// ---- Transformer ops (issue 11) ----------------------------------------------------------------
// Compared with PyTorch in test/ops/transformer-ops.test.ts (test/fixtures/torch/transformer.json),
// not through torchFixture, which names cases of ops.json.

const ROWS_MASK = () => i32([1, 0, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1], [3, 4]); // every row keeps ≥1 key
const seeded = (m: Maker) => new Generator(m.rng.nextUint32());

const transformerOps: OpInfo[] = [
  unary('erf', ops.erf, { low: -3, high: 3 }, NO_FIXTURE),
  op({
    name: 'gelu', fn: ops.gelu, methodName: 'gelu', dtypes: FLOAT,
    samples: (m) => [...unarySamples(m, { low: -3, high: 3 }), S('tanh approximation', m.t([3, 4], { low: -3, high: 3 }), 'tanh'), S('tanh, transposed', m.t([3, 4], T), 'tanh')],
    errors: () => [notTensor('gelu'), intRejected('gelu'), E('unknown approximation', [f64([1]), 'fast'], ValueError, 'gelu', 'approximate')],
  }),
  op({
    name: 'silu', fn: ops.silu, methodName: 'silu', dtypes: FLOAT,
    samples: (m) => unarySamples(m, { low: -4, high: 4 }),
    errors: () => [notTensor('silu'), intRejected('silu')],
  }),
  op({
    name: 'softplus', fn: ops.softplus, methodName: 'softplus', dtypes: FLOAT,
    samples: (m) => [
      ...unarySamples(m, { low: -4, high: 4, away: 0.05 }),
      // |βx| stays away from the threshold, where softplus switches to x (a kink of size e^(−20)).
      S('beta 2, threshold 1.5', m.t([3, 4], { low: -2, high: 2 }), 2, 3.5), S('large inputs pass through', m.t([2, 3], { low: 25, high: 30 })),
      S('beta 0.5', m.t([3, 4], T), 0.5),
    ],
    errors: () => [notTensor('softplus'), intRejected('softplus'), E('beta 0', [f64([1]), 0], ValueError, 'softplus', 'beta')],
  }),
  op({
    name: 'layerNorm', fn: ops.layerNorm, dtypes: FLOAT, sampleGaps: { zeroDim: 'normalizedShape names at least one trailing dim (an error input checks a shape that does not match)' },
    samples: (m) => [
      S('last dim, affine', m.t([2, 3, 4]), [4], m.t([4]), m.t([4])), S('two dims, affine', m.t([2, 3, 4]), [3, 4], m.t([3, 4]), m.t([3, 4])),
      S('no affine, eps 1e-3', m.t([3, 5]), 5, null, null, 1e-3), S('weight only', m.t([3, 4]), [4], m.t([4])), S('1-d', m.t([6]), [6]),
      S('transposed input', m.t([3, 4], T), [4], m.t([4]), m.t([4])), S('sliced input and weight', m.t([2, 4], SL), [4], m.t([4], SL), null),
      S('empty batch', m.t([0, 4]), [4], m.t([4]), m.t([4])),
    ],
    errors: () => [
      E('shape does not end in normalizedShape', [f64([1, 2, 3, 4, 5, 6], [2, 3]), [2]], ShapeError, 'layerNorm', 'normalizedShape'),
      E('weight of the wrong shape', [f64([1, 2, 3, 4, 5, 6], [2, 3]), [3], f64([1, 2])], ShapeError, 'layerNorm', 'weight'),
      E('negative eps', [f64([1, 2, 3]), [3], null, null, -1], ValueError, 'layerNorm', 'eps'),
      intRejected('layerNorm', [2]), notTensor('layerNorm', [2]),
    ],
  }),
  op({
    name: 'scaledDotProductAttention', fn: ops.scaledDotProductAttention, dtypes: FLOAT,
    sampleGaps: { zeroDim: 'query, key and value are at least [L, E] (an error input checks 1-d)' },
    samples: (m) => [
      S('[2,3,4] self-shaped', m.t([2, 3, 4]), m.t([2, 5, 4]), m.t([2, 5, 3])),
      S('heads [2,2,3,4], causal L = S', m.t([2, 2, 3, 4]), m.t([2, 2, 3, 4]), m.t([2, 2, 3, 4]), { isCausal: true }),
      S('causal L < S', m.t([1, 3, 4]), m.t([1, 5, 4]), m.t([1, 5, 2]), { isCausal: true }),
      S('boolean mask', m.t([2, 3, 4]), m.t([2, 4, 4]), m.t([2, 4, 3]), { attnMask: ROWS_MASK() }),
      S('additive float mask, scale 0.3', m.t([2, 3, 4]), m.t([2, 4, 4]), m.t([2, 4, 2]), { attnMask: m.t([3, 4]), scale: 0.3 }),
      S('broadcast batch', m.t([2, 1, 3, 4]), m.t([3, 5, 4]), m.t([3, 5, 4])),
      { ...S('dropout 0.3 (seeded)', m.t([2, 3, 4]), m.t([2, 3, 4]), m.t([2, 3, 4]), { dropoutP: 0.3, generator: seeded(m) }),
        skipGrad: 'the generator sits in the options object, which the harness does not rewind between calls; test/ops/transformer-ops.test.ts gradchecks this case with a rewinding wrapper' },
      S('transposed key, sliced value', m.t([2, 3, 4]), m.t([2, 4, 4], T), m.t([2, 4, 3], SL)),
      S('2-d', m.t([3, 4]), m.t([5, 4]), m.t([5, 2])),
      S('empty batch', m.t([0, 3, 4]), m.t([0, 5, 4]), m.t([0, 5, 2])),
    ],
    errors: () => [
      E('embedding dims differ', [f64([1, 2, 3, 4], [2, 2]), f64([1, 2, 3], [1, 3]), f64([1, 2], [1, 2])], ShapeError, 'scaledDotProductAttention', 'embedding'),
      E('key and value lengths differ', [f64([1, 2], [1, 2]), f64([1, 2, 3, 4], [2, 2]), f64([1, 2], [1, 2])], ShapeError, 'scaledDotProductAttention', 'sequence length'),
      E('mask and causal', [f64([1, 2], [1, 2]), f64([1, 2], [1, 2]), f64([1, 2], [1, 2]), { isCausal: true, attnMask: i32([1], [1, 1]) }], ValueError, 'scaledDotProductAttention', 'not both'),
      E('mask does not broadcast', [f64([1, 2], [1, 2]), f64([1, 2], [1, 2]), f64([1, 2], [1, 2]), { attnMask: i32([1, 1, 1], [1, 3]) }], ShapeError, 'scaledDotProductAttention', 'broadcast'),
      E('float64 mask for float32 inputs', [tensor([1, 2], { shape: [1, 2] }), tensor([1, 2], { shape: [1, 2] }), tensor([1, 2], { shape: [1, 2] }), { attnMask: f64([0], [1, 1]) }], DTypeError, 'scaledDotProductAttention', 'attnMask'),
      E('dropoutP above 1', [f64([1, 2], [1, 2]), f64([1, 2], [1, 2]), f64([1, 2], [1, 2]), { dropoutP: 2 }], ValueError, 'scaledDotProductAttention', 'dropoutP'),
      E('1-d query', [f64([1, 2]), f64([1, 2], [1, 2]), f64([1, 2], [1, 2])], ShapeError, 'scaledDotProductAttention', 'at least 2 dims'),
      E('int32 inputs', [i32([1, 2], [1, 2]), i32([1, 2], [1, 2]), i32([1, 2], [1, 2])], DTypeError, 'scaledDotProductAttention', 'int32'),
    ],
  }),
  op({
    name: 'argsort', fn: ops.argsort, methodName: 'argsort', supportsGrad: false, noGradReason: 'int32 indices, not differentiable',
    samples: (m) => [
      S('last dim', m.t([3, 5])), S('dim 0, descending', m.t([4, 3]), 0, true), S('ties are stable', m.t([3, 6], { grid: true, low: 0, high: 2 }), 1),
      S('ties, descending', m.t([2, 6], { grid: true, low: 0, high: 2 }), -1, true), S('3-d middle dim', m.t([2, 4, 3]), 1),
      S('0-d', m.t([])), S('empty', m.t([0, 3]), 1), S('transposed', m.t([3, 4], T), 1), S('sliced', m.t([2, 5], SL)),
      X('stable ties, ascending', [1, 3, 0, 2], tensor([2, 1, 2, 1], { dtype: m.dtype })),
      X('stable ties, descending', [0, 2, 1, 3], tensor([2, 1, 2, 1], { dtype: m.dtype }), 0, true),
      ...(m.ints ? [] : [X('NaN sorts last (PyTorch)', [2, 0, 1], tensor([1, NaN, -1], { dtype: m.dtype }))]),
    ],
    errors: () => [E('dim out of range', [f64([1, 2]), 1], AxisError, 'argsort', 'out of range'), notTensor('argsort')],
  }),
  op({
    name: 'multinomial', fn: ops.multinomial, methodName: 'multinomial', dtypes: FLOAT, supportsGrad: false, noGradReason: 'draws integer category indices',
    sampleGaps: { zeroDim: 'weights are [C] or [R, C] (an error input checks 0-d)' },
    samples: (m) => {
      const g = () => new Generator(m.rng.nextUint32());
      return [
        S('1-d, with replacement', m.t([5], POS), 8, true, g()), S('2-d, without replacement', m.t([3, 6], POS), 4, false, g()),
        S('all categories, without replacement', m.t([2, 4], POS), 4, false, g()), S('transposed', m.t([4, 3], with_(POS, T)), 2, true, g()),
        S('sliced', m.t([2, 5], with_(POS, SL)), 3, false, g()), S('no rows', m.t([0, 3], POS), 2, true, g()),
        X('zero weights are never drawn', [1, 1, 1, 1], tensor([0, 2, 0], { dtype: m.dtype }), 4, true, g()),
      ];
    },
    errors: () => [
      E('too many samples without replacement', [f64([1, 1]), 3], ValueError, 'multinomial', 'without replacement'),
      E('not enough positive weights', [f64([1, 0, 0]), 2, false], ValueError, 'multinomial', 'positive weight'),
      E('negative weight', [f64([1, -1]), 1], ValueError, 'multinomial', 'non-negative'),
      E('all zero', [f64([0, 0]), 1, true], ValueError, 'multinomial', 'sums to 0'),
      E('0-d input', [f64([1], []), 1], ShapeError, 'multinomial', '1-D'),
      E('numSamples 0', [f64([1, 2]), 0], ValueError, 'multinomial', 'numSamples'),
      intRejected('multinomial', 1),
    ],
  }),
  op({
    name: 'cumsum', fn: ops.cumsum, methodName: 'cumsum',
    samples: (m) => [
      S('dim 1', m.t([3, 5]), 1), S('dim 0', m.t([4, 3]), 0), S('length 7 (not a power of 2)', m.t([2, 7]), -1), S('3-d middle', m.t([2, 6, 3]), 1),
      S('0-d', m.t([]), 0), S('empty', m.t([0, 3]), 1), S('length 1', m.t([3, 1]), 1), S('transposed', m.t([3, 4], T), 1), S('sliced', m.t([2, 5], SL), -1),
    ],
    errors: () => [E('dim out of range', [f64([1, 2]), 1], AxisError, 'cumsum', 'out of range'), notTensor('cumsum', 0)],
  }),
  op({
    name: 'clone', fn: ops.clone, methodName: 'clone',
    samples: (m) => [S('[3,4]', m.t([3, 4])), S('0-d', m.t([])), S('empty', m.t([0, 2])), S('transposed', m.t([3, 4], T)), S('sliced', m.t([2, 3], SL))],
    errors: () => [notTensor('clone')],
  }),
  op({
    name: 'maskedFill', fn: ops.maskedFill, methodName: 'maskedFill',
    samples: (m) => [
      S('same shape', m.t([3, 4]), m.mask([3, 4]), -1), S('broadcast mask', m.t([2, 3, 4]), m.mask([3, 1]), 2), { ...S('-inf', m.t([3, 4]), m.mask([4]), m.ints ? -7 : -Infinity), skipGrad: 'finite differences of a tensor holding −∞ are NaN (∞ − ∞)' },
      S('0-d value tensor', m.t([3, 4]), m.mask([3, 4]), tensor(0.5 * (m.ints ? 2 : 1), { dtype: m.dtype })), S('0-d', m.t([]), m.mask([]), 3),
      S('empty', m.t([0, 3]), m.mask([3]), 1), S('transposed input, sliced mask', m.t([3, 4], T), m.t([3, 4], { grid: true, low: 0, high: 1, layout: 'sliced' }).to('int32'), 0),
    ],
    errors: () => [
      E('float mask', [f64([1, 2]), f64([1, 0]), 0], DTypeError, 'maskedFill', 'int32'),
      E('mask larger than the input', [f64([1, 2]), i32([1, 0, 1, 0], [2, 2]), 0], ShapeError, 'maskedFill', 'broadcast'),
      E('fraction into int32', [i32([1, 2]), i32([1, 0]), 0.5], ValueError, 'maskedFill', 'int32'),
      notTensor('maskedFill', i32([1]), 0),
    ],
  }),
  ...(['triu', 'tril'] as const).map((name) => op({
    name, fn: ops[name], methodName: name, sampleGaps: { zeroDim: 'needs the last two dims of a matrix (an error input checks 1-d)' },
    samples: (m) => [
      S('square', m.t([4, 4])), S('diagonal 1', m.t([3, 5]), 1), S('diagonal -1', m.t([5, 3]), -1), S('batched', m.t([2, 3, 4]), 0),
      S('diagonal past the matrix', m.t([3, 3]), 5), S('empty', m.t([0, 3])), S('transposed', m.t([3, 4], T), 1), S('sliced', m.t([2, 3, 4], SL), -2),
    ],
    errors: () => [E('1-d input', [f64([1, 2])], ShapeError, name, 'at least 2'), E('fractional diagonal', [f64([1, 2, 3, 4], [2, 2]), 0.5], ValueError, name, 'diagonal'), notTensor(name)],
  })),
  op({
    name: 'conv1d', fn: ops.conv1d, dtypes: FLOAT, sampleGaps: { zeroDim: 'sequences are [N, C, L] or [C, L] (an error input checks other ranks)' },
    samples: (m) => [
      S('basic with bias', m.t([2, 3, 7]), m.t([4, 3, 3]), m.t([4])), S('stride 2, padding 1', m.t([1, 2, 6]), m.t([3, 2, 3]), null, { stride: 2, padding: 1 }),
      S('dilation 2, groups 2', m.t([1, 4, 8]), m.t([4, 2, 2]), m.t([4]), { dilation: 2, groups: 2 }), S('unbatched [C, L]', m.t([2, 5]), m.t([3, 2, 2]), m.t([3])),
      S('transposed input', m.t([1, 2, 5], T), m.t([2, 2, 3]), m.t([2])), S('empty batch', m.t([0, 2, 5]), m.t([3, 2, 2]), null),
    ],
    errors: () => [
      E('4-d input', [f64([1, 2, 3, 4], [1, 1, 2, 2]), f64([1], [1, 1, 1])], ShapeError, 'conv1d', '3-D input'),
      E('2-d weight', [f64([1, 2, 3, 4], [1, 1, 4]), f64([1], [1, 1])], ShapeError, 'conv1d', '3-D weight'),
      E('channels do not match', [f64([1, 2, 3, 4], [1, 2, 2]), f64([1, 2, 3], [1, 3, 1])], ShapeError, 'conv1d', 'channels'),
      notTensor('conv1d', f64([1], [1, 1, 1])),
    ],
  }),
  op({
    // [T+1, B, H]: h_1..h_T then c_T. The fused recurrence (blas, wasm) and the composite (js) run
    // the same samples on every backend; under create_graph the fused op's backward is ops.
    name: 'lstmLayer', fn: ops.lstmLayer, dtypes: FLOAT, sampleGaps: { zeroDim: 'input is [T, B, I] with T ≥ 1 (an error input checks other ranks and an empty sequence)' },
    samples: (m) => {
      const u = { low: -1, high: 1 };
      const lstm = (T: number, B: number, I: number, H: number, bias = true, o: MakeOptions = u) => [
        m.t([T, B, I], o), m.t([B, H], u), m.t([B, H], u), m.t([4 * H, I], u), m.t([4 * H, H], u), bias ? m.t([4 * H], u) : null, bias ? m.t([4 * H], u) : null,
      ];
      return [
        S('T 3, B 2, I 3, H 2', ...lstm(3, 2, 3, 2)), S('no biases', ...lstm(2, 2, 2, 3, false)), S('one step, H 5 (not a multiple of 4)', ...lstm(1, 1, 2, 5)),
        S('transposed input', ...lstm(2, 3, 3, 2, true, with_(u, T))), S('sliced input', ...lstm(3, 1, 2, 2, true, with_(u, SL))),
        S('empty batch', ...lstm(2, 0, 3, 2)),
      ];
    },
    errors: () => {
      const z = (...s: number[]) => f64(new Array(s.reduce((a, b) => a * b, 1)).fill(0), s);
      return [
        E('2-d input', [z(2, 3), z(1, 2), z(1, 2), z(8, 3), z(8, 2)], ShapeError, 'lstmLayer', '[T, B, I]'),
        E('empty sequence', [z(0, 1, 3), z(1, 2), z(1, 2), z(8, 3), z(8, 2)], ValueError, 'lstmLayer', 'empty'),
        E('weightHh not [4H, H]', [z(2, 1, 3), z(1, 2), z(1, 2), z(8, 3), z(6, 2)], ShapeError, 'lstmLayer', 'weightHh'),
        E('weightIh of the wrong input size', [z(2, 1, 3), z(1, 2), z(1, 2), z(8, 4), z(8, 2)], ShapeError, 'lstmLayer', 'weightIh'),
        E('h0 of the wrong batch', [z(2, 1, 3), z(2, 2), z(1, 2), z(8, 3), z(8, 2)], ShapeError, 'lstmLayer', 'h0'),
        E('biasHh of the wrong size', [z(2, 1, 3), z(1, 2), z(1, 2), z(8, 3), z(8, 2), null, z(4)], ShapeError, 'lstmLayer', 'biasHh'),
        E('float32 state with float64 input', [z(2, 1, 3), tensor([0, 0], { shape: [1, 2] }), z(1, 2), z(8, 3), z(8, 2)], DTypeError, 'lstmLayer', 'h0'),
        E('int32 input', [i32([1, 2, 3], [1, 1, 3]), z(1, 2), z(1, 2), z(8, 3), z(8, 2)], DTypeError, 'lstmLayer', 'int32'),
        notTensor('lstmLayer', z(1, 2), z(1, 2), z(8, 3), z(8, 2)),
      ];
    },
  }),
];

/** Every op, in family order. */
export const REGISTRY: readonly OpInfo[] = [...elementwise, ...reductions, ...movement, ...matmulOps, ...indexing, ...inplaceOps, ...convOps, ...nnOps, ...linalgOps, ...transformerOps];

/** The entry whose name or alias is `name`. */
export function opInfo(name: string): OpInfo | undefined {
  return REGISTRY.find((o) => o.name === name || o.aliases?.includes(name));
}
