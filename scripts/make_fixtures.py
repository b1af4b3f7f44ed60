"""Write the PyTorch reference fixtures that Nabla's differential tests load.

Regenerate with `npm run fixtures` (runs `/usr/bin/python3 scripts/make_fixtures.py`, Debian's
python3-torch; the `python3` on PATH has no torch). Output is deterministic: each case seeds torch
from a CRC32 of its own name, so adding a case does not change the data of any other case.

test/fixtures/torch/ops.json
  {"torch_version", "doc": [...], "cases": [case, ...]}, one case per line.
  tensor  = {"shape": [..], "dtype": "float64" | "int32" | "bool", "data": [flat row-major]}
            bool data is 0/1; int64 results of PyTorch (argmax) are stored as "int32".
  case    = {"name": "<op>/<variant>", "op", "inputs", "kwargs", and either "output": tensor
             or "outputs": [tensor, ...] with "output_names": [...] (PyTorch's return order)}
  inputs  = a list of tensors in PyTorch's positional order, except for the layer cases
            (rnn, lstm, gru, batch_norm) where it is a dict {PyTorch parameter name: tensor}.
  kwargs  = PyTorch's keyword names. A tensor-valued keyword (weight, pos_weight of the losses)
            is a tensor object inside kwargs. Op-specific conventions:
            pow     scalar exponent: one input and kwargs.exponent; tensor exponent: two inputs.
            slice   {dim, start, end, step}: x[..., start:end:step] on dim, Python slice rules
                    (negative start/end count from the end, out-of-range values clamp, null =
                    omitted); step >= 1.
            pad     {pad, mode: "constant", value}: F.pad; pad pairs start at the last dim;
                    negative entries crop.
            var     {dim (null = all), keepdim, correction}; correction 1 = unbiased (default).
            where   inputs [condition ("bool"), input, other].
            max/min without dim = full reduce; with dim = the values of torch.max(x, dim).
            rnn/lstm/gru: inputs {input [T,B,I] (or [T,I] unbatched), h_0?, c_0?, weight_ih_l0,
                    weight_hh_l0, bias_ih_l0?, bias_hh_l0?}; absent h_0/c_0 mean zeros; gate
                    order is PyTorch's (LSTM i,f,g,o; GRU r,z,n); outputs [output, h_n(, c_n)].
            batch_norm: inputs {input, running_mean, running_var, weight?, bias?}, kwargs
                    {training, momentum, eps}; outputs [output, running_mean, running_var], the
                    running stats being their values after the call (updated only in training).
  Float inputs are float64 values that are exactly representable in float32, so a float32 run
  sees the same inputs; outputs are computed by torch in float64.
  Gradient cases add "grad_output" (or "grad_outputs", null for non-differentiable outputs): the
  fixed cotangent w, and "grads": d sum(output * w) / d input for each input (list or dict like
  "inputs"; null for integer/bool inputs).

test/fixtures/torch/optim.json
  optimizers: {name, class, kwargs, params: [tensor], grads: [[tensor per param] per step],
               after: [[tensor per param] per step]}; params are float32 in torch, 3 steps.
  schedulers: {name, class, kwargs, base_lr, metrics?, lrs}; lrs[i] = lr in effect at epoch i,
               i = 0..12 (lrs[0] = base_lr, then after each of 12 scheduler.step() calls;
               ReduceLROnPlateau gets step(metrics[i])).
  clip:       {name, kwargs, grads, total_norm, clipped} for clip_grad_norm_.
"""

import json
import os
import zlib

import torch
import torch.nn.functional as F

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "torch"))
f64 = torch.float64


