"""Write the PyTorch reference fixtures for Nabla's Transformer ops and layers (issue 11).

Regenerate with `/usr/bin/python3 scripts/make_transformer_fixtures.py` (Debian's python3-torch
1.13; the `python3` on PATH has no torch). Deterministic: every case seeds torch from a CRC32 of its
own name (make_fixtures.py's helpers are reused, so tensors are encoded the same way).

test/fixtures/torch/transformer.json
  {"torch_version", "doc", "cases": [...], "state_dicts": {...}, "interchange": [...]}
  cases: the format of ops.json (see make_fixtures.py): "inputs" is a positional list for the
    functional ops and a dict {name: tensor} for the layers (PyTorch parameter names, plus
    "query"/"key"/"value"/"src"/"input"/"hx"/... and masks); "outputs" + "output_names" where an
    op returns several tensors; gradient cases add grad_output(s) and grads.
    Conventions: bool masks are "bool" tensors (0/1). scaled_dot_product_attention is computed
    with PyTorch 2.x's documented formula (torch 1.13 has no F.scaled_dot_product_attention):
    softmax(q kᵀ scale + mask) v, a bool mask True = takes part, is_causal = tril(ones(L, S)).
    multihead_attention, transformer_encoder_layer, lstm_cell and gru_cell run torch 1.13's own
    modules with the case's tensors as their parameters, in eval mode (dropout off) with autograd
    on (so the 1.13 fast path, which is inference-only, is not taken).
  state_dicts: {name: [[key, shape], ...]} PyTorch's state_dict() keys and shapes, in order.
  interchange: [{name, file, dtype, kwargs, input, src_key_padding_mask?, output}] for the
    safetensors files below: a layer's state dict and its output on `input` at that dtype.

test/fixtures/torch/transformer_encoder_layer_f32.safetensors (and _f64, and
multihead_attention_f32): state dicts written by this script's own safetensors writer (the
Python `safetensors` package is not installed here; the format is 8-byte little-endian header
length, JSON header, raw little-endian data).

`--check-nabla FILE.safetensors` (the reverse direction): loads a state dict that Nabla wrote into
torch's TransformerEncoderLayer with strict=True and runs it on the interchange input; compares
with FILE.safetensors.json's "output" (Nabla's own output, for a layer with Nabla's initial
weights) when that file exists, else with torch on the original fixture weights.
test/nn/transformer-interchange.test.ts writes both kinds when NABLA_WRITE_INTERCHANGE=<dir> is set.
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (encoding, seeding and input specs)

from make_fixtures import build, enc, enc_kwargs, randn, pos, const, mask, f32_grid, seed  # noqa: E402

OUT_DIR = mf.OUT_DIR
f64 = torch.float64
CASES = []
NAMES = set()


# ---- references for ops torch 1.13 lacks or spells differently -----------------------------------

def sdpa(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """PyTorch 2.x's documented reference for F.scaled_dot_product_attention (dropout 0)."""
    L, S = q.shape[-2], k.shape[-2]
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    bias = torch.zeros(L, S, dtype=q.dtype)
    if is_causal:
        bias = bias.masked_fill(~torch.ones(L, S, dtype=torch.bool).tril(), float("-inf"))
    if attn_mask is not None:
        bias = bias.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else bias + attn_mask
    return torch.softmax(q @ k.transpose(-2, -1) * s + bias, dim=-1) @ v


def _mha(inp, num_heads, batch_first=False, need_weights=True, average_attn_weights=True, bias=True):
    E = inp["query"].shape[-1]
    m = torch.nn.MultiheadAttention(E, num_heads, bias=bias, batch_first=batch_first).to(inp["query"].dtype).eval()
    _bind(m, inp)
    out, w = m(inp["query"], inp["key"], inp["value"], key_padding_mask=inp.get("key_padding_mask"),
               need_weights=need_weights, attn_mask=inp.get("attn_mask"), average_attn_weights=average_attn_weights)
    return [out, w] if need_weights else [out]


def _encoder_layer(inp, nhead, dim_feedforward, activation="relu", norm_first=False, batch_first=False,
                   layer_norm_eps=1e-5):
    E = inp["src"].shape[-1]
    m = torch.nn.TransformerEncoderLayer(E, nhead, dim_feedforward, dropout=0.1, activation=activation,
                                         layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                                         norm_first=norm_first).to(inp["src"].dtype).eval()
    _bind(m, inp)
    return m(inp["src"], src_mask=inp.get("src_mask"), src_key_padding_mask=inp.get("src_key_padding_mask"))


