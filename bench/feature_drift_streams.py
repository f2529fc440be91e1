"""Seeded streams for bench/feature_drift.py (numpy only: the peers' venv imports this too).

Every stream is a dict ``feature name -> list of values`` of one length; a value is a float,
a str, a bool or None (missing). A drift scenario changes the stream at ``CHANGE``
(the correlation flip at ``JOINT_CHANGE``, see :func:`change_of`); the reference the detectors
learn is the start of the stream. Seeds: ``seed`` gives the whole
stream; scenario ``s`` replicate ``r`` uses ``seed = 1000 * s + r``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Sample index of the change in every drift scenario.
CHANGE = 3000
#: Samples after the change a drift stream runs for.
HORIZON = 2000
#: Sample index of the correlation flip: past the joint signal's reference (its first
#: ``reference_size`` = 1,000 used rows at ``sample_every`` = 4, i.e. 4,000 predictions), which
#: a change at ``CHANGE`` would fall inside of.
JOINT_CHANGE = 5000

Stream = dict[str, list[Any]]

CATEGORIES = ["c0", "c1", "c2", "c3"]
BASE_SHARES = [0.4, 0.3, 0.2, 0.1]


def _normal(rng: np.random.Generator, n: int, mean: float = 0.0, sd: float = 1.0) -> list[Any]:
    return [float(x) for x in rng.normal(mean, sd, n)]


def _numeric_change(
    after: Callable[[np.random.Generator, int], list[Any]],
) -> Callable[[int], Stream]:
    def make(seed: int) -> Stream:
        rng = np.random.default_rng(seed)
        return {"x": _normal(rng, CHANGE) + after(rng, HORIZON)}

    return make


def _bimodal(rng: np.random.Generator, n: int) -> list[Any]:
    """Mean 0, variance 1, two modes at ±0.8 (sd 0.6): only the shape differs from N(0, 1)."""
    signs = rng.choice([-0.8, 0.8], n)
    return [float(x) for x in signs + rng.normal(0, 0.6, n)]


def _categorical(
    rng: np.random.Generator, n: int, names: list[str], shares: list[float]
) -> list[Any]:
    p = np.array(shares) / sum(shares)
    return [names[i] for i in rng.choice(len(names), n, p=p)]


def _category_shift(seed: int) -> Stream:
    """20 % of the mass moves from c0 to c1."""
    rng = np.random.default_rng(seed)
    return {
        "x": _categorical(rng, CHANGE, CATEGORIES, BASE_SHARES)
        + _categorical(rng, HORIZON, CATEGORIES, [0.2, 0.5, 0.2, 0.1])
    }


def _new_category(seed: int) -> Stream:
    """A category never seen before takes 5 % of the mass."""
    rng = np.random.default_rng(seed)
    after = [s * 0.95 for s in BASE_SHARES] + [0.05]
    return {
        "x": _categorical(rng, CHANGE, CATEGORIES, BASE_SHARES)
        + _categorical(rng, HORIZON, [*CATEGORIES, "new"], after)
    }


def correlated(rng: np.random.Generator, n: int, rho: float) -> dict[str, list[Any]]:
    """Four N(0, 1) features; a and b have correlation ``rho``, c and d are independent."""
    x = rng.standard_normal((n, 4))
    x[:, 1] = rho * x[:, 0] + np.sqrt(1 - rho**2) * x[:, 1]
    return {name: [float(v) for v in x[:, j]] for j, name in enumerate("abcd")}


def _correlation_flip(seed: int) -> Stream:
    rng = np.random.default_rng(seed)
    before, after = correlated(rng, JOINT_CHANGE, 0.8), correlated(rng, HORIZON, -0.8)
    return {name: before[name] + after[name] for name in before}


def _missing(seed: int) -> Stream:
    rng = np.random.default_rng(seed)
    after = [
        None if m else float(x)
        for x, m in zip(rng.normal(0, 1, HORIZON), rng.random(HORIZON) < 0.1, strict=True)
    ]
    return {"x": _normal(rng, CHANGE) + after}


#: name -> (feature kind, stream maker)
DRIFT_SCENARIOS: dict[str, tuple[str, Callable[[int], Stream]]] = {
    "mean +0.5 sd": ("numeric", _numeric_change(lambda rng, n: _normal(rng, n, 0.5))),
    "mean +1 sd": ("numeric", _numeric_change(lambda rng, n: _normal(rng, n, 1.0))),
    "mean +3 sd": ("numeric", _numeric_change(lambda rng, n: _normal(rng, n, 3.0))),
    "variance x2": ("numeric", _numeric_change(lambda rng, n: _normal(rng, n, 0.0, np.sqrt(2)))),
    "bimodal split (same mean, variance)": ("numeric", _numeric_change(_bimodal)),
    "20% of mass c0 -> c1": ("categorical", _category_shift),
    "new category at 5%": ("categorical", _new_category),
    "correlation flip +0.8 -> -0.8": ("joint", _correlation_flip),
    "missing rate 0% -> 10%": ("numeric", _missing),
}


def change_of(scenario: str) -> int:
    """Sample index of ``scenario``'s change (delays are counted from it)."""
    return JOINT_CHANGE if DRIFT_SCENARIOS[scenario][0] == "joint" else CHANGE


def _zipf_shares(k: int) -> list[float]:
    return [1.0 / (i + 1) for i in range(k)]


def _stationary_categorical(k: int) -> Callable[[int, int], Stream]:
    names = [f"c{i}" for i in range(k)]

    def make(seed: int, n: int) -> Stream:
        return {"x": _categorical(np.random.default_rng(seed), n, names, _zipf_shares(k))}

    return make


def _stationary_boolean(p: float) -> Callable[[int, int], Stream]:
    def make(seed: int, n: int) -> Stream:
        return {"x": [bool(v) for v in np.random.default_rng(seed).random(n) < p]}

    return make


#: name -> (feature kind, maker(seed, n))
STATIONARY_STREAMS: dict[str, tuple[str, Callable[[int, int], Stream]]] = {
    "numeric N(0,1)": ("numeric", lambda seed, n: {"x": _normal(np.random.default_rng(seed), n)}),
    "numeric lognormal": (
        "numeric",
        lambda seed, n: {"x": [float(v) for v in np.random.default_rng(seed).lognormal(0, 1, n)]},
    ),
    "numeric integer 0-4": (
        "numeric",
        lambda seed, n: {"x": [float(v) for v in np.random.default_rng(seed).binomial(4, 0.3, n)]},
    ),
    "categorical 3 (Zipf)": ("categorical", _stationary_categorical(3)),
    "categorical 10 (Zipf)": ("categorical", _stationary_categorical(10)),
    "categorical 50 (Zipf)": ("categorical", _stationary_categorical(50)),
    "boolean p=0.5": ("boolean", _stationary_boolean(0.5)),
    "boolean p=0.05": ("boolean", _stationary_boolean(0.05)),
    "4 features, a~b corr 0.8": (
        "joint",
        lambda seed, n: correlated(np.random.default_rng(seed), n, 0.8),
    ),
}
