"""Layer functions as lazy expressions that fuse with what surrounds them.

The functions follow ``torch.nn.functional``: the same names, arguments, defaults and formulas
(docs/nn.md names each one's source), on lazy arrays of any float dtype. Each returns a lazy
expression: a softmax is one row-wise kernel, a ``linear`` layer one BLAS product and one
kernel, and a loss evaluated with its gradient (``la.value_and_grad``) fuses the backward pass
with the forward one.

``dropout`` draws its mask inside the kernel that reads ``x`` (``lazyarr.random``): no mask
array is made, and its gradient draws the same mask again from the key instead of storing it.

Branches are written so that the side a ``where`` does not choose stays finite (``softplus``
exponentiates ``where(over, 0, x)``, not ``x``): a gradient sends zeros into that side, and
zero times an overflowed infinity would be NaN.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from lazyarr.front.array import LazyArray
from lazyarr.front.functions import (
    UFUNC_FUNCTIONS,
    asarray,
    matmul,
    stack,
    stop_gradient,
    take,
    where,
)
from lazyarr.front.functions import logsumexp as _logsumexp
from lazyarr.ir import dtypes
from lazyarr.ir.graph import Op
from lazyarr.random import Key, bernoulli
from lazyarr.run.evaluate import evaluate as evaluate_nodes

# softmax's keyword ``where`` (jax.nn.softmax's name) hides the function inside it
_where = where

_abs = UFUNC_FUNCTIONS["absolute"]
_erfc = UFUNC_FUNCTIONS["erfc"]
_exp = UFUNC_FUNCTIONS["exp"]
_expm1 = UFUNC_FUNCTIONS["expm1"]
_isfinite = UFUNC_FUNCTIONS["isfinite"]
_log = UFUNC_FUNCTIONS["log"]
_log1p = UFUNC_FUNCTIONS["log1p"]
_sign = UFUNC_FUNCTIONS["sign"]
_sqrt = UFUNC_FUNCTIONS["sqrt"]
_tanh = UFUNC_FUNCTIONS["tanh"]

# torch.nn.SELU's constants (PyTorch's docs quote them to these digits)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT1_2 = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_REDUCTIONS = ("none", "mean", "sum")


# -- argument checks --------------------------------------------------------------------------
def _float(x: Any, fn: str, what: str = "input") -> LazyArray:
    x = asarray(x)
    if not dtypes.is_float(x.dtype):  # (bfloat16 too: ml_dtypes' kind is "V")
        raise TypeError(f"{fn}(): expected a floating point {what}, got {x.dtype}")
    return x


def _scalar(value: Any, fn: str, name: str) -> float:
    # a Python float is a weak scalar: float32 stays float32, where a NumPy float64 would not
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{fn}(): {name} must be a number, not {type(value).__name__}")
    return float(value)


def _axis(axis: Any, ndim: int, fn: str) -> int:
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"{fn}(): axis must be an integer, not {type(axis).__name__}") from None
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim, fn)
    return axis % ndim


def _check_reduction(reduction: Any, fn: str, extra: tuple[str, ...] = ()) -> str:
    if reduction not in _REDUCTIONS + extra:
        raise ValueError(f"{fn}(): {reduction!r} is not a valid value for reduction "
                         f"(one of {', '.join(map(repr, _REDUCTIONS + extra))})")
    return reduction


def _reduce(loss: LazyArray, reduction: str) -> LazyArray:
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def _same_shape(x: LazyArray, target: LazyArray, fn: str) -> None:
    # PyTorch broadcasts some losses with a warning that the result is "likely incorrect"
    if x.shape != target.shape:
        raise ValueError(f"{fn}(): target size {target.shape} differs from input size "
                         f"{x.shape}")


def _mask(mask: Any, shape: tuple[int, ...], fn: str, what: str = "where") -> LazyArray:
    mask = asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"{fn}(): {what} must be a bool array, not {mask.dtype}")
    try:
        joint = np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        joint = None
    if joint != shape:
        raise ValueError(f"{fn}(): {what} of shape {mask.shape} does not broadcast to {shape}")
    return mask


def _param(p: Any, shape: tuple[int, ...], fn: str, name: str) -> LazyArray | None:
    if p is None:
        return None
    p = _float(p, fn, name)
    if p.shape != shape:
        raise ValueError(f"{fn}(): {name} of shape {p.shape}, expected {shape}")
    return p


# -- activations ------------------------------------------------------------------------------
def relu(x: Any) -> LazyArray:
    """``max(x, 0)``; NaN stays NaN, and the gradient at 0 is 0 (PyTorch's)."""
    x = _float(x, "relu")
    return _where(x <= 0, 0.0, x)


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> LazyArray:
    """``x`` clamped to ``[min_val, max_val]``; no gradient at or beyond the bounds."""
    x = _float(x, "hardtanh")
    lo, hi = _scalar(min_val, "hardtanh", "min_val"), _scalar(max_val, "hardtanh", "max_val")
    if lo > hi:
        raise ValueError("hardtanh(): min_val cannot be greater than max_val")
    return _where(x <= lo, lo, _where(x >= hi, hi, x))


def relu6(x: Any) -> LazyArray:
    """``min(max(x, 0), 6)`` (``hardtanh(x, 0, 6)``, as PyTorch computes it)."""
    return hardtanh(_float(x, "relu6"), 0.0, 6.0)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> LazyArray:
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    x = _float(x, "leaky_relu")
    return _where(x > 0, x, x * _scalar(negative_slope, "leaky_relu", "negative_slope"))


def _negative_part(x: LazyArray) -> LazyArray:
    # the argument of an exponential that only x <= 0 uses: 0 elsewhere, so it cannot overflow
    return _where(x > 0, 0.0, x)


def elu(x: Any, alpha: float = 1.0) -> LazyArray:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    x = _float(x, "elu")
    return _where(x > 0, x, _scalar(alpha, "elu", "alpha") * _expm1(_negative_part(x)))


def selu(x: Any) -> LazyArray:
    """``scale * (max(0, x) + min(0, alpha * (exp(x) - 1)))`` with PyTorch's constants."""
    x = _float(x, "selu")
    return _where(x > 0, SELU_SCALE * x,
                  (SELU_SCALE * SELU_ALPHA) * _expm1(_negative_part(x)))


def celu(x: Any, alpha: float = 1.0) -> LazyArray:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    x = _float(x, "celu")
    alpha = _scalar(alpha, "celu", "alpha")
    if alpha == 0:
        raise ValueError("celu(): alpha cannot be 0")
    return _where(x > 0, x, alpha * _expm1(_negative_part(x) / alpha))


def gelu(x: Any, approximate: str = "none") -> LazyArray:
    """``x * Phi(x)``: ``0.5 x erfc(-x / sqrt 2)`` (exact; erfc keeps the left tail's relative
    precision that ``1 + erf`` loses), or with ``approximate="tanh"``
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    x = _float(x, "gelu")
    if approximate == "none":
        if x.dtype.itemsize == 2:  # float16, bfloat16: erfc's loop is float64's (SciPy's
            # rule); computed in float32 and rounded once, as PyTorch does, in x's dtype
            wide = x.astype(np.float32)
            return (0.5 * wide * _erfc(wide * -_SQRT1_2)).astype(x.dtype)
        return 0.5 * x * _erfc(x * -_SQRT1_2)
    if approximate == "tanh":
        return 0.5 * x * (1.0 + _tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
    raise ValueError(f"gelu(): approximate must be 'none' or 'tanh', not {approximate!r}")


def sigmoid(x: Any) -> LazyArray:
    """``1 / (1 + exp(-x))``, from ``z = exp(-|x|)`` so that neither side overflows."""
    x = _float(x, "sigmoid")
    z = _exp(-_abs(x))
    r = 1.0 / (1.0 + z)  # one division: z / (1 + z) is z * r (one rounding more)
    return _where(x >= 0, r, z * r)


def silu(x: Any) -> LazyArray:
    """``x * sigmoid(x)`` (swish)."""
    x = _float(x, "silu")
    return x * sigmoid(x)


def log_sigmoid(x: Any) -> LazyArray:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))`` (PyTorch's stable form)."""
    x = _float(x, "log_sigmoid")
    # where, not minimum: minimum splits a tie's gradient, which would double it at 0
    return _where(x < 0, x, 0.0) - _log1p(_exp(-_abs(x)))


logsigmoid = log_sigmoid  # PyTorch's spelling


def softplus(x: Any, beta: float = 1.0, threshold: float = 20.0) -> LazyArray:
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``."""
    x = _float(x, "softplus")
    beta = _scalar(beta, "softplus", "beta")
    threshold = _scalar(threshold, "softplus", "threshold")
    bx = x if beta == 1.0 else x * beta
    over = bx > threshold
    smooth = _log1p(_exp(_where(over, 0.0, bx)))
    return _where(over, x, smooth if beta == 1.0 else smooth / beta)


def mish(x: Any) -> LazyArray:
    """``x * tanh(softplus(x))``."""
    x = _float(x, "mish")
    return x * _tanh(softplus(x))


def hardsigmoid(x: Any) -> LazyArray:
    """0 for ``x <= -3``, 1 for ``x >= 3``, ``x / 6 + 1/2`` between."""
    x = _float(x, "hardsigmoid")
    return _where(x <= -3.0, 0.0, _where(x >= 3.0, 1.0, x / 6.0 + 0.5))


def hardswish(x: Any) -> LazyArray:
    """``x * relu6(x + 3) / 6``; the branches (``x < -3``, ``x <= 3``) are PyTorch's, so the
    gradient at the kinks is too."""
    x = _float(x, "hardswish")
    return _where(x < -3.0, 0.0, _where(x <= 3.0, x * (x + 3.0) / 6.0, x))


def softsign(x: Any) -> LazyArray:
    """``x / (1 + |x|)``."""
    x = _float(x, "softsign")
    return x / (1.0 + _abs(x))


def tanhshrink(x: Any) -> LazyArray:
    """``x - tanh(x)``."""
    x = _float(x, "tanhshrink")
    return x - _tanh(x)


def glu(x: Any, axis: int = -1) -> LazyArray:
    """``a * sigmoid(b)`` where ``a`` and ``b`` are the two halves of ``x`` along ``axis``."""
    x = _float(x, "glu")
    if x.ndim == 0:
        raise ValueError("glu(): glu does not support scalars")
    ax = _axis(axis, x.ndim, "glu")
    n = x.shape[ax]
    if n % 2:
        raise ValueError(f"glu(): halving dimension must be even, but dimension {ax} is "
                         f"size {n}")
    lead = (slice(None),) * ax
    return x[(*lead, slice(0, n // 2))] * sigmoid(x[(*lead, slice(n // 2, n))])


ACTIVATIONS: dict[str, Callable[[LazyArray], LazyArray]] = {
    "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu, "selu": selu,
    "celu": celu, "gelu": gelu, "silu": silu, "mish": mish, "sigmoid": sigmoid,
    "log_sigmoid": log_sigmoid, "softplus": softplus, "hardtanh": hardtanh,
    "hardsigmoid": hardsigmoid, "hardswish": hardswish, "softsign": softsign,
    "tanhshrink": tanhshrink, "tanh": _tanh,
}
"""The activations ``linear(..., activation=name)`` knows, with their default arguments."""


# -- softmax ----------------------------------------------------------------------------------
def _softmax_input(x: Any, fn: str, dtype: Any) -> LazyArray:
    if dtype is not None:
        x = asarray(x).astype(dtype)
    return _float(x, fn)


def softmax(x: Any, axis: int = -1, *, where: Any = None, dtype: Any = None) -> LazyArray:
    """``exp(x) / sum(exp(x))`` along ``axis``, the maximum taken out first.

    ``where`` (a bool array broadcasting to ``x``) leaves the elements where it is False out
    of the sum; they, and whole rows it masks, come out 0 (``jax.nn.softmax``'s ``where``).
    ``dtype`` casts ``x`` first, as PyTorch's ``dtype``."""
    x = _softmax_input(x, "softmax", dtype)
    ax = _axis(axis, x.ndim, "softmax")
    if where is None:
        e = _exp(x - stop_gradient(x.max(axis=ax, keepdims=True)))
        # one division per row, a product per element (as PyTorch's kernel)
        return e * (1.0 / e.sum(axis=ax, keepdims=True))
    z = _where(_mask(where, x.shape, "softmax"), x, -math.inf)
    top = stop_gradient(z.max(axis=ax, keepdims=True))
    e = _exp(z - _where(_isfinite(top), top, 0.0))
    total = e.sum(axis=ax, keepdims=True)
    # a row masked out entirely sums to 0: divide by 1 there, not 0, so its gradient is 0 too
    return e / _where(total > 0, total, 1.0)


def log_softmax(x: Any, axis: int = -1, *, where: Any = None, dtype: Any = None) -> LazyArray:
    """``x - max - log(sum(exp(x - max)))`` along ``axis``; with ``where``, the elements it
    masks (and whole masked rows) are ``-inf``."""
    x = _softmax_input(x, "log_softmax", dtype)
    ax = _axis(axis, x.ndim, "log_softmax")
    if where is None:
        s = x - stop_gradient(x.max(axis=ax, keepdims=True))
        return s - _log(_exp(s).sum(axis=ax, keepdims=True))
    mask = _mask(where, x.shape, "log_softmax")
    z = _where(mask, x, -math.inf)
    top = stop_gradient(z.max(axis=ax, keepdims=True))
    s = z - _where(_isfinite(top), top, 0.0)
    total = _exp(s).sum(axis=ax, keepdims=True)
    return _where(mask, s - _log(_where(total > 0, total, 1.0)), -math.inf)


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> LazyArray:
    """``log(sum(exp(x), axis))`` without overflow (``la.logsumexp`` on a float array)."""
    return _logsumexp(_float(x, "logsumexp"), axis, keepdims)


# -- normalisation ----------------------------------------------------------------------------
def _trailing(x: LazyArray, normalized_shape: Any, fn: str) -> tuple[tuple[int, ...], tuple]:
    shape = (normalized_shape,) if np.ndim(normalized_shape) == 0 else normalized_shape
    try:
        shape = tuple(operator.index(n) for n in shape)
    except TypeError:
        raise TypeError(f"{fn}(): normalized_shape must be an int or a sequence of ints, not "
                        f"{normalized_shape!r}") from None
    k = len(shape)
    if k == 0 or k > x.ndim or x.shape[x.ndim - k:] != shape:
        raise ValueError(f"{fn}(): given normalized_shape={list(shape)}, expected input with "
                         f"shape [*, {', '.join(map(str, shape))}], but got input of size "
                         f"{x.shape}")
    return shape, tuple(range(x.ndim - k, x.ndim))


def _affine(y: LazyArray, weight: LazyArray | None, bias: LazyArray | None) -> LazyArray:
    if weight is not None:
        y = y * weight
    return y if bias is None else y + bias


def layer_norm(x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> LazyArray:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the trailing
    ``normalized_shape`` axes (biased variance, as PyTorch)."""
    x = _float(x, "layer_norm")
    shape, axes = _trailing(x, normalized_shape, "layer_norm")
    weight = _param(weight, shape, "layer_norm", "weight")
    bias = _param(bias, shape, "layer_norm", "bias")
    d = x - x.mean(axis=axes, keepdims=True)
    var = (d * d).mean(axis=axes, keepdims=True)
    return _affine(d / _sqrt(var + _scalar(eps, "layer_norm", "eps")), weight, bias)


def rms_norm(x: Any, normalized_shape: Any, weight: Any = None, eps: float | None = None
             ) -> LazyArray:
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` axes;
    ``eps=None`` is the dtype's machine epsilon (PyTorch's default)."""
    x = _float(x, "rms_norm")
    shape, axes = _trailing(x, normalized_shape, "rms_norm")
    weight = _param(weight, shape, "rms_norm", "weight")
    eps = float(np.finfo(x.dtype).eps) if eps is None else _scalar(eps, "rms_norm", "eps")
    return _affine(x / _sqrt((x * x).mean(axis=axes, keepdims=True) + eps), weight, None)


def _channels(x: LazyArray, fn: str) -> tuple[int, tuple[int, ...], tuple[Any, ...]]:
    """The channel count of an ``(N, C, *)`` input, its other axes, and the index that makes a
    ``(C,)`` vector broadcast along axis 1."""
    if x.ndim < 2:
        raise ValueError(f"{fn}(): expected an input of shape (N, C, *), got {x.shape}")
    other = (0, *range(2, x.ndim))
    return x.shape[1], other, (slice(None),) + (None,) * (x.ndim - 2)


def _running(stat: Any, c: int, fn: str, name: str) -> np.ndarray:
    if not isinstance(stat, np.ndarray):
        raise TypeError(f"{fn}(): {name} must be a NumPy array (it is updated in place), not "
                        f"{type(stat).__name__}")
    if stat.dtype.kind != "f" or stat.shape != (c,):
        raise ValueError(f"{fn}(): {name} must be a float array of shape ({c},), got "
                         f"{stat.dtype} {stat.shape}")
    return stat


def batch_norm(x: Any, running_mean: np.ndarray | None, running_var: np.ndarray | None,
               weight: Any = None, bias: Any = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5, *, evaluate: bool = False) -> Any:
    """Normalise each channel (axis 1) of an ``(N, C, *)`` input.

    In training, with the batch's mean and biased variance; ``running_mean`` and
    ``running_var`` (NumPy arrays of shape ``(C,)``, or both None) are then updated in place,
    ``(1 - momentum) * running + momentum * batch``, with the *unbiased* variance (PyTorch's
    rule). Otherwise with the running statistics.

    The result is lazy, so that gradients flow through it, and the running statistics are
    updated when this is called (one kernel over ``x``); evaluating the result reads ``x``
    for its statistics again. ``evaluate=True`` instead evaluates the result and the updates
    together, one pass over ``x`` for the statistics, and returns a NumPy array (no
    gradient)."""
    fn = "batch_norm"
    x = _float(x, fn)
    c, other, col = _channels(x, fn)
    weight = _param(weight, (c,), fn, "weight")
    bias = _param(bias, (c,), fn, "bias")
    eps = _scalar(eps, fn, "eps")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}(): running_mean and running_var must both be given or both "
                         "be None")
    if running_mean is not None:
        _running(running_mean, c, fn, "running_mean")
        _running(running_var, c, fn, "running_var")
    if not training:
        if running_mean is None:
            raise ValueError(f"{fn}(): running_mean and running_var are needed when not "
                             "training")
        mean, var = asarray(running_mean)[col], asarray(running_var)[col]
        y = (x - mean) / _sqrt(var + eps)
        y = _affine(y, None if weight is None else weight[col], None if bias is None
                    else bias[col])
        return y.eval() if evaluate else y
    n = x.size // c if c else 0
    if n <= 1:
        raise ValueError(f"{fn}(): expected more than 1 value per channel when training, got "
                         f"input size {x.shape}")
    momentum = _scalar(momentum, fn, "momentum")
    mean = x.mean(axis=other, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=other, keepdims=True)
    y = d / _sqrt(var + eps)
    y = _affine(y, None if weight is None else weight[col], None if bias is None else bias[col])
    if running_mean is None:
        return y.eval() if evaluate else y
    # squeeze, not reshape: a reshape of a reduction is a copy (an opaque step) in lazyarr
    new_mean = (1.0 - momentum) * asarray(running_mean) \
        + momentum * mean.squeeze(other)
    new_var = (1.0 - momentum) * asarray(running_var) \
        + (momentum * n / (n - 1)) * var.squeeze(other)
    if evaluate:
        return evaluate_nodes([y._node, new_mean._node, new_var._node],
                        [None, running_mean, running_var])[0]
    evaluate_nodes([new_mean._node, new_var._node], [running_mean, running_var])
    return y


def group_norm(x: Any, num_groups: int, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> LazyArray:
    """Normalise each group of ``C / num_groups`` channels of an ``(N, C, *)`` input (with
    its spatial axes) by its mean and biased variance, then ``* weight + bias`` per channel."""
    fn = "group_norm"
    x = _float(x, fn)
    c, _, col = _channels(x, fn)
    groups = operator.index(num_groups)
    if groups <= 0 or c % groups:
        raise ValueError(f"{fn}(): expected number of channels in input ({c}) to be "
                         f"divisible by num_groups ({groups})")
    weight = _param(weight, (c,), fn, "weight")
    bias = _param(bias, (c,), fn, "bias")
    grouped = x.reshape(x.shape[0], groups, -1)
    mean = grouped.mean(axis=-1)
    d = grouped - mean[..., None]
    rstd = 1.0 / _sqrt((d * d).mean(axis=-1) + _scalar(eps, fn, "eps"))
    # (N, G) statistics to one per channel, (N, C), by a gather of the small arrays: the
    # normalisation then reads x in its own layout (a reshape of the grouped result back to
    # x's shape is no strided view: it would copy every element). Stacked, the two are
    # materialised by one kernel: one pass over x for the statistics
    stats = take(stack([mean, rstd], axis=-1), np.arange(c) // (c // groups), axis=1)
    spread = (slice(None), slice(None), *col[1:])
    y = (x - stats[(Ellipsis, 0)][spread]) * stats[(Ellipsis, 1)][spread]
    return _affine(y, None if weight is None else weight[col], None if bias is None
                   else bias[col])


# -- losses -----------------------------------------------------------------------------------
def _pair(x: Any, target: Any, fn: str) -> tuple[LazyArray, LazyArray]:
    x, target = _float(x, fn), _float(target, fn, "target")
    _same_shape(x, target, fn)
    return x, target


def _abs_sign(d: LazyArray) -> LazyArray:
    # |d| as d * sign(d): the gradient at 0 is sign(0) = 0, PyTorch's, where abs's is 1
    return d * _sign(d)


def mse_loss(x: Any, target: Any, reduction: str = "mean") -> LazyArray:
    """``(x - target)^2``, reduced."""
    _check_reduction(reduction, "mse_loss")
    x, target = _pair(x, target, "mse_loss")
    d = x - target
    return _reduce(d * d, reduction)


def l1_loss(x: Any, target: Any, reduction: str = "mean") -> LazyArray:
    """``|x - target|``, reduced."""
    _check_reduction(reduction, "l1_loss")
    x, target = _pair(x, target, "l1_loss")
    return _reduce(_abs_sign(x - target), reduction)


def smooth_l1_loss(x: Any, target: Any, reduction: str = "mean", beta: float = 1.0
                   ) -> LazyArray:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = x - target``);
    ``beta = 0`` is the L1 loss."""
    _check_reduction(reduction, "smooth_l1_loss")
    x, target = _pair(x, target, "smooth_l1_loss")
    beta = _scalar(beta, "smooth_l1_loss", "beta")
    if beta < 0:
        raise ValueError("smooth_l1_loss(): beta must be non-negative")
    d = x - target
    a = _abs_sign(d)
    if beta == 0:
        return _reduce(a, reduction)
    return _reduce(_where(a < beta, (0.5 / beta) * (d * d), a - 0.5 * beta), reduction)


def huber_loss(x: Any, target: Any, reduction: str = "mean", delta: float = 1.0
               ) -> LazyArray:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``: ``delta`` times
    ``smooth_l1_loss`` with ``beta = delta``."""
    _check_reduction(reduction, "huber_loss")
    x, target = _pair(x, target, "huber_loss")
    delta = _scalar(delta, "huber_loss", "delta")
    if delta <= 0:
        raise ValueError("huber_loss(): delta must be positive")
    d = x - target
    a = _abs_sign(d)
    return _reduce(_where(a < delta, 0.5 * (d * d), delta * (a - 0.5 * delta)), reduction)


def _weight(weight: Any, shape: tuple[int, ...], fn: str) -> LazyArray | None:
    if weight is None:
        return None
    weight = _float(weight, fn, "weight")
    try:
        joint = np.broadcast_shapes(weight.shape, shape)
    except ValueError:
        joint = None
    if joint != shape:
        raise ValueError(f"{fn}(): weight of shape {weight.shape} does not broadcast to "
                         f"{shape}")
    return weight


def binary_cross_entropy(x: Any, target: Any, weight: Any = None, reduction: str = "mean"
                         ) -> LazyArray:
    """``-weight (target log x + (1 - target) log(1 - x))``, each log clamped at -100 as in
    PyTorch. ``x`` is a probability; values outside ``[0, 1]`` are not checked (lazily they
    cannot be) and give NaN."""
    fn = "binary_cross_entropy"
    _check_reduction(reduction, fn)
    x, target = _pair(x, target, fn)
    weight = _weight(weight, x.shape, fn)
    log_x, log_1mx = _log(x), _log1p(-x)
    # where, not maximum: a tie at -100 would split the gradient
    log_x = _where(log_x < -100.0, -100.0, log_x)
    log_1mx = _where(log_1mx < -100.0, -100.0, log_1mx)
    loss = (target - 1.0) * log_1mx - target * log_x
    return _reduce(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(x: Any, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None
                                     ) -> LazyArray:
    """``-weight (pos_weight target log sigmoid(x) + (1 - target) log(1 - sigmoid(x)))``,
    computed as ``(1 - target) x - (1 + (pos_weight - 1) target) log_sigmoid(x)``."""
    fn = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, fn)
    x, target = _pair(x, target, fn)
    weight = _weight(weight, x.shape, fn)
    ls = log_sigmoid(x)
    if pos_weight is None:
        loss = (1.0 - target) * x - ls
    else:
        pos_weight = _weight(pos_weight, x.shape, fn)
        loss = (1.0 - target) * x - (1.0 + (pos_weight - 1.0) * target) * ls
    return _reduce(loss if weight is None else loss * weight, reduction)


def _class_axis(x: LazyArray, axis: int | None, fn: str) -> int:
    if x.ndim == 0:
        raise ValueError(f"{fn}(): input must have a class axis, got a scalar")
    # PyTorch's layout: (C,) or (N, C, d1, ...)
    return _axis((0 if x.ndim == 1 else 1) if axis is None else axis, x.ndim, fn)


def _class_targets(target: Any, shape: tuple[int, ...], c: int, ignore_index: int, fn: str
                   ) -> LazyArray:
    if target.shape != shape:
        raise ValueError(f"{fn}(): expected target of size {shape}, got {target.shape}")
    node = target._node
    known = node.arg.array if node.op is Op.LEAF else None
    # targets known now (a NumPy array) are checked as PyTorch does; computed ones cannot be,
    # and one out of range picks no class (its loss is the row's logsumexp)
    if isinstance(known, np.ndarray) and known.size:
        bad = (known != ignore_index) & ((known < 0) | (known >= c))
        if bad.any():
            raise IndexError(f"{fn}(): target {known[bad].flat[0]} is out of bounds for {c} "
                             "classes")
    return target


def _picked(values: LazyArray, hit: LazyArray) -> LazyArray:
    # values[..., target] as a sum over the row of a comparison with the class index: it
    # stays inside the row's kernel, where a gather (la.take) is an opaque step
    return _where(hit, values, 0.0).sum(axis=-1)


def _nll(logp_t: LazyArray, hit: LazyArray, valid: LazyArray, weight: LazyArray | None,
         reduction: str, smooth: tuple[float, LazyArray] | None = None) -> LazyArray:
    """The class-index loss: ``-w[t] logp[t]`` (0 where ignored), optionally mixed with the
    label-smoothing term, reduced with PyTorch's mean (over the weights of the targets)."""
    w_t = None if weight is None else _picked(weight, hit)
    loss = -logp_t if w_t is None else -(w_t * logp_t)
    if smooth is not None:
        eps, spread = smooth
        loss = (1.0 - eps) * loss + eps * spread
    loss = _where(valid, loss, 0.0)
    if reduction != "mean":
        return _reduce(loss, reduction)
    count = valid.astype(loss.dtype) if w_t is None else _where(valid, w_t, 0.0)
    total = count.sum() if count.shape else count
    return loss.sum() / total


def nll_loss(x: Any, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean", *, axis: int | None = None) -> LazyArray:
    """``-weight[t] * x[t]`` for log-probabilities ``x`` of shape ``(C,)`` or
    ``(N, C, d1, ...)`` (the class axis is 1, or ``axis``) and integer targets ``t``;
    ``ignore_index`` targets count 0. ``mean`` divides by the sum of the weights of the
    targets that are not ignored."""
    fn = "nll_loss"
    _check_reduction(reduction, fn)
    x = _float(x, fn)
    ax = _class_axis(x, axis, fn)
    z = x if ax == x.ndim - 1 else x.swapaxes(ax, -1)
    c = z.shape[-1]
    target = asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}(): expected integer class targets, got {target.dtype}")
    ignore_index = operator.index(ignore_index)
    target = _class_targets(target, z.shape[:-1], c, ignore_index, fn)
    weight = _param(weight, (c,), fn, "weight")
    hit = asarray(np.arange(c)) == target[..., None]
    return _nll(_picked(z, hit), hit, target != ignore_index, weight, reduction)


def cross_entropy(x: Any, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0, *,
                  axis: int | None = None) -> LazyArray:
    """``nll_loss(log_softmax(x))`` over the class axis (1, or 0 for a ``(C,)`` input, or
    ``axis``), with PyTorch's label smoothing ``(1 - eps) * nll + eps / C * sum_c(-w_c
    logp_c)``.

    ``target`` holds integer classes (shape of ``x`` without the class axis; ``weight``,
    ``ignore_index``, and ``mean`` over the targets' weights as ``nll_loss``) or
    probabilities (the shape of ``x``; ``mean`` divides by the number of rows)."""
    fn = "cross_entropy"
    _check_reduction(reduction, fn)
    x = _float(x, fn)
    ax = _class_axis(x, axis, fn)
    eps = _scalar(label_smoothing, fn, "label_smoothing")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{fn}(): label_smoothing must be between 0.0 and 1.0, got {eps}")
    z = x if ax == x.ndim - 1 else x.swapaxes(ax, -1)
    c = z.shape[-1]
    weight = _param(weight, (c,), fn, "weight")
    target = asarray(target)
    lse = _logsumexp(z, axis=-1, keepdims=True)
    logp = z - lse
    if target.dtype.kind == "f":
        if ignore_index >= 0:
            raise ValueError(f"{fn}(): ignore_index is not supported for probability targets")
        if target.shape != x.shape:
            raise ValueError(f"{fn}(): probability targets must have the input's shape "
                             f"{x.shape}, got {target.shape}")
        t = target if ax == x.ndim - 1 else target.swapaxes(ax, -1)
        if eps:
            t = t * (1.0 - eps) + eps / c
        terms = t * logp if weight is None else t * logp * weight
        loss = -terms.sum(axis=-1)
        if reduction == "mean":
            rows = z.size // c if c else 0
            return loss.sum() / float(rows) if loss.shape else loss / float(rows)
        return _reduce(loss, reduction)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{fn}(): expected integer class targets or float probabilities, got "
                        f"{target.dtype}")
    ignore_index = operator.index(ignore_index)
    target = _class_targets(target, z.shape[:-1], c, ignore_index, fn)
    hit = asarray(np.arange(c)) == target[..., None]
    smooth = None
    if eps:
        spread = -(logp if weight is None else logp * weight).sum(axis=-1)
        smooth = (eps, spread / float(c))
    return _nll(_picked(logp, hit), hit, target != ignore_index, weight, reduction, smooth)


def kl_div(x: Any, target: Any, reduction: str = "mean", log_target: bool = False
           ) -> LazyArray:
    """``target * (log(target) - x)`` (0 where ``target`` is 0), or with ``log_target``
    ``exp(target) * (target - x)``; ``x`` holds log-probabilities. ``"batchmean"`` divides
    the sum by ``x.shape[0]`` (the KL divergence); ``"mean"`` by the element count, as
    PyTorch."""
    fn = "kl_div"
    _check_reduction(reduction, fn, ("batchmean",))
    x, target = _pair(x, target, fn)
    if log_target:
        loss = _exp(target) * (target - x)
    else:
        # xlogy(t, t): the log of 1 where t is 0 keeps its gradient finite there
        loss = target * _log(_where(target == 0, 1.0, target)) - target * x
    if reduction == "batchmean":
        return loss.sum() / float(x.shape[0]) if x.ndim else loss.sum()
    return _reduce(loss, reduction)


# -- layers -----------------------------------------------------------------------------------
def linear(x: Any, weight: Any, bias: Any = None,
           activation: str | Callable[[LazyArray], Any] | None = None) -> LazyArray:
    """``activation(x @ weight.T + bias)`` for ``x`` of shape ``(*, in)``, ``weight``
    ``(out, in)`` and ``bias`` ``(out,)``: one BLAS product, then the bias and the activation
    fused into one kernel. ``activation`` is None, a name of ``ACTIVATIONS`` (with its default
    arguments) or a callable (``functools.partial(gelu, approximate="tanh")``)."""
    fn = "linear"
    x, weight = _float(x, fn), _float(weight, fn, "weight")
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"{fn}(): input of shape {x.shape} and weight of shape "
                         f"{weight.shape} (out_features, in_features) do not match")
    y = matmul(x, weight.T)
    if bias is not None:
        y = y + _param(bias, (weight.shape[0],), fn, "bias")
    if activation is None:
        return y
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"{fn}(): unknown activation {activation!r} (one of "
                             f"{', '.join(sorted(ACTIVATIONS))})")
        return ACTIVATIONS[activation](y)
    if not callable(activation):
        raise TypeError(f"{fn}(): activation must be None, a name or a callable")
    return asarray(activation(y))


