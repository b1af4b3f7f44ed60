// Strided loops for elementwise kernels without per-element offset tables: adjacent dims that are
// contiguous in every operand are merged, then an odometer walks the outer dims while a tight
// loop runs along the last one with each operand's own stride (0 for a broadcast operand).

/** Merge dims i and i+1 wherever every operand's strides allow it. */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const sh: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = sh.length - 1;
    if (last >= 0 && strides.every((s, k) => st[k][last] === s[i] * shape[i])) {
      sh[last] *= shape[i];
      strides.forEach((s, k) => (st[k][last] = s[i]));
    } else {
      sh.push(shape[i]);
      strides.forEach((s, k) => st[k].push(s[i]));
    }
  }
  if (sh.length === 0) {
    sh.push(1);
    st.forEach((s) => s.push(0));
  }
  return { shape: sh, strides: st };
}

/**
 * Calls inner(outStart, len, offA, strideA, offB, strideB) for each run along the last collapsed
 * dim; the output is written contiguously.
 */
export function forEachRun2(
  shape: readonly number[], sa: readonly number[], oa: number, sb: readonly number[], ob: number,
  inner: (o: number, len: number, a: number, da: number, b: number, db: number) => void,
): void {
  const c = collapse(shape, [sa, sb]);
  const nd = c.shape.length;
  const len = c.shape[nd - 1];
  const [ta, tb] = c.strides;
  const da = ta[nd - 1], db = tb[nd - 1];
  const idx = new Array<number>(nd).fill(0);
  let n = 1;
  for (const d of shape) n *= d;
  let a = oa, b = ob;
  for (let o = 0; o < n; o += len) {
    inner(o, len, a, da, b, db);
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      a += ta[d];
      b += tb[d];
      if (idx[d] < c.shape[d]) break;
      a -= ta[d] * c.shape[d];
      b -= tb[d] * c.shape[d];
      idx[d] = 0;
    }
  }
}
