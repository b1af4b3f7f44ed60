#!/usr/bin/python3
"""Writes golden .safetensors files with the reference implementation (the Python `safetensors`
package) into test/fixtures/safetensors/, so test/io/safetensors.test.ts can check that Nabla reads
them identically and writes byte-identical files for the same input.

Run offline, only when the fixtures must change; the outputs are committed and CI never runs this.
Needs numpy and safetensors importable by /usr/bin/python3, e.g. with the wheel unpacked somewhere:
    PYTHONPATH=/path/to/unpacked/safetensors-wheel /usr/bin/python3 scripts/make_safetensors_golden.py
Each file has at most one metadata key: the reference writes metadata in hash-map order, so only
then are its bytes deterministic.
"""
import os
import sys

import numpy as np
import safetensors
from safetensors.numpy import load, save

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'safetensors')

f32 = np.float32
f64 = np.float64
i32 = np.int32

GOLDEN = {
    # The hand-computed layout in the test, produced by the reference too.
    'small.safetensors': ({'a': np.array([1, 2], dtype=f32)}, {'format': 'pt'}),
    # Every dtype we support, rank 0, empty dims, non-ASCII names, name ordering across dtypes.
    'mixed.safetensors': (
        {
            'scalar': np.array(3.5, dtype=f64),
            'w': (np.arange(6, dtype=f32) * f32(0.5) - f32(1)).reshape(2, 3),
            'idx': np.array([-2147483648, -1, 0, 2147483647], dtype=i32),
            'empty': np.zeros((0, 3), dtype=f32),
            'b': np.array([1e-310, -0.0, 1e308], dtype=f64),
            '\u00e9.bias': np.array([0.25], dtype=f32),
            'Z': np.array([7], dtype=f32),
            'x.y': np.zeros((2, 0, 2), dtype=i32),
        },
        {'format': 'pt'},
    ),
    # Non-finite and extreme values; no metadata.
    'specials.safetensors': (
        {
            'f': np.array([np.nan, np.inf, -np.inf, -0.0, 1.4e-45, 3.4028235e38], dtype=f32),
            'd': np.array([np.nan, np.inf, -np.inf], dtype=f64),
        },
        None,
    ),
    # Structurally valid but holds F16, which Nabla does not compute in.
    'unsupported.safetensors': ({'h': np.array([1, 2], dtype=np.float16), 'a': np.array([1], dtype=f32)}, None),
    'empty.safetensors': ({}, None),
}


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    for name, (tensors, metadata) in GOLDEN.items():
        data = save(tensors, metadata=metadata)
        back = load(data)  # the reference must accept what it wrote
        assert sorted(back) == sorted(tensors), name
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)
        print(f'{name}: {len(data)} bytes')
    print(f'safetensors {safetensors.__version__}, numpy {np.__version__}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
