"""Fitting latency formulas (groupcost.run.latency) to measured layers, with NumPy only.

- `linear`: non-negative least squares (Lawson and Hanson's active-set method) on the relative
  error: each measured layer's row is divided by its time, so a 10 µs layer counts as much as a 10 ms one.
- `loglinear`: least squares of log time on log(1 + feature), every slope non-negative (a layer that
  moves more bytes is never predicted faster: nearly collinear features, such as an add's bytes in and
  out, cannot cancel each other and explode where their ratio changes, as in a broadcast multiply).
- `choose`: both forms, each scored on layers it was not fitted on (k-fold); the better one, refitted on all.
- `fit_context`: the correction in context (groupcost.run.context) from whole networks' measured times (ONNX Runtime).
- `fit_fixed_scale`: how much slower a layer's fixed cost is in a network than its single-operation formula says (torch
  eager: for the kinds too rare in the networks measured to have formulas of their own).
- `fit_overheads`: a network's own time beyond its layers' timed in context: per network and per layer.
- `spread`: how much bootstrap refits disagree on a candidate layer; adaptive sampling measures
  the candidates where they disagree most.
"""

from __future__ import annotations

import math

import numpy as np

from groupcost.run.context import GROUPS, Context
from groupcost.run.latency import TECHNIQUES, Formula

FOLDS = 5


def nnls(a: np.ndarray, b: np.ndarray, iterations: int = 200) -> np.ndarray:
    """x ≥ 0 minimising ‖a·x − b‖ (Lawson & Hanson 1974, the active-set algorithm)."""
    n = a.shape[1]
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    gradient = a.T @ (b - a @ x)
    for _ in range(iterations):
        free = ~passive & (gradient > 1e-12)
        if not free.any():
            break
        passive[np.argmax(np.where(free, gradient, -np.inf))] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if (z[passive] > 0).all():
                x = z
                break
            negative = passive & (z <= 0)
            step = np.min(x[negative] / (x[negative] - z[negative]))
            x = x + step * (z - x)
            passive &= x > 1e-15
            x[~passive] = 0.0
        gradient = a.T @ (b - a @ x)
    return x


def _fit(technique: str, table: np.ndarray, seconds: np.ndarray) -> tuple[float, ...]:
    if technique == "linear":
        scale = np.abs(table).max(axis=0)
        scale[scale == 0] = 1.0
        weighted = table / scale / seconds[:, None]
        return tuple(float(c) for c in nnls(weighted, np.ones(len(seconds))) / scale)
    ones = np.ones(len(seconds))
    logs = np.column_stack([ones, -ones, np.log1p(table[:, 1:])])  # intercept = a⁺ − a⁻, every slope ≥ 0
    solution = nnls(logs, np.log(seconds))
    return (float(solution[0] - solution[1]), *(float(c) for c in solution[2:]))


def predict(formula: Formula, table: np.ndarray) -> np.ndarray:
    coefficients = np.array(formula.coefficients)
    if formula.technique == "linear":
        return table @ coefficients
    return np.exp(coefficients[0] + np.log1p(table[:, 1:]) @ coefficients[1:])


def fit(technique: str, names: tuple[str, ...], table: np.ndarray, seconds: np.ndarray, heldout_error: float = float("nan")) -> Formula:
    """One formula on the measured layers: `table` holds one row of the features `names` per layer (first: the constant 1)."""
    return Formula(technique, names, _fit(technique, table, seconds), len(seconds), heldout_error)