def embedding(indices: Any, weight: Any, padding_idx: int | None = None) -> LazyArray:
    """``weight[indices]``: the rows of ``weight`` (``(num_embeddings, dim)``) at integer
    ``indices`` of any shape (``la.take``, a gather whose gradient adds back into place).
    The row ``padding_idx`` is looked up as any other but gets no gradient."""
    fn = "embedding"
    weight = _float(weight, fn, "weight")
    if weight.ndim != 2:
        raise ValueError(f"{fn}(): weight must be 2-D (num_embeddings, dim), got {weight.shape}")
    indices = asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{fn}(): expected integer indices, got {indices.dtype}")
    rows = take(weight, indices, axis=0)
    if padding_idx is None:
        return rows
    pad = operator.index(padding_idx)
    if not -weight.shape[0] <= pad < weight.shape[0]:
        raise ValueError(f"{fn}(): padding_idx must be within num_embeddings")
    pad %= weight.shape[0]
    # lazyarr has no stop_gradient: a new leaf over weight's values is a constant
    frozen = take(asarray(np.asarray(weight)), indices, axis=0)
    padding = (indices == pad) | (indices == pad - weight.shape[0])
    return _where(padding[..., None], frozen, rows)


def _causal(length: int, source: int) -> LazyArray:
    # torch.ones(L, S).tril(): query i sees keys j <= i
    return asarray(np.arange(length))[:, None] >= asarray(np.arange(source))[None, :]


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, *, dropout_key: Key | None = None
                                 ) -> LazyArray:
    """``softmax(query @ key^T * scale + mask) @ value`` over shapes ``(..., L, E)``,
    ``(..., S, E)``, ``(..., S, Ev)``: the two products run in BLAS, and the scale, the
    mask and the softmax in one row-wise kernel between them.

    ``attn_mask`` is bool (True: may attend) or added to the scores; ``is_causal`` masks
    keys after the query (``tril``). A query row that may attend to nothing gets weights 0
    (PyTorch's math reference gives NaN). ``scale`` defaults to ``1 / sqrt(E)``. With
    ``dropout_p > 0`` the weights are dropped out with ``dropout_key``."""
    fn = "scaled_dot_product_attention"
    q, k, v = _float(query, fn, "query"), _float(key, fn, "key"), _float(value, fn, "value")
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2 or q.shape[-1] != k.shape[-1] \
            or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{fn}(): query {q.shape}, key {k.shape} and value {v.shape} must be "
                         "(..., L, E), (..., S, E) and (..., S, Ev)")
    length, source = q.shape[-2], k.shape[-2]
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else _scalar(scale, fn, "scale")
    scores = matmul(q, k.mT) * factor
    mask = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{fn}(): explicit attn_mask should not be set when "
                             "is_causal=True")
        mask = _causal(length, source)
    elif attn_mask is not None:
        attn_mask = asarray(attn_mask)
        if attn_mask.dtype == np.bool_:
            mask = _mask(attn_mask, scores.shape, fn, "attn_mask")
        else:
            try:
                scores = scores + _float(attn_mask, fn, "attn_mask")
            except ValueError:
                raise ValueError(f"{fn}(): attn_mask of shape {attn_mask.shape} does not "
                                 f"broadcast to {scores.shape}") from None
    weights = softmax(scores, -1, where=mask)
    p = _scalar(dropout_p, fn, "dropout_p")
    if p > 0:
        weights = dropout(weights, p, dropout_key)
    return matmul(weights, v)