def _cell(kind):
    def run(inp, hidden_size, bias=True):
        cls = torch.nn.LSTMCell if kind == "lstm_cell" else torch.nn.GRUCell
        m = cls(inp["input"].shape[-1], hidden_size, bias=bias).to(inp["input"].dtype)
        _bind(m, inp)
        if kind == "lstm_cell":
            state = (inp["h"], inp["c"]) if "h" in inp else None
            h, c = m(inp["input"], state)
            return [h, c]
        return m(inp["input"], inp.get("h"))
    return run


def _bind(module, inp):
    """Use the case's tensors as the module's parameters (so autograd reaches them)."""
    for name, _ in list(module.named_parameters()):
        *path, leaf = name.split(".")
        owner = module
        for p in path:
            owner = getattr(owner, p)
        delattr(owner, leaf)
        setattr(owner, leaf, inp[name])


def _topk(x, k, dim=-1, largest=True):
    r = torch.topk(x, k, dim=dim, largest=largest, sorted=True)
    return [r.values, r.indices]


def _sort(x, dim=-1, descending=False):
    r = torch.sort(x, dim=dim, descending=descending, stable=True)
    return [r.values, r.indices]


OPS = {
    "gelu": lambda x, approximate="none": F.gelu(x, approximate=approximate),
    "silu": F.silu, "softplus": F.softplus, "erf": torch.erf,
    "layer_norm": lambda x, w=None, b=None, normalized_shape=None, eps=1e-5: F.layer_norm(x, normalized_shape, w, b, eps),
    "scaled_dot_product_attention": sdpa,
    "cumsum": lambda x, dim: torch.cumsum(x, dim),
    "topk": _topk, "sort": _sort,
    "argsort": lambda x, dim=-1, descending=False: torch.sort(x, dim=dim, descending=descending, stable=True).indices,
    "triu": lambda x, diagonal=0: torch.triu(x, diagonal), "tril": lambda x, diagonal=0: torch.tril(x, diagonal),
    "masked_fill": lambda x, m, value: x.masked_fill(m, value),
    "split": lambda x, split_size_or_sections, dim=0: list(torch.split(x, split_size_or_sections, dim)),
    "chunk": lambda x, chunks, dim=0: list(torch.chunk(x, chunks, dim)),
    "conv1d": lambda x, w, b=None, stride=1, padding=0, dilation=1, groups=1: F.conv1d(x, w, b, stride, padding, dilation, groups),
    "multihead_attention": _mha, "transformer_encoder_layer": _encoder_layer,
    "lstm_cell": _cell("lstm_cell"), "gru_cell": _cell("gru_cell"),
}
MULTI_OUTPUT = {"topk": ["values", "indices"], "sort": ["values", "indices"], "split": None, "chunk": None,
                "multihead_attention": ["attn_output", "attn_weights"], "lstm_cell": ["h", "c"]}
NO_GRAD_OUTPUTS = {"topk": {1}, "sort": {1}}