def seed(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def f32_grid(t):
    return t.float().double()


# ---- input specs: materialised after the case's seed is set -------------------------------------

class Spec:
    def __init__(self, make):
        self.make = make


def randn(*shape, scale=1.0, shift=0.0):
    return Spec(lambda: f32_grid(torch.randn(shape, dtype=f64) * scale + shift))


def pos(*shape, lo=0.1, hi=2.0):
    return Spec(lambda: f32_grid(torch.rand(shape, dtype=f64) * (hi - lo) + lo))


def away(*shape):
    """Values with |x| in [0.5, 1.5]: safe divisors."""
    return Spec(lambda: f32_grid((torch.rand(shape, dtype=f64) + 0.5) * (torch.randint(0, 2, shape) * 2 - 1)))


def small_ints(*shape):
    """Floats from {-1, 0, 1, 2}: comparisons then have ties."""
    return Spec(lambda: torch.randint(-1, 3, shape).to(f64))


def ints(high, *shape):
    return Spec(lambda: torch.randint(0, high, shape))


def const(values, dtype=torch.int64):
    return Spec(lambda: torch.tensor(values, dtype=dtype))


def mask(*shape):
    return Spec(lambda: torch.rand(shape) < 0.5)


def probs(*shape):
    return Spec(lambda: f32_grid(torch.sigmoid(torch.randn(shape, dtype=f64))))


def log_probs(*shape, dim=-1):
    return Spec(lambda: f32_grid(torch.log_softmax(torch.randn(shape, dtype=f64), dim)))


def wellcond(n, *batch, pivot=False):
    """I + small noise (condition number ~2); pivot swaps two rows so LU must pivot."""
    def make():
        a = torch.eye(n, dtype=f64) + torch.randn(*batch, n, n, dtype=f64) * (0.3 / n ** 0.5)
        if pivot:
            a = a[..., [1, 0] + list(range(2, n)), :]
        return f32_grid(a)
    return Spec(make)


def build(x):
    if isinstance(x, Spec):
        return x.make()
    if isinstance(x, dict):
        return {k: build(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [build(v) for v in x]
    return x


# ---- encoding -----------------------------------------------------------------------------------

def enc(t):
    if t is None:
        return None
    t = t.detach()
    flat = t.reshape(-1).tolist()
    if t.dtype == torch.bool:
        return {"shape": list(t.shape), "dtype": "bool", "data": [int(v) for v in flat]}
    if t.dtype in (torch.int64, torch.int32):
        assert all(-2 ** 31 <= v < 2 ** 31 for v in flat)
        return {"shape": list(t.shape), "dtype": "int32", "data": flat}
    assert t.dtype in (torch.float64, torch.float32), t.dtype
    assert torch.isfinite(t).all(), "non-finite value in a fixture"
    return {"shape": list(t.shape), "dtype": "float64" if t.dtype == f64 else "float32",
            "data": [float(v) for v in flat]}


def enc_kwargs(kwargs):
    return {k: enc(v) if torch.is_tensor(v) else v for k, v in kwargs.items()}


# ---- ops whose JSON form differs from a plain torch call ----------------------------------------

def _slice(x, dim, start=None, end=None, step=1):
    d = dim % x.dim()
    return x[(slice(None),) * d + (slice(start, end, step),)]


def _max(x, dim=None, keepdim=False):
    return torch.max(x) if dim is None else torch.max(x, dim, keepdim).values


def _min(x, dim=None, keepdim=False):
    return torch.min(x) if dim is None else torch.min(x, dim, keepdim).values


def _batch_norm(inp, training, momentum, eps):
    rm, rv = inp["running_mean"].detach().clone(), inp["running_var"].detach().clone()
    out = F.batch_norm(inp["input"], rm, rv, inp.get("weight"), inp.get("bias"), training, momentum, eps)
    return [out, rm, rv]


def _recurrent(kind):
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]

    def run(inp, hidden_size, num_layers=1, batch_first=False, bias=True, **extra):
        assert num_layers == 1 and not batch_first
        mod = cls(inp["input"].shape[-1], hidden_size, num_layers=1, bias=bias, **extra).to(inp["input"].dtype)
        # Use the case's tensors themselves as the module's parameters so autograd reaches them.
        for name, _ in list(mod.named_parameters()):
            delattr(mod, name)
            setattr(mod, name, inp[name])
        mod._flat_weights = [inp[n] for n in mod._flat_weights_names]
        if kind == "lstm":
            state = (inp["h_0"], inp["c_0"]) if "h_0" in inp else None
            out, (h, c) = mod(inp["input"], state)
            return [out, h, c]
        out, h = mod(inp["input"], inp.get("h_0"))
        return [out, h]
    return run


OPS = {
    "neg": torch.neg, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
    "relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "clamp": torch.clamp,
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "pow": lambda x, y=None, exponent=None: torch.pow(x, y if exponent is None else exponent),
    "maximum": torch.maximum, "minimum": torch.minimum,
    "eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge,
    "where": torch.where,
    "sum": lambda x, dim=None, keepdim=False: x.sum() if dim is None else x.sum(dim, keepdim),
    "mean": lambda x, dim=None, keepdim=False: x.mean() if dim is None else x.mean(dim, keepdim),
    "max": _max, "min": _min, "argmax": torch.argmax,
    "var": lambda x, dim=None, keepdim=False, correction=1: torch.var(x, dim=dim, correction=correction, keepdim=keepdim),
    "logsumexp": torch.logsumexp,
    "reshape": lambda x, shape: x.reshape(shape), "permute": lambda x, dims: x.permute(dims),
    "transpose": torch.transpose, "slice": _slice,
    "cat": lambda *xs, dim=0: torch.cat(xs, dim), "stack": lambda *xs, dim=0: torch.stack(xs, dim),
    "gather": lambda x, index, dim: torch.gather(x, dim, index),
    "index_select": lambda x, index, dim: torch.index_select(x, dim, index),
    "pad": lambda x, pad, mode="constant", value=0.0: F.pad(x, tuple(pad), mode, value),
    "squeeze": lambda x, dim=None: x.squeeze() if dim is None else x.squeeze(dim),
    "unsqueeze": torch.unsqueeze, "expand": lambda x, size: x.expand(size),
    "matmul": torch.matmul,
    "linear": F.linear, "conv2d": F.conv2d, "max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d,
    "softmax": torch.softmax, "log_softmax": torch.log_softmax, "embedding": F.embedding,
    "det": torch.linalg.det, "inv": torch.linalg.inv, "solve": torch.linalg.solve,
    "mse_loss": F.mse_loss, "cross_entropy": F.cross_entropy, "nll_loss": F.nll_loss,
    "binary_cross_entropy": F.binary_cross_entropy,
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "batch_norm": _batch_norm, "rnn": _recurrent("rnn"), "lstm": _recurrent("lstm"), "gru": _recurrent("gru"),
}
MULTI_OUTPUT = {"batch_norm": ["output", "running_mean", "running_var"], "rnn": ["output", "h_n"],
                "lstm": ["output", "h_n", "c_n"], "gru": ["output", "h_n"]}
# Outputs that carry no gradient (updated buffers), by op.
NO_GRAD_OUTPUTS = {"batch_norm": {1, 2}}

CASES = []
NAMES = set()


def case(name, inputs, kwargs=None, grad=False):
    assert name not in NAMES, name
    NAMES.add(name)
    op = name.split("/")[0]
    kwargs = kwargs or {}
    seed(name)
    ins = build(inputs)
    kw = build(kwargs)
    floats = lambda t: t is not None and t.is_floating_point()
    if grad:
        for t in (ins.values() if isinstance(ins, dict) else ins):
            if floats(t):
                t.requires_grad_(True)
    fn = OPS[op]
    out = fn(ins, **kw) if isinstance(ins, dict) else fn(*ins, **kw)
    rec = {"name": name, "op": op,
           "inputs": {k: enc(v) for k, v in ins.items()} if isinstance(ins, dict) else [enc(v) for v in ins],
           "kwargs": enc_kwargs(kw)}
    outs = out if isinstance(out, list) else [out]
    if op in MULTI_OUTPUT:
        rec["outputs"] = [enc(o) for o in outs]
        rec["output_names"] = MULTI_OUTPUT[op]
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


# ---- the cases ----------------------------------------------------------------------------------

def elementwise_cases():
    for op in ["neg", "exp", "abs", "relu", "sigmoid", "tanh", "log", "sqrt"]:
        gen = pos if op in ("log", "sqrt") else randn
        case(f"{op}/basic", [gen(3, 4)])
        case(f"{op}/scalar", [gen()])
        case(f"{op}/3d", [gen(2, 3, 4)])
    case("neg/empty", [randn(0, 3)])
    case("exp/empty", [randn(2, 0)])
    case("leaky_relu/default", [randn(3, 4)])
    case("leaky_relu/slope_0.2", [randn(3, 4)], {"negative_slope": 0.2})
    case("leaky_relu/scalar", [randn()], {"negative_slope": 0.1})
    case("clamp/min_max", [randn(3, 4)], {"min": -0.5, "max": 0.5})
    case("clamp/min_only", [randn(3, 4)], {"min": -0.2})
    case("clamp/max_only", [randn(3, 4)], {"max": 0.3})
    case("clamp/min_gt_max", [randn(3, 4)], {"min": 0.5, "max": -0.5})  # PyTorch: all become max
    case("clamp/scalar", [randn()], {"min": 0.0, "max": 0.1})

    for op in ["add", "sub", "mul", "div", "maximum", "minimum"]:
        b = away if op == "div" else randn
        case(f"{op}/same_shape", [randn(3, 4), b(3, 4)])
        case(f"{op}/broadcast_row", [randn(3, 4), b(4)])
        case(f"{op}/broadcast_both", [randn(2, 1, 4), b(3, 1)])
        case(f"{op}/scalar_tensor", [randn(3, 4), b()])
        case(f"{op}/tensor_scalar_lhs", [randn(), b(2, 3)])
        case(f"{op}/scalars", [randn(), b()])
        case(f"{op}/empty", [randn(0, 3), b(3)])
    case("pow/tensor", [pos(3, 4), randn(3, 4)])
    case("pow/tensor_broadcast", [pos(2, 1, 4), randn(3, 1)])
    case("pow/tensor_scalar_base", [pos(), randn(2, 3)])
    case("pow/exponent_2", [randn(3, 4)], {"exponent": 2})
    case("pow/exponent_3_neg_base", [randn(3, 4)], {"exponent": 3})
    case("pow/exponent_0.5", [pos(3, 4)], {"exponent": 0.5})
    case("pow/exponent_-1.5", [pos(3, 4)], {"exponent": -1.5})
    case("pow/exponent_0", [randn(3, 4)], {"exponent": 0})
    case("pow/scalar_input", [pos()], {"exponent": 2.5})

    for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
        case(f"{op}/same_shape", [small_ints(3, 4), small_ints(3, 4)])
        case(f"{op}/broadcast", [small_ints(2, 1, 4), small_ints(3, 1)])
        case(f"{op}/scalar_tensor", [small_ints(3, 4), small_ints()])
    case("where/same_shape", [mask(3, 4), randn(3, 4), randn(3, 4)])
    case("where/broadcast", [mask(3, 1), randn(4), randn()])
    case("where/broadcast_cond", [mask(4), randn(2, 3, 1), randn(3, 4)])
    case("where/scalars", [const(True, torch.bool), randn(), randn()])


def reduction_cases():
    for op in ["sum", "mean"]:
        case(f"{op}/all", [randn(3, 4)])
        case(f"{op}/dim1", [randn(3, 4)], {"dim": 1})
        case(f"{op}/dim1_keepdim", [randn(3, 4)], {"dim": 1, "keepdim": True})
        case(f"{op}/dim_neg1", [randn(2, 3, 4)], {"dim": -1})
        case(f"{op}/dims_0_2", [randn(2, 3, 4)], {"dim": [0, 2]})
        case(f"{op}/dims_0_2_keepdim", [randn(2, 3, 4)], {"dim": [0, 2], "keepdim": True})
        case(f"{op}/dims_neg", [randn(2, 3, 4)], {"dim": [-1, -2]})
        case(f"{op}/scalar", [randn()])
    case("sum/empty_all", [randn(0, 3)])
    case("sum/empty_dim0", [randn(0, 3)], {"dim": 0})
    case("sum/empty_dim1", [randn(0, 3)], {"dim": 1})
    for op in ["max", "min"]:
        case(f"{op}/all", [randn(3, 4)])
        case(f"{op}/dim1", [randn(3, 4)], {"dim": 1})
        case(f"{op}/dim0_keepdim", [randn(3, 4)], {"dim": 0, "keepdim": True})
        case(f"{op}/dim_neg1_3d", [randn(2, 3, 4)], {"dim": -1})
        case(f"{op}/dim1_3d_keepdim", [randn(2, 3, 4)], {"dim": 1, "keepdim": True})
        case(f"{op}/scalar", [randn()])
    case("argmax/all_2d", [randn(4, 5)])
    case("argmax/dim1", [randn(3, 4)], {"dim": 1})
    case("argmax/dim0_keepdim", [randn(3, 4)], {"dim": 0, "keepdim": True})
    case("argmax/dim_neg1_3d", [randn(2, 3, 4)], {"dim": -1})
    case("argmax/dim1_3d_keepdim", [randn(2, 3, 4)], {"dim": 1, "keepdim": True})
    case("var/all", [randn(3, 4)])
    case("var/all_correction0", [randn(3, 4)], {"correction": 0})
    case("var/dim1", [randn(3, 4)], {"dim": 1}, grad=True)
    case("var/dim1_correction0", [randn(3, 4)], {"dim": 1, "correction": 0}, grad=True)
    case("var/dim0_keepdim", [randn(3, 4)], {"dim": 0, "keepdim": True, "correction": 1})
    case("var/dims_0_2_keepdim", [randn(2, 3, 4)], {"dim": [0, 2], "keepdim": True})
    case("var/dim_neg1_correction0", [randn(2, 3, 4)], {"dim": -1, "correction": 0})
    case("logsumexp/dim1", [randn(3, 4)], {"dim": 1}, grad=True)
    case("logsumexp/dim_neg1_keepdim", [randn(2, 3, 4)], {"dim": -1, "keepdim": True})
    case("logsumexp/dims_0_1", [randn(2, 3, 4)], {"dim": [0, 1]})
    case("logsumexp/large_values", [randn(3, 4, shift=100.0)], {"dim": 1})  # exp overflows float32
    case("logsumexp/very_negative", [randn(3, 4, shift=-200.0)], {"dim": 1})


def movement_cases():
    case("reshape/basic", [randn(3, 4)], {"shape": [4, 3]})
    case("reshape/infer", [randn(2, 3, 4)], {"shape": [2, -1]})
    case("reshape/to_scalar", [randn(1, 1)], {"shape": []})
    case("reshape/from_scalar", [randn()], {"shape": [1, 1]})
    case("reshape/empty", [randn(0, 3)], {"shape": [3, 0]})
    case("permute/3d", [randn(2, 3, 4)], {"dims": [2, 0, 1]})
    case("permute/neg_dims", [randn(2, 3, 4)], {"dims": [-1, 0, 1]})
    case("permute/identity", [randn(2, 3)], {"dims": [0, 1]})
    case("transpose/2d", [randn(3, 4)], {"dim0": 0, "dim1": 1})
    case("transpose/3d_neg", [randn(2, 3, 4)], {"dim0": -1, "dim1": 0})
    case("slice/basic", [randn(3, 5)], {"dim": 1, "start": 1, "end": 3, "step": 1})
    case("slice/step2", [randn(3, 5)], {"dim": 1, "start": 0, "end": 5, "step": 2})
    case("slice/negative_bounds", [randn(4, 5)], {"dim": 0, "start": -3, "end": -1, "step": 1})
    case("slice/end_clamped", [randn(3, 5)], {"dim": -1, "start": 2, "end": 100, "step": 2})
    case("slice/omitted_bounds", [randn(2, 6)], {"dim": 1, "start": None, "end": None, "step": 3})
    case("slice/empty_result", [randn(3, 5)], {"dim": 1, "start": 3, "end": 1, "step": 1})
    case("slice/3d_middle", [randn(2, 5, 3)], {"dim": 1, "start": 1, "end": 4, "step": 2})
    case("cat/dim0", [randn(2, 4), randn(3, 4)], {"dim": 0})
    case("cat/dim1", [randn(3, 2), randn(3, 4)], {"dim": 1})
    case("cat/dim_neg1_three", [randn(2, 3, 1), randn(2, 3, 2), randn(2, 3, 3)], {"dim": -1})
    case("cat/with_empty", [randn(0, 4), randn(2, 4)], {"dim": 0})
    case("cat/single", [randn(2, 3)], {"dim": 0})
    case("stack/dim0", [randn(3, 4), randn(3, 4)], {"dim": 0})
    case("stack/dim1", [randn(3, 4), randn(3, 4), randn(3, 4)], {"dim": 1})
    case("stack/dim_neg1", [randn(3, 4), randn(3, 4)], {"dim": -1})
    case("stack/scalars", [randn(), randn(), randn()], {"dim": 0})
    case("gather/dim1", [randn(3, 4), ints(4, 3, 2)], {"dim": 1})
    case("gather/dim0", [randn(3, 4), ints(3, 2, 4)], {"dim": 0})
    case("gather/smaller_index", [randn(3, 4), ints(4, 2, 2)], {"dim": 1})
    case("gather/dim_neg1_3d", [randn(2, 3, 4), ints(4, 2, 3, 5)], {"dim": -1})
    case("index_select/dim0", [randn(3, 4), const([2, 0, 2])], {"dim": 0})
    case("index_select/dim1", [randn(3, 4), const([3, 1])], {"dim": 1})
    case("index_select/dim_neg1_3d", [randn(2, 3, 4), const([0, 0, 3, 1, 2])], {"dim": -1})
    case("index_select/empty_index", [randn(3, 4), const([], torch.int64)], {"dim": 0})
    case("pad/last_dim", [randn(2, 3)], {"pad": [1, 2], "mode": "constant", "value": 0.0})
    case("pad/last_two_dims", [randn(2, 3, 4)], {"pad": [1, 1, 2, 0], "mode": "constant", "value": 0.5})
    case("pad/three_dims", [randn(2, 2, 3)], {"pad": [0, 1, 1, 0, 1, 1], "mode": "constant", "value": -1.0})
    case("pad/negative_crop", [randn(3, 5)], {"pad": [-1, 2, 1, -1], "mode": "constant", "value": 0.0})
    case("pad/nchw", [randn(1, 2, 3, 3)], {"pad": [1, 1, 1, 1], "mode": "constant", "value": 0.0})
    case("squeeze/dim1", [randn(3, 1, 4)], {"dim": 1})
    case("squeeze/dim_not_one", [randn(3, 4)], {"dim": 0})
    case("squeeze/all", [randn(1, 3, 1, 4, 1)])
    case("squeeze/dim_neg1", [randn(3, 4, 1)], {"dim": -1})
    case("squeeze/scalar", [randn()], {"dim": 0})
    case("unsqueeze/dim0", [randn(3, 4)], {"dim": 0})
    case("unsqueeze/dim_neg1", [randn(3, 4)], {"dim": -1})
    case("unsqueeze/middle", [randn(3, 4)], {"dim": 1})
    case("unsqueeze/scalar", [randn()], {"dim": 0})
    case("expand/col", [randn(3, 1)], {"size": [3, 4]})
    case("expand/new_dims_infer", [randn(3, 1)], {"size": [2, -1, 4]})
    case("expand/scalar", [randn()], {"size": [2, 3]})
    case("expand/same", [randn(2, 3)], {"size": [2, 3]})


def matmul_cases():
    case("matmul/1d_1d", [randn(4), randn(4)])
    case("matmul/2d_2d", [randn(3, 4), randn(4, 5)], grad=True)
    case("matmul/3d_3d", [randn(2, 3, 4), randn(2, 4, 5)])
    case("matmul/broadcast_batch", [randn(2, 1, 3, 4), randn(5, 4, 2)], grad=True)
    case("matmul/1d_2d", [randn(4), randn(4, 3)])
    case("matmul/2d_1d", [randn(3, 4), randn(4)])
    case("matmul/1d_3d", [randn(4), randn(2, 4, 3)])
    case("matmul/3d_1d", [randn(2, 3, 4), randn(4)])
    case("matmul/3d_2d", [randn(2, 3, 4), randn(4, 5)])
    case("matmul/empty_inner", [randn(2, 0), randn(0, 3)])


def nn_cases():
    case("linear/2d", [randn(4, 5), randn(3, 5), randn(3)], grad=True)
    case("linear/no_bias", [randn(4, 5), randn(3, 5)], grad=True)
    case("linear/3d_input", [randn(2, 3, 5), randn(4, 5), randn(4)], grad=True)
    case("linear/1d_input", [randn(5), randn(3, 5), randn(3)], grad=True)
    case("conv2d/basic", [randn(2, 3, 6, 6), randn(4, 3, 3, 3, scale=0.3), randn(4)])
    case("conv2d/no_bias", [randn(2, 3, 5, 5), randn(4, 3, 3, 3, scale=0.3)])
    case("conv2d/stride2_pad1", [randn(2, 3, 7, 7), randn(4, 3, 3, 3, scale=0.3), randn(4)],
         {"stride": 2, "padding": 1}, grad=True)
    case("conv2d/nonsquare", [randn(1, 2, 6, 7), randn(3, 2, 2, 3, scale=0.3), randn(3)],
         {"stride": [1, 2], "padding": [1, 0]})
    case("conv2d/dilation2_no_bias", [randn(1, 2, 7, 7), randn(3, 2, 3, 3, scale=0.3)],
         {"dilation": 2}, grad=True)
    case("conv2d/all_options", [randn(2, 2, 8, 7), randn(3, 2, 3, 2, scale=0.3), randn(3)],
         {"stride": [2, 1], "padding": [1, 2], "dilation": [1, 2]})
    case("conv2d/groups2", [randn(1, 4, 5, 5), randn(6, 2, 3, 3, scale=0.3), randn(6)], {"groups": 2})
    case("conv2d/1x1", [randn(2, 3, 4, 4), randn(5, 3, 1, 1), randn(5)])
    for op in ["max_pool2d", "avg_pool2d"]:
        case(f"{op}/k2", [randn(2, 3, 6, 6)], {"kernel_size": 2})
        case(f"{op}/k3_s2_p1", [randn(2, 2, 7, 7)], {"kernel_size": 3, "stride": 2, "padding": 1}, grad=True)
        case(f"{op}/nonsquare", [randn(1, 2, 6, 7)], {"kernel_size": [2, 3], "stride": [2, 1]})
        case(f"{op}/k3_s1_p1", [randn(1, 2, 5, 5)], {"kernel_size": 3, "stride": 1, "padding": 1})
        case(f"{op}/odd_input", [randn(1, 1, 5, 5)], {"kernel_size": 2, "stride": 2})
    case("avg_pool2d/exclude_pad", [randn(1, 2, 5, 5)],
         {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False})
    for op in ["softmax", "log_softmax"]:
        case(f"{op}/dim1", [randn(3, 5)], {"dim": 1}, grad=True)
        case(f"{op}/dim0", [randn(3, 5)], {"dim": 0})
        case(f"{op}/dim_neg1_3d", [randn(2, 3, 4)], {"dim": -1}, grad=(op == "log_softmax"))
        case(f"{op}/dim1_3d", [randn(2, 3, 4)], {"dim": 1})
        case(f"{op}/large_values", [randn(2, 4, shift=100.0, scale=10.0)], {"dim": 1})
        case(f"{op}/1d", [randn(5)], {"dim": 0})
    case("embedding/2d_indices", [ints(10, 2, 3), randn(10, 4)])
    case("embedding/1d_indices", [const([0, 9, 3, 3]), randn(10, 4)])
    case("embedding/scalar_index", [const(7), randn(10, 4)])


def linalg_cases():
    for op in ["det", "inv"]:
        case(f"{op}/2x2", [wellcond(2)])
        case(f"{op}/3x3", [wellcond(3)], grad=True)
        case(f"{op}/4x4", [wellcond(4)])
        case(f"{op}/1x1", [wellcond(1)])
        case(f"{op}/pivot", [wellcond(3, pivot=True)])
        case(f"{op}/batched", [wellcond(3, 2)])
        case(f"{op}/batched_2x2", [wellcond(2, 2, 3)])
    case("solve/matrix", [wellcond(3), randn(3, 2)], grad=True)
    case("solve/vector", [wellcond(3), randn(3)])
    case("solve/pivot", [wellcond(4, pivot=True), randn(4, 2)])
    case("solve/batched_matrix", [wellcond(3, 2), randn(2, 3, 2)])
    # B.shape == A.shape[:-1]: PyTorch treats B as a batch of vectors.
    case("solve/batched_vector", [wellcond(3, 2), randn(2, 3)])
    case("solve/broadcast_a", [wellcond(3), randn(2, 3, 2)])
    case("solve/broadcast_b", [wellcond(3, 2), randn(3, 2)])


def loss_cases():
    for r in ["mean", "sum", "none"]:
        case(f"mse_loss/{r}", [randn(3, 4), randn(3, 4)], {"reduction": r})
    case("mse_loss/default", [randn(5), randn(5)])
    for r in ["mean", "sum", "none"]:
        case(f"cross_entropy/{r}", [randn(4, 5), ints(5, 4)], {"reduction": r}, grad=(r == "mean"))
    case("cross_entropy/label_smoothing", [randn(4, 5), ints(5, 4)], {"label_smoothing": 0.1})
    case("cross_entropy/weight", [randn(4, 5), ints(5, 4)], {"weight": pos(5)})
    case("cross_entropy/weight_sum", [randn(4, 5), ints(5, 4)], {"weight": pos(5), "reduction": "sum"})
    case("cross_entropy/label_smoothing_weight", [randn(4, 5), ints(5, 4)],
         {"weight": pos(5), "label_smoothing": 0.1}, grad=True)
    case("cross_entropy/ignore_index", [randn(5, 3), const([0, 2, 1, 2, 1])], {"ignore_index": 2})
    case("cross_entropy/spatial", [randn(2, 3, 2, 2), ints(3, 2, 2, 2)])
    case("cross_entropy/unbatched", [randn(5), const(3)])
    for r in ["mean", "sum", "none"]:
        case(f"nll_loss/{r}", [log_probs(4, 5), ints(5, 4)], {"reduction": r})
    case("nll_loss/weight", [log_probs(4, 5), ints(5, 4)], {"weight": pos(5)})
    case("nll_loss/ignore_index", [log_probs(5, 3), const([0, 2, 1, 2, 1])], {"ignore_index": 1})
    for r in ["mean", "sum", "none"]:
        case(f"binary_cross_entropy/{r}", [probs(3, 4), pos(3, 4, lo=0.0, hi=1.0)], {"reduction": r})
    case("binary_cross_entropy/weight", [probs(3, 4), pos(3, 4, lo=0.0, hi=1.0)], {"weight": pos(4)})
    case("binary_cross_entropy/hard_targets", [probs(6), const([0., 1., 1., 0., 1., 0.], f64)])
    for r in ["mean", "sum", "none"]:
        case(f"binary_cross_entropy_with_logits/{r}", [randn(3, 4, scale=3.0), pos(3, 4, lo=0.0, hi=1.0)],
             {"reduction": r})
    case("binary_cross_entropy_with_logits/pos_weight", [randn(3, 4, scale=3.0), pos(3, 4, lo=0.0, hi=1.0)],
         {"pos_weight": pos(4, lo=0.5, hi=3.0)})
    case("binary_cross_entropy_with_logits/weight_pos_weight", [randn(3, 4), pos(3, 4, lo=0.0, hi=1.0)],
         {"weight": pos(3, 1), "pos_weight": pos(4, lo=0.5, hi=3.0), "reduction": "sum"})
    case("binary_cross_entropy_with_logits/large_logits", [randn(2, 3, scale=50.0), pos(2, 3, lo=0.0, hi=1.0)])


def layer_cases():
    def bn(c, *shape, affine=True):
        d = {"input": randn(*shape, scale=2.0, shift=0.5), "running_mean": randn(c, scale=0.1),
             "running_var": pos(c, lo=0.5, hi=1.5)}
        if affine:
            d.update(weight=pos(c, lo=0.5, hi=1.5), bias=randn(c, scale=0.5))
        return d
    train = {"training": True, "momentum": 0.1, "eps": 1e-5}
    evaluate = {"training": False, "momentum": 0.1, "eps": 1e-5}
    case("batch_norm/train_2d", bn(3, 6, 3), train, grad=True)
    case("batch_norm/train_4d", bn(3, 2, 3, 4, 4), train, grad=True)
    case("batch_norm/train_3d", bn(2, 3, 2, 5), train)
    case("batch_norm/train_no_affine", bn(3, 4, 3, 2, 2, affine=False), train)
    case("batch_norm/eval_2d", bn(3, 6, 3), evaluate)
    case("batch_norm/eval_4d", bn(3, 2, 3, 4, 4), evaluate, grad=True)

    T, B, I, H = 5, 2, 3, 4

    def rec(gates, batch=(B,), h0=True, c0=False, bias=True):
        d = {"input": randn(T, *batch, I)}
        if h0:
            d["h_0"] = randn(1, *batch, H, scale=0.5)
        if c0:
            d["c_0"] = randn(1, *batch, H, scale=0.5)
        d["weight_ih_l0"] = randn(gates * H, I, scale=0.5)
        d["weight_hh_l0"] = randn(gates * H, H, scale=0.5)
        if bias:
            d["bias_ih_l0"] = randn(gates * H, scale=0.3)
            d["bias_hh_l0"] = randn(gates * H, scale=0.3)
        return d

    base = {"hidden_size": H, "num_layers": 1, "batch_first": False}
    case("rnn/tanh", rec(1), {**base, "nonlinearity": "tanh"}, grad=True)
    case("rnn/relu_no_h0", rec(1, h0=False), {**base, "nonlinearity": "relu"})
    case("rnn/no_bias", rec(1, bias=False), {**base, "bias": False})
    case("lstm/basic", rec(4, c0=True), base, grad=True)
    case("lstm/no_state", rec(4, h0=False), base)
    case("lstm/no_bias", rec(4, c0=True, bias=False), {**base, "bias": False})
    case("lstm/unbatched", rec(4, batch=(), c0=True), base)
    case("gru/basic", rec(3), base, grad=True)
    case("gru/no_h0", rec(3, h0=False), base)
    case("gru/unbatched", rec(3, batch=()), base)


# ---- optimisers -------------------------------------------------------------------------------

OPTIMIZERS = [
    ("sgd/plain", "SGD", {"lr": 0.1}),
    ("sgd/momentum", "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd/nesterov", "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd/momentum_wd_no_dampening", "SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "dampening": 0.0}),
    ("adam/default", "Adam", {"lr": 1e-3}),
    ("adam/betas_wd", "Adam", {"lr": 1e-2, "betas": [0.8, 0.99], "weight_decay": 0.1}),
    ("adam/amsgrad", "Adam", {"lr": 1e-2, "amsgrad": True}),
    ("adamw/wd", "AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
    ("adagrad/plain", "Adagrad", {"lr": 0.1}),
    ("adagrad/lr_decay_wd", "Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}),
    ("rmsprop/plain", "RMSprop", {"lr": 0.01}),
    ("rmsprop/momentum_centered", "RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}),
]
SHAPES = [(3, 4), (4,)]


def enc32(t):
    return enc(t.detach().double())


def optimizer_fixtures():
    out = []
    for name, cls, kwargs in OPTIMIZERS:
        seed(name)
        params = [torch.randn(s).requires_grad_(True) for s in SHAPES]  # float32
        # The third step's gradients are small, so Adam's second moment shrinks and amsgrad matters.
        grads = [[torch.randn(s) * (0.1 if step == 2 else 1.0) for s in SHAPES] for step in range(3)]
        rec = {"name": name, "class": cls, "kwargs": kwargs, "params": [enc32(p) for p in params],
               "grads": [[enc32(g) for g in gs] for gs in grads], "after": []}
        torch_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        opt = getattr(torch.optim, cls)(params, **torch_kwargs)
        for gs in grads:
            for p, g in zip(params, gs):
                p.grad = g.clone()
            opt.step()
            rec["after"].append([enc32(p) for p in params])
        out.append(rec)
    return out


SCHEDULERS = [
    ("step_lr", "StepLR", {"step_size": 3, "gamma": 0.5}),
    ("exponential_lr", "ExponentialLR", {"gamma": 0.9}),
    ("cosine_annealing_lr", "CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}),
    ("reduce_lr_on_plateau", "ReduceLROnPlateau", {"mode": "min", "factor": 0.5, "patience": 2}),
]
# 0.78997 improves on 0.79 by less than the default relative threshold 1e-4, so it is not "better".
PLATEAU_METRICS = [1.0, 0.9, 0.8, 0.85, 0.82, 0.81, 0.79, 0.78997, 0.8, 0.8, 0.75, 0.76]
BASE_LR = 0.1


def scheduler_fixtures():
    out = []
    for name, cls, kwargs in SCHEDULERS:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=BASE_LR)
        sched = getattr(torch.optim.lr_scheduler, cls)(opt, **kwargs)
        lrs = [opt.param_groups[0]["lr"]]
        for i in range(12):
            opt.step()
            sched.step(PLATEAU_METRICS[i]) if cls == "ReduceLROnPlateau" else sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        rec = {"name": name, "class": cls, "kwargs": kwargs, "base_lr": BASE_LR}
        if cls == "ReduceLROnPlateau":
            rec["metrics"] = PLATEAU_METRICS
        rec["lrs"] = [float(v) for v in lrs]
        out.append(rec)
    return out


def clip_fixtures():
    out = []
    for name, scale, kwargs in [("norm2_clipped", 1.0, {"max_norm": 1.0, "norm_type": 2.0}),
                                ("norm2_unclipped", 0.05, {"max_norm": 1.0, "norm_type": 2.0}),
                                ("inf_clipped", 1.0, {"max_norm": 1.0, "norm_type": "inf"})]:
        seed(name)
        params = [torch.zeros(s, requires_grad=True) for s in SHAPES]
        grads = [torch.randn(s) * scale for s in SHAPES]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        nt = float("inf") if kwargs["norm_type"] == "inf" else kwargs["norm_type"]
        total = torch.nn.utils.clip_grad_norm_(params, kwargs["max_norm"], nt)
        out.append({"name": name, "kwargs": kwargs, "grads": [enc32(g) for g in grads],
                    "total_norm": float(total), "clipped": [enc32(p.grad) for p in params]})
    return out


# ---- output -----------------------------------------------------------------------------------

def dumps(x):
    return json.dumps(x, separators=(",", ":"), allow_nan=False)


def write(fname, head, lists):
    """One record per line, so a regenerated fixture diffs case by case."""
    parts = [dumps(k) + ":" + dumps(v) for k, v in head.items()]
    for key, items in lists.items():
        parts.append(dumps(key) + ":[\n" + ",\n".join(dumps(i) for i in items) + "\n]")
    path = os.path.join(OUT_DIR, fname)
    with open(path, "w") as f:
        f.write("{" + ",\n".join(parts) + "}\n")
    json.load(open(path))  # well-formed
    print(f"{path}: {os.path.getsize(path)} bytes")


DOC = [line for line in __doc__.strip().splitlines()]


def main():
    torch.set_default_dtype(torch.float32)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT_DIR, exist_ok=True)
    for group in [elementwise_cases, reduction_cases, movement_cases, matmul_cases, nn_cases,
                  linalg_cases, loss_cases, layer_cases]:
        group()
    head = {"torch_version": torch.__version__, "doc": DOC}
    write("ops.json", head, {"cases": CASES})
    write("optim.json", head, {"optimizers": optimizer_fixtures(), "schedulers": scheduler_fixtures(),
                               "clip": clip_fixtures()})
    print(f"{len(CASES)} op cases, {sum(1 for c in CASES if 'grads' in c)} with gradients")


if __name__ == "__main__":
    main()
