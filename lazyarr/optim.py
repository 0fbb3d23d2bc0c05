"""Optimizers whose step is one fused kernel per parameter, updating it and its state in place.

Each optimizer follows PyTorch's update formulas and defaults (``torch.optim``, the
single-tensor paths), except Lion, which PyTorch lacks and which follows the Lion paper and
optax. A step builds, for each parameter, the lazy expressions of the new parameter and its
new state and evaluates them with ``out=`` into the very arrays they read
(``la.eval(new_p, new_m, new_v, out=(p, m, v))``): lazyarr's kernels read each element
before writing it, so the update needs no temporaries and reads and writes each array once.
A gradient given as a lazy expression (straight from ``la.grad``) fuses into the same kernel.

The learning rate, the bias corrections and the other scalars of a step are computed in
Python float64 and read by the kernel at run time (from a small coefficient array per
parameter in the in-place step, as kernel arguments in the functional forms): changing
``opt.lr`` between steps (a schedule) never compiles anything. The functional forms
(``adam_update`` and friends) return the new arrays as lazy expressions, for users who want to
keep their arrays. docs/optim.md has the formulas and the design.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from lazyarr.front.array import LazyArray
from lazyarr.front.functions import UFUNC_FUNCTIONS, asarray
from lazyarr.ir.graph import Op, toposort
from lazyarr.run.evaluate import evaluate
from lazyarr.run.fuse import Fused

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_sqrt, _sign, _maximum = (UFUNC_FUNCTIONS[n] for n in ("sqrt", "sign", "maximum"))


def _eval(exprs: Sequence[Any], out: Sequence[Any] | None = None) -> list[Any]:
    """``la.eval(*exprs, out=out)``, as a list (the package's front door is above this)."""
    return evaluate([asarray(e)._node for e in exprs], None if out is None else list(out))


# -- checks, with torch.optim's messages ---------------------------------------------------------

def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    return float(value)


def _nonnegative(value: Any, message: str, name: str) -> float:
    v = _real(value, name)
    if not v >= 0.0:  # written so that NaN fails too
        raise ValueError(f"Invalid {message}: {value}")
    return v


def _check_lr(lr: Any) -> float:
    return _nonnegative(lr, "learning rate", "lr")


def _check_eps(eps: Any) -> float:
    return _nonnegative(eps, "epsilon value", "eps")


def _check_weight_decay(weight_decay: Any) -> float:
    return _nonnegative(weight_decay, "weight_decay value", "weight_decay")


def _check_momentum(momentum: Any) -> float:
    return _nonnegative(momentum, "momentum value", "momentum")


def _check_betas(betas: Any) -> tuple[float, float]:
    if not isinstance(betas, tuple | list) or len(betas) != 2:
        raise ValueError(f"betas must be a pair of floats, not {betas!r}")
    out = []
    for k, b in enumerate(betas):
        v = _real(b, f"betas[{k}]")
        if not 0.0 <= v < 1.0:
            raise ValueError(f"Invalid beta parameter at index {k}: {b}")
        out.append(v)
    return out[0], out[1]


def _check_step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 1:
        raise ValueError(f"step must be a positive int (the number of this step), not {step!r}")
    return int(step)


# -- the update formulas, as lazy expressions ----------------------------------------------------

def _lazy(x: Any, name: str) -> LazyArray:
    a = asarray(x)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{name} must be a float32 or float64 array, not {a.dtype}")
    return a


def _operands(p: Any, g: Any, states: Sequence[tuple[str, Any]]
              ) -> tuple[LazyArray, LazyArray, list[LazyArray]]:
    """``p``, ``g`` and the state arrays as lazy arrays of ``p``'s dtype and shape: the
    gradient is cast to the parameter's dtype (a lazy cast: it fuses), states must match."""
    lp = _lazy(p, "the parameter")
    lg = _gradient(g, lp)
    ls = []
    for name, s in states:
        a = _lazy(s, name)
        if a.shape != lp.shape or a.dtype != lp.dtype:
            raise ValueError(f"{name} is {a.dtype}{list(a.shape)}, but the parameter is "
                             f"{lp.dtype}{list(lp.shape)}")
        ls.append(a)
    return lp, lg, ls


def _gradient(g: Any, p: LazyArray) -> LazyArray:
    """``g`` as a lazy array of ``p``'s shape and dtype (a lazy cast: it fuses)."""
    lg = asarray(g)
    if lg.dtype.kind != "f":
        raise TypeError(f"the gradient must be a float array, not {lg.dtype}")
    if lg.shape != p.shape:
        raise ValueError(f"the gradient has shape {lg.shape}, but the parameter has shape "
                         f"{p.shape}")
    return lg if lg.dtype == p.dtype else lg.astype(p.dtype)


# Each update is written once, over coefficients ``c`` (by name) that are either Python floats
# (the functional forms: kernel arguments) or 0-d lazy views of a parameter's coefficient
# array (the in-place step: see Optimizer). ``h`` (the hyperparameters) only decides the
# expression's structure: which terms exist.
Coef = float | LazyArray


def _sgd_coefs(h: dict[str, Any], step: int) -> dict[str, float]:
    first = step == 1  # torch's first step copies the gradient into the buffer: 0*buf + 1*g
    return {"lr": h["lr"], "weight_decay": h["weight_decay"], "momentum": h["momentum"],
            "keep": 0.0 if first else h["momentum"],
            "gain": 1.0 if first else 1.0 - h["dampening"]}


def _sgd(p: LazyArray, g: LazyArray, state: Sequence[LazyArray | None], c: dict[str, Coef],
         h: dict[str, Any]) -> tuple[LazyArray, ...]:
    if h["maximize"]:
        g = -g
    if h["weight_decay"] != 0:
        g = g + c["weight_decay"] * p
    if h["momentum"] == 0:
        return (p - c["lr"] * g,)
    buf = state[0]
    # without a buffer (the functional form's first step) the new buffer is the gradient
    new_buf = g if buf is None else buf * c["keep"] + g * c["gain"]
    d = g + c["momentum"] * new_buf if h["nesterov"] else new_buf
    return p - c["lr"] * d, new_buf


def _adam_coefs(h: dict[str, Any], step: int) -> dict[str, float]:
    beta1, beta2 = h["betas"]
    lr, wd = h["lr"], h["weight_decay"]
    # the bias corrections in Python float64, as torch computes them from its step count
    return {"decay": 1.0 - lr * wd if h["decoupled"] else wd, "one_minus_beta1": 1.0 - beta1,
            "beta2": beta2, "one_minus_beta2": 1.0 - beta2,
            "step_size": lr / (1.0 - beta1 ** step),
            "bias_correction2_sqrt": (1.0 - beta2 ** step) ** 0.5, "eps": h["eps"]}


def _adam(p: LazyArray, g: LazyArray, state: Sequence[LazyArray], c: dict[str, Coef],
          h: dict[str, Any]) -> tuple[LazyArray, ...]:
    m, v = state[0], state[1]
    if h["maximize"]:
        g = -g
    if h["weight_decay"] != 0:
        if h["decoupled"]:
            p = p * c["decay"]
        else:
            g = g + c["decay"] * p
    new_m = m + c["one_minus_beta1"] * (g - m)  # torch's lerp(m, g, 1 - beta1) (weight < 0.5)
    new_v = v * c["beta2"] + c["one_minus_beta2"] * (g * g)
    new_state: tuple[LazyArray, ...] = (new_m, new_v)
    second = new_v
    if h["amsgrad"]:
        second = _maximum(state[2], new_v)
        new_state += (second,)
    denom = _sqrt(second) / c["bias_correction2_sqrt"] + c["eps"]
    return (p - c["step_size"] * new_m / denom, *new_state)


def _rmsprop_coefs(h: dict[str, Any], step: int) -> dict[str, float]:
    return {"lr": h["lr"], "alpha": h["alpha"], "one_minus_alpha": 1.0 - h["alpha"],
            "eps": h["eps"], "weight_decay": h["weight_decay"], "momentum": h["momentum"]}


def _rmsprop(p: LazyArray, g: LazyArray, state: Sequence[LazyArray], c: dict[str, Coef],
             h: dict[str, Any]) -> tuple[LazyArray, ...]:
    if h["maximize"]:
        g = -g
    if h["weight_decay"] != 0:
        g = g + c["weight_decay"] * p
    new_sq = state[0] * c["alpha"] + c["one_minus_alpha"] * (g * g)
    new_state: tuple[LazyArray, ...] = (new_sq,)
    if h["centered"]:
        ga = state[-1]
        new_ga = ga + c["one_minus_alpha"] * (g - ga)  # torch's lerp
        avg = _sqrt(new_sq - new_ga * new_ga) + c["eps"]
    else:
        avg = _sqrt(new_sq) + c["eps"]
    if h["momentum"] > 0:
        new_buf = state[1] * c["momentum"] + g / avg
        new_p = p - c["lr"] * new_buf
        new_state += (new_buf,)
    else:
        new_p = p - c["lr"] * (g / avg)
    if h["centered"]:
        new_state += (new_ga,)
    return (new_p, *new_state)


def _adagrad_coefs(h: dict[str, Any], step: int) -> dict[str, float]:
    return {"clr": h["lr"] / (1.0 + (step - 1) * h["lr_decay"]),
            "weight_decay": h["weight_decay"], "eps": h["eps"]}


def _adagrad(p: LazyArray, g: LazyArray, state: Sequence[LazyArray], c: dict[str, Coef],
             h: dict[str, Any]) -> tuple[LazyArray, ...]:
    if h["maximize"]:
        g = -g
    if h["weight_decay"] != 0:
        g = g + c["weight_decay"] * p
    new_s = state[0] + g * g
    return p - c["clr"] * (g / (_sqrt(new_s) + c["eps"])), new_s


def _lion_coefs(h: dict[str, Any], step: int) -> dict[str, float]:
    beta1, beta2 = h["betas"]
    return {"lr": h["lr"], "weight_decay": h["weight_decay"], "beta1": beta1,
            "one_minus_beta1": 1.0 - beta1, "beta2": beta2, "one_minus_beta2": 1.0 - beta2}


def _lion(p: LazyArray, g: LazyArray, state: Sequence[LazyArray], c: dict[str, Coef],
          h: dict[str, Any]) -> tuple[LazyArray, ...]:
    m = state[0]
    if h["maximize"]:
        g = -g
    direction = _sign(m * c["beta1"] + g * c["one_minus_beta1"])
    if h["weight_decay"] != 0:
        direction = direction + c["weight_decay"] * p  # decoupled, as in the paper
    return p - c["lr"] * direction, m * c["beta2"] + g * c["one_minus_beta2"]


# -- the functional forms ------------------------------------------------------------------------

def _functional(update: Any, coefs: Any, h: dict[str, Any], param: Any, grad: Any,
                states: list[tuple[str, Any]], step: int) -> tuple[LazyArray, ...]:
    p, g, s = _operands(param, grad, [(n, a) for n, a in states if a is not None])
    it = iter(s)
    full = [None if a is None else next(it) for _, a in states]
    return update(p, g, full, coefs(h, step), h)


def sgd_update(param: Any, grad: Any, momentum_buffer: Any = None, *, lr: float = 1e-3,
               momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
               nesterov: bool = False, maximize: bool = False) -> tuple[LazyArray, ...]:
    """One SGD step as lazy arrays: ``(new_param,)``, or ``(new_param, new_momentum_buffer)``
    with momentum. Without a ``momentum_buffer`` (the first step) the new buffer is the
    gradient, as in PyTorch."""
    h = _sgd_hyper(lr, momentum, dampening, weight_decay, nesterov, maximize)
    buf = momentum_buffer if h["momentum"] != 0 else None
    return _functional(_sgd, _sgd_coefs, h, param, grad, [("momentum_buffer", buf)], 2)


def adam_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any,
                max_exp_avg_sq: Any = None, *, step: int, lr: float = 1e-3,
                betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                weight_decay: float = 0.0, maximize: bool = False
                ) -> tuple[LazyArray, ...]:
    """Adam's step number ``step`` (1 for the first) as lazy arrays: ``(new_param,
    new_exp_avg, new_exp_avg_sq)``, and ``new_max_exp_avg_sq`` after them when
    ``max_exp_avg_sq`` is given (AMSGrad)."""
    h = _adam_hyper(lr, betas, eps, weight_decay, max_exp_avg_sq is not None, maximize)
    return _functional(_adam, _adam_coefs, h, param, grad, _adam_states(
        exp_avg, exp_avg_sq, max_exp_avg_sq), _check_step(step))