def case(name, inputs, kwargs=None, grad=False):
    assert name not in NAMES, name
    NAMES.add(name)
    op = name.split("/")[0]
    kwargs = kwargs or {}
    seed(name)
    ins = build(inputs)
    kw = build(kwargs)
    floats = lambda t: t is not None and torch.is_tensor(t) and t.is_floating_point()
    if grad:
        for t in (ins.values() if isinstance(ins, dict) else ins):
            if floats(t):
                t.requires_grad_(True)
    out = OPS[op](ins, **kw) if isinstance(ins, dict) else OPS[op](*ins, **kw)
    rec = {"name": name, "op": op,
           "inputs": {k: enc(v) for k, v in ins.items()} if isinstance(ins, dict) else [enc(v) for v in ins],
           "kwargs": enc_kwargs(kw)}
    outs = out if isinstance(out, list) else [out]
    if op in MULTI_OUTPUT:
        rec["outputs"] = [enc(o) for o in outs]
        names = MULTI_OUTPUT[op]
        rec["output_names"] = names[:len(outs)] if names else [f"{i}" for i in range(len(outs))]
    else:
        rec["output"] = enc(out)
    if grad:
        skip = NO_GRAD_OUTPUTS.get(op, set())
        ws = [None if i in skip else f32_grid(torch.randn(o.shape, dtype=f64)) for i, o in enumerate(outs)]
        total = sum((o * w).sum() for o, w in zip(outs, ws) if w is not None)
        named = list(ins.items()) if isinstance(ins, dict) else list(enumerate(ins))
        diff = [(k, t) for k, t in named if floats(t)]
        gs = dict(zip([k for k, _ in diff], torch.autograd.grad(total, [t for _, t in diff], allow_unused=True)))
        grads = {k: (enc(gs[k] if gs[k] is not None else torch.zeros_like(t)) if k in gs else None)
                 for k, t in named}
        rec["grads"] = grads if isinstance(ins, dict) else [grads[i] for i in range(len(ins))]
        if op in MULTI_OUTPUT:
            rec["grad_outputs"] = [enc(w) for w in ws]
        else:
            rec["grad_output"] = enc(ws[0])
    CASES.append(rec)


def ties(*shape, hi=3):
    return mf.Spec(lambda: torch.randint(0, hi, shape).to(f64))


def tril_mask(L, S, diagonal=0):
    return mf.Spec(lambda: torch.ones(L, S, dtype=torch.bool).tril(diagonal))


def op_cases():
    for a in ["none", "tanh"]:
        case(f"gelu/{a}", [randn(3, 5, scale=2.0)], {"approximate": a}, grad=True)
    case("gelu/large", [randn(2, 4, scale=6.0)])
    case("silu/basic", [randn(3, 4, scale=2.0)], grad=True)
    case("softplus/default", [randn(3, 4, scale=3.0)], grad=True)
    case("softplus/beta2_threshold1", [randn(3, 4, scale=2.0)], {"beta": 2.0, "threshold": 1.0})
    case("softplus/large", [randn(2, 3, scale=1.0, shift=25.0)])
    case("erf/basic", [randn(4, 5, scale=2.0)], grad=True)
    case("erf/tails", [const([-7.0, -4.5, -3.2, -2.9, 0.0, 1e-3, 2.7, 3.5, 5.9, 6.5], f64)])
    case("layer_norm/last_dim", [randn(2, 3, 4, scale=2.0, shift=1.0), pos(4), randn(4)], {"normalized_shape": [4]}, grad=True)
    case("layer_norm/two_dims", [randn(2, 3, 4), randn(3, 4), randn(3, 4)], {"normalized_shape": [3, 4]}, grad=True)
    case("layer_norm/no_affine_eps", [randn(3, 5, scale=0.01)], {"normalized_shape": [5], "eps": 1e-3})
    case("scaled_dot_product_attention/basic", [randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 3)], grad=True)
    case("scaled_dot_product_attention/heads_causal", [randn(2, 2, 4, 8), randn(2, 2, 4, 8), randn(2, 2, 4, 8)],
         {"is_causal": True}, grad=True)
    case("scaled_dot_product_attention/causal_l_lt_s", [randn(1, 3, 4), randn(1, 5, 4), randn(1, 5, 2)], {"is_causal": True})
    case("scaled_dot_product_attention/bool_mask", [randn(2, 3, 4), randn(2, 4, 4), randn(2, 4, 3)],
         {"attn_mask": tril_mask(3, 4, 1)}, grad=True)
    case("scaled_dot_product_attention/float_mask_scale", [randn(2, 3, 4), randn(2, 4, 4), randn(2, 4, 2)],
         {"attn_mask": randn(3, 4), "scale": 0.3}, grad=True)
    case("cumsum/dim1", [randn(3, 7)], {"dim": 1}, grad=True)
    case("cumsum/dim0_3d", [randn(5, 2, 3)], {"dim": 0})
    case("cumsum/long", [randn(2, 100)], {"dim": -1})
    case("topk/largest", [randn(3, 8)], {"k": 3}, grad=True)
    case("topk/smallest_dim0", [randn(6, 4)], {"k": 2, "dim": 0, "largest": False})
    case("sort/ascending", [randn(3, 6)], {"dim": -1}, grad=True)
    case("sort/descending_ties", [ties(3, 8)], {"dim": 1, "descending": True})
    case("sort/ascending_ties_dim0", [ties(8, 3)], {"dim": 0})
    case("argsort/ties", [ties(4, 7)], {"dim": -1})
    case("argsort/descending", [randn(2, 3, 5)], {"dim": 1, "descending": True})
    for d in [0, 1, -1]:
        case(f"triu/diag{d}", [randn(4, 5)], {"diagonal": d})
        case(f"tril/diag{d}", [randn(2, 4, 3)], {"diagonal": d})
    case("masked_fill/broadcast", [randn(3, 4), mask(4)], {"value": -1.5}, grad=True)
    case("split/size", [randn(7, 3)], {"split_size_or_sections": 3}, grad=True)
    case("split/sections_dim1", [randn(2, 6)], {"split_size_or_sections": [1, 3, 2], "dim": 1})
    case("chunk/uneven", [randn(2, 7)], {"chunks": 3, "dim": 1}, grad=True)
    case("chunk/fewer", [randn(3, 2)], {"chunks": 5, "dim": 0})
    case("conv1d/basic", [randn(2, 3, 9), randn(4, 3, 3, scale=0.3), randn(4)], grad=True)
    case("conv1d/stride_pad_dil", [randn(1, 4, 10), randn(6, 2, 3, scale=0.3), randn(6)],
         {"stride": 2, "padding": 2, "dilation": 2, "groups": 2}, grad=True)