def dropout(x: Any, p: float = 0.5, key: Key | None = None, training: bool = True
            ) -> LazyArray:
    """Zero each element of ``x`` with probability ``p`` and scale the rest by
    ``1 / (1 - p)`` (PyTorch's ``dropout``: the expected value is ``x``). ``key`` chooses the
    mask: the same key gives the same mask. Without ``training``, or with ``p == 0``, ``x``
    itself. As in PyTorch, a NaN or infinity in a dropped element stays NaN (``x * 0``)."""
    x = asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"dropout() takes a float array, not {x.dtype}")
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating) \
            or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return x
    if not isinstance(key, Key):
        raise TypeError("dropout() in training needs a key from lazyarr.random.key(seed)")
    scale = x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
    keep = bernoulli(key, 1.0 - float(p), x.shape)
    return x * where(keep, scale, x.dtype.type(0.0))


__all__ = [
    "ACTIVATIONS", "SELU_ALPHA", "SELU_SCALE",
    "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "celu",
    "cross_entropy", "dropout", "elu", "embedding", "gelu", "glu", "group_norm", "hardsigmoid",
    "hardswish", "hardtanh", "huber_loss", "kl_div", "l1_loss", "layer_norm", "leaky_relu",
    "linear", "log_sigmoid", "log_softmax", "logsigmoid", "logsumexp", "mish", "mse_loss",
    "nll_loss", "relu", "relu6", "rms_norm", "scaled_dot_product_attention", "selu", "sigmoid",
    "silu", "smooth_l1_loss", "softmax", "softplus", "softsign", "tanhshrink",
]