def relative_errors(predicted: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    return np.abs(predicted - seconds) / seconds


def heldout_error(technique: str, names: tuple[str, ...], table: np.ndarray, seconds: np.ndarray, seed: int = 0) -> float:
    """Median relative error on held-out layers, k-fold (each layer predicted by a fit that did not see it)."""
    count = len(seconds)
    folds = min(FOLDS, count)
    if folds < 2:
        return float("nan")
    order = np.random.default_rng(seed).permutation(count)
    errors = []
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        formula = fit(technique, names, table[train], seconds[train])
        errors.append(relative_errors(predict(formula, table[test]), seconds[test]))
    return float(np.median(np.concatenate(errors)))


def choose(names: tuple[str, ...], table: np.ndarray, seconds: np.ndarray) -> Formula:
    """The form with the smaller held-out error, fitted on every layer. With fewer than two layers per
    feature, the linear form (it cannot overshoot far: every coefficient is a non-negative cost)."""
    if len(seconds) < 2 * len(names):
        return fit("linear", names, table, seconds, heldout_error("linear", names, table, seconds))
    scored = {technique: heldout_error(technique, names, table, seconds) for technique in TECHNIQUES}
    best = min(scored, key=lambda t: scored[t])
    return fit(best, names, table, seconds, scored[best])


def spread(technique: str, names: tuple[str, ...], table: np.ndarray, seconds: np.ndarray, candidates: np.ndarray,
           refits: int = 8, seed: int = 0) -> np.ndarray:
    """Per candidate, the standard deviation of log predicted time over bootstrap refits: where the model is least sure."""
    rng = np.random.default_rng(seed)
    logs = []
    for _ in range(refits):
        pick = rng.integers(0, len(seconds), len(seconds))
        formula = fit(technique, names, table[pick], seconds[pick])
        logs.append(np.log(np.maximum(predict(formula, candidates), 1e-9)))
    return np.std(np.array(logs), axis=0)


def _relative_nnls(rows: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Non-negative coefficients minimising the relative error of rows · coefficients against the measured seconds."""
    weighted = rows / measured[:, None]
    scale = np.abs(weighted).max(axis=0)
    scale[scale == 0] = 1.0
    return nnls(weighted / scale, np.ones(len(measured))) / scale


def fit_context(table, seconds) -> Context:
    """The context coefficients from networks' feature rows (groupcost.run.context.table_row) and their measured
    seconds, with their held-out error (k-fold)."""
    table, seconds = np.asarray(table, dtype=float), np.asarray(seconds, dtype=float)
    folds = min(FOLDS, len(seconds))
    errors = []
    order = np.random.default_rng(0).permutation(len(seconds))
    for k in range(folds if folds >= 2 else 0):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        errors.append(relative_errors(table[test] @ _relative_nnls(table[train], seconds[train]), seconds[test]))
    c = _relative_nnls(table, seconds)
    error = float(np.median(np.concatenate(errors))) if errors else math.nan
    return Context(float(c[0]), float(c[1]), float(c[2]), {g: float(v) for g, v in zip(GROUPS, c[3:])}, len(seconds), error)


def fit_fixed_scale(parts: list[tuple[float, float]], seconds: list[float]) -> float:
    """How much slower a layer's fixed cost is in a network than timed alone, from layers timed in context and their
    single-operation formulas' (fixed part, growing part): seconds ≈ scale × fixed + growing, least squares on the
    relative error; 1 where nothing was measured. The growing part keeps its scale: a large layer's bytes and MACs
    cost what they cost alone; its code and dispatch are what the layers between push out of the caches."""
    fixed = np.array([f for f, _ in parts], dtype=float)
    if not seconds or not fixed.any():
        return 1.0
    measured = np.asarray(seconds, dtype=float)
    weighted, target = fixed / measured, (measured - np.array([v for _, v in parts])) / measured
    return max(float(weighted @ target / (weighted @ weighted)), 0.0) or 1.0


def fit_overheads(layer_counts: list[int], beyond: list[float], wholes: list[float]) -> tuple[float, float]:
    """(per network, per layer) seconds from networks timed whole and layer by layer: whole − Σ layers = per network +
    per layer × layers, least squares on the relative error, per network at least 0. Per layer may be negative:
    timing each node costs a clock read that the whole run does not pay."""
    if not wholes:
        return 0.0, 0.0
    weights = 1 / np.asarray(wholes, dtype=float)
    rows = np.column_stack([np.ones(len(wholes)), np.asarray(layer_counts, dtype=float)]) * weights[:, None]
    target = np.asarray(beyond, dtype=float) * weights
    solution = np.linalg.lstsq(rows, target, rcond=None)[0]
    if solution[0] < 0:  # a network's call costs something: with none, the per-layer time alone
        return 0.0, float(np.linalg.lstsq(rows[:, 1:], target, rcond=None)[0][0])
    return float(solution[0]), float(solution[1])