def layer_cases():
    E, H = 8, 2

    def mha(L, S, N=2, batch_first=False, bias=True, **masks):
        shape = (lambda T: (N, T, E)) if batch_first else (lambda T: (T, N, E))
        d = {"query": randn(*shape(L)), "key": randn(*shape(S)), "value": randn(*shape(S)),
             "in_proj_weight": randn(3 * E, E, scale=0.3), "out_proj.weight": randn(E, E, scale=0.3)}
        if bias:
            d["in_proj_bias"] = randn(3 * E, scale=0.1)
            d["out_proj.bias"] = randn(E, scale=0.1)
        d.update(masks)
        return d

    case("multihead_attention/self_seq_first", mha(4, 4), {"num_heads": H}, grad=True)
    case("multihead_attention/cross_batch_first", mha(3, 5, batch_first=True), {"num_heads": H, "batch_first": True}, grad=True)
    case("multihead_attention/per_head_weights", mha(3, 4), {"num_heads": H, "average_attn_weights": False})
    case("multihead_attention/no_bias_no_weights", mha(3, 3, bias=False), {"num_heads": 4, "need_weights": False, "bias": False})
    case("multihead_attention/bool_masks", mha(4, 5, key_padding_mask=const([[False] * 4 + [True], [False] * 3 + [True] * 2], torch.bool),
                                           attn_mask=mf.Spec(lambda: ~torch.ones(4, 5, dtype=torch.bool).tril(1))),
         {"num_heads": H}, grad=True)
    case("multihead_attention/float_mask_3d", mha(3, 4, attn_mask=randn(2 * H, 3, 4)), {"num_heads": H})

    def enc_layer(S=5, N=2, FF=16, batch_first=False, **masks):
        d = {"src": randn(*((N, S, E) if batch_first else (S, N, E)))}
        d.update({"self_attn.in_proj_weight": randn(3 * E, E, scale=0.3), "self_attn.in_proj_bias": randn(3 * E, scale=0.1),
                  "self_attn.out_proj.weight": randn(E, E, scale=0.3), "self_attn.out_proj.bias": randn(E, scale=0.1),
                  "linear1.weight": randn(FF, E, scale=0.3), "linear1.bias": randn(FF, scale=0.1),
                  "linear2.weight": randn(E, FF, scale=0.3), "linear2.bias": randn(E, scale=0.1),
                  "norm1.weight": pos(E, lo=0.5, hi=1.5), "norm1.bias": randn(E, scale=0.1),
                  "norm2.weight": pos(E, lo=0.5, hi=1.5), "norm2.bias": randn(E, scale=0.1)})
        d.update(masks)
        return d

    base = {"nhead": H, "dim_feedforward": 16}
    case("transformer_encoder_layer/post_norm_relu", enc_layer(), base, grad=True)
    case("transformer_encoder_layer/norm_first_gelu_batch_first", enc_layer(batch_first=True),
         {**base, "activation": "gelu", "norm_first": True, "batch_first": True}, grad=True)
    case("transformer_encoder_layer/masks", enc_layer(src_mask=mf.Spec(lambda: ~torch.ones(5, 5, dtype=torch.bool).tril()),
                                                      src_key_padding_mask=const([[False] * 5, [False] * 3 + [True] * 2], torch.bool)),
         {**base, "layer_norm_eps": 1e-6}, grad=True)

    I, Hc = 3, 4

    def cell(gates, batch=(2,), state=True, c=False, bias=True):
        d = {"input": randn(*batch, I)}
        if state:
            d["h"] = randn(*batch, Hc, scale=0.5)
            if c:
                d["c"] = randn(*batch, Hc, scale=0.5)
        d["weight_ih"] = randn(gates * Hc, I, scale=0.5)
        d["weight_hh"] = randn(gates * Hc, Hc, scale=0.5)
        if bias:
            d["bias_ih"] = randn(gates * Hc, scale=0.3)
            d["bias_hh"] = randn(gates * Hc, scale=0.3)
        return d

    case("lstm_cell/basic", cell(4, c=True), {"hidden_size": Hc}, grad=True)
    case("lstm_cell/no_state_no_bias", cell(4, state=False, bias=False), {"hidden_size": Hc, "bias": False})
    case("lstm_cell/unbatched", cell(4, batch=(), c=True), {"hidden_size": Hc})
    case("gru_cell/basic", cell(3), {"hidden_size": Hc}, grad=True)
    case("gru_cell/no_state", cell(3, state=False), {"hidden_size": Hc})
    case("gru_cell/unbatched", cell(3, batch=()), {"hidden_size": Hc})