def adamw_update(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any,
                 max_exp_avg_sq: Any = None, *, step: int, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, maximize: bool = False
                 ) -> tuple[LazyArray, ...]:
    """AdamW (decoupled weight decay): as :func:`adam_update`."""
    h = _adam_hyper(lr, betas, eps, weight_decay, max_exp_avg_sq is not None, maximize,
                    decoupled=True)
    return _functional(_adam, _adam_coefs, h, param, grad, _adam_states(
        exp_avg, exp_avg_sq, max_exp_avg_sq), _check_step(step))


def _adam_states(exp_avg: Any, exp_avg_sq: Any, max_exp_avg_sq: Any
                 ) -> list[tuple[str, Any]]:
    states = [("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)]
    return states if max_exp_avg_sq is None else [*states, ("max_exp_avg_sq", max_exp_avg_sq)]


def rmsprop_update(param: Any, grad: Any, square_avg: Any, momentum_buffer: Any = None,
                   grad_avg: Any = None, *, lr: float = 1e-2, alpha: float = 0.99,
                   eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                   maximize: bool = False) -> tuple[LazyArray, ...]:
    """One RMSprop step as lazy arrays: ``(new_param, new_square_avg)``, then
    ``new_momentum_buffer`` when ``momentum > 0`` (which needs a ``momentum_buffer``: zeros
    at first) and ``new_grad_avg`` when ``grad_avg`` is given (centered RMSprop)."""
    h = _rmsprop_hyper(lr, alpha, eps, weight_decay, momentum, grad_avg is not None, maximize)
    states = [("square_avg", square_avg)]
    if h["momentum"] > 0:
        if momentum_buffer is None:
            raise ValueError("rmsprop_update with momentum > 0 needs a momentum_buffer "
                             "(zeros at the first step)")
        states.append(("momentum_buffer", momentum_buffer))
    if grad_avg is not None:
        states.append(("grad_avg", grad_avg))
    return _functional(_rmsprop, _rmsprop_coefs, h, param, grad, states, 1)


def adagrad_update(param: Any, grad: Any, state_sum: Any, *, step: int, lr: float = 1e-2,
                   lr_decay: float = 0.0, weight_decay: float = 0.0, eps: float = 1e-10,
                   maximize: bool = False) -> tuple[LazyArray, ...]:
    """Adagrad's step number ``step`` (1 for the first) as lazy arrays:
    ``(new_param, new_state_sum)``."""
    h = _adagrad_hyper(lr, lr_decay, weight_decay, 0.0, eps, maximize)
    return _functional(_adagrad, _adagrad_coefs, h, param, grad, [("state_sum", state_sum)],
                       _check_step(step))


def lion_update(param: Any, grad: Any, exp_avg: Any, *, lr: float = 1e-4,
                betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0,
                maximize: bool = False) -> tuple[LazyArray, ...]:
    """One Lion step as lazy arrays: ``(new_param, new_exp_avg)``."""
    h = _lion_hyper(lr, betas, weight_decay, maximize)
    return _functional(_lion, _lion_coefs, h, param, grad, [("exp_avg", exp_avg)], 1)


# -- hyperparameters -----------------------------------------------------------------------------

def _sgd_hyper(lr: float, momentum: float, dampening: float, weight_decay: float,
               nesterov: bool, maximize: bool) -> dict[str, Any]:
    h = {"lr": _check_lr(lr), "momentum": _check_momentum(momentum),
         "dampening": _real(dampening, "dampening"),
         "weight_decay": _check_weight_decay(weight_decay),
         "nesterov": bool(nesterov), "maximize": bool(maximize)}
    if h["nesterov"] and (h["momentum"] <= 0 or h["dampening"] != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")
    return h


def _adam_hyper(lr: float, betas: tuple[float, float], eps: float, weight_decay: float,
                amsgrad: bool, maximize: bool, decoupled: bool = False) -> dict[str, Any]:
    return {"lr": _check_lr(lr), "betas": _check_betas(betas), "eps": _check_eps(eps),
            "weight_decay": _check_weight_decay(weight_decay), "amsgrad": bool(amsgrad),
            "maximize": bool(maximize), "decoupled": bool(decoupled)}


def _rmsprop_hyper(lr: float, alpha: float, eps: float, weight_decay: float,
                   momentum: float, centered: bool, maximize: bool) -> dict[str, Any]:
    return {"lr": _check_lr(lr), "alpha": _nonnegative(alpha, "alpha value", "alpha"),
            "eps": _check_eps(eps), "weight_decay": _check_weight_decay(weight_decay),
            "momentum": _check_momentum(momentum), "centered": bool(centered),
            "maximize": bool(maximize)}


def _adagrad_hyper(lr: float, lr_decay: float, weight_decay: float,
                   initial_accumulator_value: float, eps: float, maximize: bool
                   ) -> dict[str, Any]:
    return {"lr": _check_lr(lr),
            "lr_decay": _nonnegative(lr_decay, "lr_decay value", "lr_decay"),
            "weight_decay": _check_weight_decay(weight_decay),
            "initial_accumulator_value": _nonnegative(
                initial_accumulator_value, "initial_accumulator_value value",
                "initial_accumulator_value"),
            "eps": _check_eps(eps), "maximize": bool(maximize)}


def _lion_hyper(lr: float, betas: tuple[float, float], weight_decay: float,
                maximize: bool) -> dict[str, Any]:
    return {"lr": _check_lr(lr), "betas": _check_betas(betas),
            "weight_decay": _check_weight_decay(weight_decay), "maximize": bool(maximize)}


# -- the in-place optimizers ---------------------------------------------------------------------

def _leaf_arrays(g: Any) -> list[np.ndarray]:
    """The NumPy arrays a gradient reads when it is evaluated."""
    if isinstance(g, np.ndarray):
        return [g]
    if isinstance(g, LazyArray):
        return [n.arg.array for n in toposort([g._node])
                if n.op is Op.LEAF and isinstance(n.arg.array, np.ndarray)]
    return []


def _extent(a: np.ndarray) -> tuple[int, int]:
    """The bytes ``a`` may touch: [start, end)."""
    lo = hi = a.__array_interface__["data"][0]
    if a.size == 0:
        return lo, lo
    for n, st in zip(a.shape, a.strides, strict=True):
        if st < 0:
            lo += (n - 1) * st
        else:
            hi += (n - 1) * st
    return lo, hi + a.itemsize


def _identity(g: Any) -> Any:
    """What names a gradient's expression: its array, or its (interned) node; else None."""
    if isinstance(g, np.ndarray):
        return g
    return g._node if isinstance(g, LazyArray) else None


class Optimizer:
    """One group of parameters (NumPy float arrays, updated in place) and their state.

    ``step(grads)`` updates every parameter for which a gradient is given (None skips one, as
    a missing ``.grad`` does in PyTorch), each in one kernel that also updates its state.
    ``lr`` may be set between steps without compiling anything.

    Each parameter has a small coefficient array (the learning rate, bias corrections and the
    other scalars of its update, in its dtype, computed in Python float64 before each step),
    which its kernel reads: the update's expression is then the same at every step, so when
    a step gets the same gradient as the last one (the same array, or the same lazy
    expression), lazyarr runs the launch it prepared last time instead of planning again.
    """

    # the names of a parameter's state arrays, as in torch.optim's state dicts
    state_names: tuple[str, ...] = ()
    _fixed: ClassVar[tuple[str, ...]] = ()  # hyperparameters that decide the state's shape
    _checker: ClassVar[Callable[..., dict[str, Any]]]  # validates the hyperparameters
    _coefs: ClassVar[Callable[[dict[str, Any], int], dict[str, float]]]
    _formula: ClassVar[Callable[..., tuple[LazyArray, ...]]]

    def __init__(self, params: Iterable[np.ndarray], hyper: dict[str, Any]) -> None:
        self.params: list[np.ndarray] = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for k, p in enumerate(self.params):
            if not isinstance(p, np.ndarray):
                raise TypeError(f"params[{k}] is a {type(p).__name__}: parameters are NumPy "
                                "arrays, updated in place")
            if p.dtype not in _FLOATS:
                raise TypeError(f"params[{k}] is {p.dtype}: parameters are float32 or float64")
            if not p.flags.writeable:
                raise ValueError(f"params[{k}] is read-only")
            for j in range(k):
                if np.may_share_memory(p, self.params[j]):
                    raise ValueError(f"params[{j}] and params[{k}] share memory: each "
                                     "parameter must be updated by its own kernel")
        spans = sorted((*_extent(p), k) for k, p in enumerate(self.params) if p.size)
        # the parameters' memory: starts, ends and indices, by start (and so by end)
        self._extents = ([s[0] for s in spans], [s[1] for s in spans], [s[2] for s in spans])
        self._hyper = hyper
        self.steps: list[int] = [0] * len(self.params)  # per parameter, as torch's "step"
        self.state: list[dict[str, np.ndarray]] = [
            {name: self._initial(name, p) for name in self.state_names} for p in self.params]
        names = tuple(type(self)._coefs(hyper, 1))
        self._coef_arrays = [np.zeros(len(names), p.dtype) for p in self.params]
        # the same lazy leaves at every step: the expression is the same, and so are its nodes
        self._leaves = []
        for p, st, coef in zip(self.params, self.state, self._coef_arrays, strict=True):
            lc = asarray(coef)
            self._leaves.append((asarray(p), [asarray(a) for a in st.values()],
                                 {name: lc[i] for i, name in enumerate(names)}))
        self._outs = [(p, *st.values()) for p, st in zip(self.params, self.state, strict=True)]
        # per parameter: the last gradient (weakly), and (gradient, expressions) once one
        # came twice in a row; kept only then, so that fresh gradients are never held
        self._seen: list[weakref.ref | None] = [None] * len(self.params)
        self._built: list[tuple[Any, tuple[LazyArray, ...]] | None] = [None] * len(self.params)
        # per parameter, its update as a fused function of (p, g, *state) for gradients that
        # are arrays: a call writes the new arrays into the kernel's argument block and runs
        self._fused: list[Fused | None] = [None] * len(self.params)

    def _initial(self, name: str, p: np.ndarray) -> np.ndarray:
        return np.zeros_like(p)

    # hyperparameters
    @property
    def lr(self) -> float:
        return self._hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self._hyper["lr"] = _check_lr(value)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """A copy of the hyperparameters (set ``lr`` through its attribute)."""
        return dict(self._hyper)

    # the step
    def _expressions(self, k: int, g: Any) -> tuple[LazyArray, ...]:
        """Parameter ``k``'s update by gradient ``g``, its coefficients set for its next
        step."""
        self._set_coefficients(k)
        key = _identity(g)
        built = self._built[k]
        if built is not None and key is not None and built[0] is key:
            return built[1]
        lp, ls, coefs = self._leaves[k]
        exprs = type(self)._formula(lp, _gradient(g, lp), ls, coefs, self._hyper)
        seen = self._seen[k]
        again = key is not None and seen is not None and seen() is key
        self._built[k] = (key, exprs) if again else None
        self._seen[k] = None if key is None else weakref.ref(key)
        return exprs

    def expressions(self, grads: Sequence[Any]) -> list[tuple[LazyArray, ...] | None]:
        """What the next ``step(grads)`` evaluates, without evaluating it: per parameter, the
        lazy new parameter followed by its new state (None where the gradient is None).
        They read the parameter's coefficient array, which this call fills for the next step
        (and every step refills)."""
        self._check_grads(grads)
        return [None if g is None else self._expressions(k, g) for k, g in enumerate(grads)]

    def step(self, grads: Sequence[Any]) -> None:
        """Update the parameters and their state in place: one kernel per parameter."""
        self._check_grads(grads)
        grads = list(grads)
        for k in self._order(grads):
            g = grads[k]
            if type(g) is np.ndarray and g.dtype == self.params[k].dtype:
                self._set_coefficients(k)
                self._update(k)(g, out=self._outs[k])
            else:
                _eval(self._expressions(k, g), self._outs[k])
            self.steps[k] += 1

    def _set_coefficients(self, k: int) -> None:
        self._coef_arrays[k][:] = list(type(self)._coefs(self._hyper, self.steps[k] + 1)
                                       .values())

    def _update(self, k: int) -> Fused:
        """Parameter ``k``'s update by an array gradient, fused (``lazyarr.run.fuse``): the
        parameter, its state and its coefficients are captured leaves (read by reference),
        the gradient the argument."""
        found = self._fused[k]
        if found is None:
            lp, ls, coefs = self._leaves[k]
            formula, hyper = type(self)._formula, self._hyper

            def update(g: LazyArray) -> tuple[LazyArray, ...]:
                return formula(lp, g, ls, coefs, hyper)

            found = self._fused[k] = Fused(update)
        return found

    def _check_grads(self, grads: Sequence[Any]) -> None:
        if isinstance(grads, np.ndarray | LazyArray) or not isinstance(grads, Sequence):
            raise TypeError("step() takes a list of gradients, one per parameter")
        if len(grads) != len(self.params):
            raise ValueError(f"{len(grads)} gradients for {len(self.params)} parameters")
        for k, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if g is None:
                continue
            shape, dtype = getattr(g, "shape", None), getattr(g, "dtype", None)
            if shape is not None and tuple(shape) != p.shape:
                raise ValueError(f"grads[{k}] has shape {tuple(shape)}, but params[{k}] has "
                                 f"shape {p.shape}")
            if dtype is not None and np.dtype(dtype).kind != "f":
                raise TypeError(f"grads[{k}] is {dtype}: gradients are float arrays")

    def _order(self, grads: list[Any]) -> list[int]:
        """The order of the parameters' updates, so that no gradient reads a parameter
        already updated in this step. A gradient that reads other parameters (a lazy backward
        pass through several layers) must be evaluated before they change: such gradients
        are updated first when they can be ordered (Kahn's algorithm on "reads"), and those
        caught in a cycle are evaluated together, into new arrays, before any of them is
        updated (``grads`` is changed in place for them)."""
        n = len(self.params)
        reads: list[set[int]] = [set() for _ in range(n)]
        for k, g in enumerate(grads):
            if g is not None:
                for a in _leaf_arrays(g):
                    reads[k].update(j for j in self._overlapping(a) if j != k)
        active = [k for k in range(n) if grads[k] is not None]
        if not any(reads[k] for k in active):
            return active
        # k reads j: k's update goes first. Kahn's algorithm: a parameter may be updated
        # once every gradient that reads it has been used.
        readers = [0] * n
        for k in active:
            for j in reads[k]:
                readers[j] += 1
        ready = [k for k in active if readers[k] == 0]
        order: list[int] = []
        while ready:
            k = ready.pop(0)
            order.append(k)
            for j in sorted(reads[k]):
                readers[j] -= 1
                if readers[j] == 0:
                    ready.append(j)
        rest = [k for k in active if k not in order]
        if rest:
            # a cycle: evaluate those gradients together (the backward pass fuses), then the
            # rest read nothing that is about to change
            tangled = [k for k in rest if reads[k]]
            values = _eval([grads[k] for k in tangled])
            for k, v in zip(tangled, values, strict=True):
                # a gradient that is a parameter's own array evaluates to that array
                grads[k] = v.copy() if self._overlapping(v) else v
            order += rest
        return order

    def _overlapping(self, a: np.ndarray) -> list[int]:
        """The parameters whose memory extent overlaps ``a``'s (as np.may_share_memory):
        a bisection among the parameters' extents, which are disjoint."""
        lo, hi = _extent(a)
        his = self._extents[1]
        k = bisect.bisect_right(his, lo)
        found = []
        while k < len(his) and self._extents[0][k] < hi:
            found.append(self._extents[2][k])
            k += 1
        return found

    # state
    def state_dict(self) -> dict[str, Any]:
        """Copies of the state (per parameter: ``step`` and the state arrays) and the
        hyperparameters."""
        return {"state": [{"step": s, **{k: v.copy() for k, v in st.items()}}
                          for s, st in zip(self.steps, self.state, strict=True)],
                "hyperparameters": self.hyperparameters}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Copy a :meth:`state_dict` into this optimizer's arrays (which stay the same
        objects)."""
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(f"the state dict holds {len(states)} parameters, this optimizer "
                             f"{len(self.params)}")
        hyper = dict(state_dict["hyperparameters"])
        if set(hyper) != set(self._hyper) or any(hyper[k] != self._hyper[k]
                                                 for k in self._fixed):
            raise ValueError("the state dict's hyperparameters do not fit this optimizer "
                             f"(these must match: {', '.join(self._fixed) or 'none'})")
        for k, (st, mine) in enumerate(zip(states, self.state, strict=True)):
            if set(st) != {"step", *mine}:
                raise ValueError(f"state {k} holds {sorted(st)}, not {sorted(mine)}")
            for name, arr in mine.items():
                if np.shape(st[name]) != arr.shape:
                    raise ValueError(f"state {k}'s {name} has shape {np.shape(st[name])}, "
                                     f"not {arr.shape}")
        hyper = type(self)._checker(**hyper)
        if any(hyper[k] != self._hyper[k] for k in hyper if k != "lr"):
            # another structure (a weight decay where there was none): build again
            self._built = [None] * len(self.params)
        for k, (st, mine) in enumerate(zip(states, self.state, strict=True)):
            for name, arr in mine.items():
                np.copyto(arr, st[name])
            self.steps[k] = int(st["step"])
        self._hyper = hyper


class SGD(Optimizer):
    """PyTorch's ``SGD`` (its defaults, ``lr`` 1e-3)."""

    _checker = staticmethod(_sgd_hyper)
    _coefs = staticmethod(_sgd_coefs)
    _formula = staticmethod(_sgd)
    _fixed = ("momentum",)

    def __init__(self, params: Iterable[np.ndarray], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        hyper = _sgd_hyper(lr, momentum, dampening, weight_decay, nesterov, maximize)
        self.state_names = ("momentum_buffer",) if hyper["momentum"] != 0 else ()
        super().__init__(params, hyper)


class Adam(Optimizer):
    """PyTorch's ``Adam``."""

    _checker = staticmethod(_adam_hyper)
    _coefs = staticmethod(_adam_coefs)
    _formula = staticmethod(_adam)
    _fixed = ("amsgrad", "decoupled")
    _decoupled = False

    def __init__(self, params: Iterable[np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        hyper = _adam_hyper(lr, betas, eps, weight_decay, amsgrad, maximize, self._decoupled)
        self.state_names = ("exp_avg", "exp_avg_sq") + (
            ("max_exp_avg_sq",) if hyper["amsgrad"] else ())
        super().__init__(params, hyper)


class AdamW(Adam):
    """PyTorch's ``AdamW``: Adam with decoupled weight decay (default 1e-2)."""

    _decoupled = True

    def __init__(self, params: Iterable[np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """PyTorch's ``RMSprop``."""

    _checker = staticmethod(_rmsprop_hyper)
    _coefs = staticmethod(_rmsprop_coefs)
    _formula = staticmethod(_rmsprop)
    _fixed = ("momentum", "centered")

    def __init__(self, params: Iterable[np.ndarray], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        hyper = _rmsprop_hyper(lr, alpha, eps, weight_decay, momentum, centered, maximize)
        self.state_names = ("square_avg",) + (
            ("momentum_buffer",) if hyper["momentum"] > 0 else ()) + (
            ("grad_avg",) if hyper["centered"] else ())
        super().__init__(params, hyper)


class Adagrad(Optimizer):
    """PyTorch's ``Adagrad``."""

    _checker = staticmethod(_adagrad_hyper)
    _coefs = staticmethod(_adagrad_coefs)
    _formula = staticmethod(_adagrad)
    _fixed = ("initial_accumulator_value",)
    state_names = ("sum",)

    def __init__(self, params: Iterable[np.ndarray], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False) -> None:
        super().__init__(params, _adagrad_hyper(lr, lr_decay, weight_decay,
                                                initial_accumulator_value, eps, maximize))

    def _initial(self, name: str, p: np.ndarray) -> np.ndarray:
        return np.full_like(p, self._hyper["initial_accumulator_value"])


class Lion(Optimizer):
    """Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), as optax's
    ``lion``: betas (0.9, 0.99), decoupled weight decay (default 0, as PyTorch's optimizers;
    optax's is 1e-3)."""

    _checker = staticmethod(_lion_hyper)
    _coefs = staticmethod(_lion_coefs)
    _formula = staticmethod(_lion)
    state_names = ("exp_avg",)

    def __init__(self, params: Iterable[np.ndarray], lr: float = 1e-4,
                 betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0, *,
                 maximize: bool = False) -> None:
        super().__init__(params, _lion_hyper(lr, betas, weight_decay, maximize))


# lower-case constructors, as the issue names them (la.optim.adamw(params, lr=...))
sgd, adam, adamw, rmsprop, adagrad, lion = SGD, Adam, AdamW, RMSprop, Adagrad, Lion

__all__ = [
    "SGD", "Adagrad", "Adam", "AdamW", "Lion", "Optimizer", "RMSprop",
    "adagrad", "adagrad_update", "adam", "adam_update", "adamw", "adamw_update", "lion",
    "lion_update", "rmsprop", "rmsprop_update", "sgd", "sgd_update",
]