# ---- state-dict names and the safetensors interchange -------------------------------------------

ST_DTYPE = {torch.float32: ("F32", "<f"), torch.float64: ("F64", "<d")}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        code, fmt = ST_DTYPE[t.dtype]
        data = struct.pack("<%d%s" % (t.numel(), fmt[1]), *t.reshape(-1).tolist())
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base, out = 8 + n, {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": torch.float32, "F64": torch.float64}[e["dtype"]]
        b, end = e["data_offsets"]
        fmt = "<f" if dtype == torch.float32 else "<d"
        count = (end - b) // (4 if dtype == torch.float32 else 8)
        vals = struct.unpack("<%d%s" % (count, fmt[1]), raw[base + b:base + end])
        out[name] = torch.tensor(vals, dtype=dtype).reshape(e["shape"])
    return out


INTERCHANGE_LAYER = {"d_model": 16, "nhead": 4, "dim_feedforward": 32, "activation": "gelu", "batch_first": True,
                     "norm_first": False}


def interchange_layer(dtype):
    seed("interchange/transformer_encoder_layer")
    m = torch.nn.TransformerEncoderLayer(**INTERCHANGE_LAYER, dropout=0.1).to(dtype).eval()
    with torch.no_grad():  # PyTorch's own initialisation, biases moved off zero so they matter
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.randn(p.shape, dtype=dtype) * 0.1)
    return m


def interchange_inputs(dtype):
    seed("interchange/inputs")
    x = f32_grid(torch.randn(3, 6, 16, dtype=f64)).to(dtype)
    kpm = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] * 5 + [True]])
    return x, kpm


def run_layer(m, x, kpm):
    # Autograd on: torch 1.13 takes its inference-only fast path (nested tensors, zeros at padded
    # positions) only without it; the reference is the ordinary path.
    x = x.clone().requires_grad_(True)
    return m(x, src_key_padding_mask=kpm).detach()


def interchange():
    cases = []
    for dtype, suffix in [(torch.float32, "f32"), (torch.float64, "f64")]:
        m = interchange_layer(dtype)
        fname = f"transformer_encoder_layer_{suffix}.safetensors"
        write_safetensors(os.path.join(OUT_DIR, fname), m.state_dict())
        x, kpm = interchange_inputs(dtype)
        cases.append({"name": f"transformer_encoder_layer/{suffix}", "file": fname, "dtype": "float32" if dtype == torch.float32 else "float64",
                      "kwargs": INTERCHANGE_LAYER, "input": enc(x.double()), "src_key_padding_mask": enc(kpm),
                      "output": enc(run_layer(m, x, kpm).double())})
    seed("interchange/multihead_attention")
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_bias.copy_(torch.randn(48) * 0.1)
        mha.out_proj.bias.copy_(torch.randn(16) * 0.1)
    write_safetensors(os.path.join(OUT_DIR, "multihead_attention_f32.safetensors"), mha.state_dict())
    x, kpm = interchange_inputs(torch.float32)
    q = x.clone().requires_grad_(True)
    out, w = mha(q, q, q, key_padding_mask=kpm)
    cases.append({"name": "multihead_attention/f32", "file": "multihead_attention_f32.safetensors", "dtype": "float32",
                  "kwargs": {"embed_dim": 16, "num_heads": 4, "batch_first": True}, "input": enc(x.double()),
                  "key_padding_mask": enc(kpm), "output": enc(out.detach().double()), "weights": enc(w.detach().double())})
    return cases


def state_dicts():
    layer = torch.nn.TransformerEncoderLayer(16, 4, 32)
    enc_ = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(16), enable_nested_tensor=False)
    mods = {"transformer_encoder_layer": layer, "transformer_encoder_2_layers_norm": enc_,
            "multihead_attention": torch.nn.MultiheadAttention(16, 4), "multihead_attention_no_bias": torch.nn.MultiheadAttention(16, 4, bias=False),
            "layer_norm": torch.nn.LayerNorm([3, 4]), "lstm_cell": torch.nn.LSTMCell(3, 4), "gru_cell": torch.nn.GRUCell(3, 4),
            "conv1d": torch.nn.Conv1d(4, 6, 3, groups=2),
            "module_list": torch.nn.ModuleList([torch.nn.Linear(2, 3), torch.nn.Linear(3, 1)]),
            "module_dict": torch.nn.ModuleDict({"encoder": torch.nn.Linear(2, 3), "head": torch.nn.Linear(3, 1)})}
    return {k: [[n, list(t.shape)] for n, t in m.state_dict().items()] for k, m in mods.items()}


def check_nabla(path):
    """Load a state dict Nabla wrote into torch's layer (strict) and compare with the fixture output."""
    tensors = read_safetensors(path)
    dtype = next(iter(tensors.values())).dtype
    m = torch.nn.TransformerEncoderLayer(**INTERCHANGE_LAYER, dropout=0.1).to(dtype).eval()
    m.load_state_dict(tensors, strict=True)
    x, kpm = interchange_inputs(dtype)
    got = run_layer(m, x, kpm)
    sidecar = path + ".json"
    if os.path.exists(sidecar):  # Nabla's own weights: compare with the output Nabla computed
        want = torch.tensor(json.load(open(sidecar))["output"], dtype=dtype).reshape(got.shape)
        what = "Nabla's output"
    else:  # the fixture's weights written back by Nabla: compare with torch on the original file
        want = run_layer(interchange_layer(dtype), x, kpm)
        what = "torch(original)"
    err = (got - want).abs().max().item()
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    print(f"{path}: {len(tensors)} tensors loaded strictly into torch.nn.TransformerEncoderLayer ({dtype}); "
          f"max |torch(Nabla's weights) - {what}| = {err:.3g} (tolerance {tol:g})")
    sys.exit(0 if err <= tol else 1)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check-nabla":
        check_nabla(sys.argv[2])
        return
    torch.set_default_dtype(torch.float32)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT_DIR, exist_ok=True)
    op_cases()
    layer_cases()
    head = {"torch_version": torch.__version__, "doc": __doc__.strip().splitlines()}
    path = os.path.join(OUT_DIR, "transformer.json")
    parts = [mf.dumps(k) + ":" + mf.dumps(v) for k, v in head.items()]
    parts.append('"cases":[\n' + ",\n".join(mf.dumps(c) for c in CASES) + "\n]")
    parts.append('"state_dicts":' + mf.dumps(state_dicts()))
    parts.append('"interchange":[\n' + ",\n".join(mf.dumps(c) for c in interchange()) + "\n]")
    with open(path, "w") as f:
        f.write("{" + ",\n".join(parts) + "}\n")
    json.load(open(path))
    print(f"{path}: {os.path.getsize(path)} bytes, {len(CASES)} cases")


if __name__ == "__main__":
    main()
