"""Slipway's drift statistics (src/drift/statistics.ts) give SciPy's and NumPy's numbers, and Evidently's
verdicts, on seeded random cases.

The cases are generated here with numpy and answered by SciPy/NumPy in this process; the built module
(dist/drift/statistics.js, from `make build`) answers all of them in one node process (JSON on stdin,
JSON on stdout). Every statistic and p-value must agree within 1e-9 absolute, and p-values below 1e-9
within 1e-6 relative as well. Evidently itself is not installed: its rules are written out below from
evidently.legacy.calculations.stattests (get_default_stattest, get_binned_data and each stattest) on top
of pandas, NumPy and SciPy.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import warnings
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from support import REPO_ROOT

MODULE = REPO_ROOT / "dist" / "drift" / "statistics.js"
ABSOLUTE_TOLERANCE = 1e-9
RELATIVE_TOLERANCE = 1e-6
TINY_P = 1e-9
NODE_TIMEOUT = 120

# Reads [[function, args], ...] with {"$float": "NaN"} standing for non-finite numbers, calls each exported
# function and writes [{"ok": result} | {"error": message}, ...] with the same encoding.
RUNNER = r"""
import { pathToFileURL } from 'node:url';
const statistics = await import(pathToFileURL(process.env.DRIFT_MODULE).href);
let input = '';
for await (const chunk of process.stdin) input += chunk;
const decode = (key, value) =>
  value !== null && typeof value === 'object' && '$float' in value ? Number(value.$float) : value;
const encode = (key, value) =>
  typeof value === 'number' && !Number.isFinite(value) ? { $float: String(value) } : value;
const answers = JSON.parse(input, decode).map(([name, args]) => {
  try {
    return { ok: statistics[name](...args) };
  } catch (error) {
    return { error: `${error.name}: ${error.message}` };
  }
});
process.stdout.write(JSON.stringify(answers, encode));
"""


def encode(value):
    """Python values as the runner reads them: non-finite floats wrapped, numpy scalars as Python's."""
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [encode(item) for item in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"$float": "NaN" if math.isnan(value) else f"{value:+}".replace("inf", "Infinity")}
    return value


def decode(value):
    if isinstance(value, dict) and set(value) == {"$float"}:
        return float(value["$float"].replace("Infinity", "inf"))
    if isinstance(value, dict):
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


# --- the cases -----------------------------------------------------------------------------------------------


class Cases:
    """Calls to make in node, each with the answer SciPy/NumPy/Evidently's rules give."""

    def __init__(self) -> None:
        self.calls: list[list] = []
        self.expected: list[dict] = []
        self.names: list[str] = []

    def add(self, function: str, args: list, expected: dict, label: str = "") -> None:
        self.calls.append([function, encode(args)])
        self.expected.append(expected)
        self.names.append(f"{function} {label}".strip())


def sample(rng: np.random.Generator, kind: str, size: int, shift: float = 0.0) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1.0, size)
    if kind == "uniform":
        return rng.uniform(shift, 1.0 + shift, size)
    if kind == "ties":
        return np.round(rng.normal(shift, 1.0, size) * 2) / 2
    return (rng.integers(0, 4, size) + (1 if shift > 0.5 else 0)).astype(float)


def ks_cases(cases: Cases, rng: np.random.Generator) -> None:
    # Exact below 10,000 per sample (n1 == n2, n1 != n2, common divisors), asymptotic above, down to n = 1.
    sizes = [
        (1, 1), (1, 2), (2, 1), (1, 5), (3, 3), (5, 7), (10, 10), (10, 15), (20, 30), (50, 50), (60, 40),
        (100, 100), (99, 101), (200, 300), (400, 600), (1000, 1000), (1000, 1500), (3000, 2000), (2500, 7500),
        (10000, 10000), (9999, 10000), (10000, 7000), (10001, 10001), (12000, 15000), (20000, 20000),
        (1, 20000), (5, 15000), (100, 10001), (141, 12000), (3000, 12000), (20000, 500),
    ]
    for n1, n2 in sizes:
        large = n1 * n2 > 1_000_000
        for kind in ("normal", "uniform", "ties", "few"):
            for shift in (0.0, 0.1, 0.5, 2.0):
                # A large D on large samples costs half a second in the exact method: a few such cases do.
                if large and (kind != "normal" and shift > 0 or shift == 2.0 and (n1, n2) != (9999, 10000)):
                    continue
                a, b = sample(rng, kind, n1), sample(rng, kind, n2, shift)
                result = stats.ks_2samp(a, b)
                cases.add("ks2samp", [a, b], {"statistic": result.statistic, "pValue": result.pvalue}, f"{kind} {n1}x{n2} +{shift}")
    # D = 1/n with n1 == n2: SciPy's exact sum lands just above 1 and it falls back to the asymptotic p-value.
    for n in (5, 7, 13, 30):
        a = np.arange(n, dtype=float)
        result = stats.ks_2samp(a, a + 0.5)
        cases.add("ks2samp", [a, a + 0.5], {"statistic": result.statistic, "pValue": result.pvalue}, f"fallback {n}")


def distribution_cases(cases: Cases, rng: np.random.Generator) -> None:
    # kstwo.sf over every branch of _kolmogn: Ruben-Gambino, Durbin's matrix, Pomeranz, Pelz-Good, Smirnov.
    for n in [*range(1, 25), 40, 99, 139, 140, 141, 200, 500, 1000, 2400, 9999, 10000, 100000]:
        points = {0.5 / n, 1 / n, 1.5 / n, (n - 1) / n, 1 - 0.5 / n, *np.linspace(0, 1, 21), *rng.uniform(0, 1, 4)}
        points |= {math.sqrt(nx2 / n) for nx2 in (0.1, 0.5, 0.75, 0.76, 1, 2, 2.19, 2.21, 4, 4.1, 10, 18, 50, 369, 371)}
        for x in sorted(float(p) for p in points if 0 <= p <= 1):
            cases.add("kolmogorovSmirnovSurvival", [x, n], {"value": stats.kstwo.sf(x, n)}, f"n={n} x={x}")
    # chi2.sf: series, continued fraction, Temme's expansion, small x; tails down to 1e-300.
    for df in (1, 2, 3, 4, 5, 7, 10, 15, 30, 41, 45, 60, 99, 100, 250, 399, 401, 600, 1000, 5000, 20000):
        quantiles = [stats.chi2.isf(q, df) for q in (1e-300, 1e-100, 1e-20, 1e-12, 1e-9, 1e-6, 1e-3, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999)]
        for x in [*quantiles, 0.0, 1e-8, 0.01, 0.3, 0.6, 1.0, 2.2, 5.0]:
            cases.add("chiSquaredSurvival", [float(x), df], {"value": stats.chi2.sf(x, df)}, f"df={df} x={x}")
    for x in (*np.linspace(-40, 40, 161), 0.5, -0.5, 1.41, -1.42, 8.5, -8.5):
        cases.add("normalCdf", [float(x)], {"value": stats.norm.cdf(x)}, f"x={x}")


def categorical_cases(cases: Cases, rng: np.random.Generator) -> None:
    for trial in range(60):
        k = int(rng.integers(2, 60))
        reference = rng.multinomial(int(rng.integers(20, 3000)), rng.dirichlet(np.ones(k)))
        shares = rng.dirichlet(np.ones(k)) if trial % 3 == 0 else reference / reference.sum()
        observed = rng.multinomial(int(rng.integers(20, 3000)), shares)
        expected = reference * (observed.sum() / reference.sum())
        if np.any(expected == 0):
            expected = np.where(expected == 0, 0.5, expected)
            expected = expected * (observed.sum() / expected.sum())
        result = stats.chisquare(observed, expected)
        cases.add("chisquare", [observed, expected], {"statistic": result.statistic, "pValue": result.pvalue}, f"k={k}")
    # Large tables push the p-value far into the tail and the degrees of freedom into Temme's regime.
    for k in (50, 150, 400):
        observed = rng.multinomial(20000, rng.dirichlet(np.ones(k)))
        expected = np.full(k, 20000 / k)
        result = stats.chisquare(observed, expected)
        cases.add("chisquare", [observed, expected], {"statistic": result.statistic, "pValue": result.pvalue}, f"tail k={k}")
    tables = [[[10, 20], [30, 40]], [[0, 5], [5, 0]], [[1, 0], [0, 1]], [[12, 3, 9, 4]], [[5], [7], [9]]]
    for _ in range(40):
        rows, columns = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        table = rng.integers(1, 200, size=(rows, columns))
        if rng.random() < 0.3:
            table = table + rng.integers(0, 2000, size=(rows, 1)) * (np.arange(columns) == 0)
        tables.append(table.tolist())
    for _ in range(20):
        tables.append(rng.integers(0, 60, size=(2, 2)).tolist())
    for table in tables:
        if np.any(stats.contingency.expected_freq(np.asarray(table)) == 0):
            continue
        result = stats.chi2_contingency(table)
        cases.add(
            "chi2Contingency",
            [table],
            {"statistic": result.statistic, "pValue": result.pvalue, "dof": result.dof},
            f"{np.shape(table)}",
        )
    for _ in range(40):
        k = int(rng.integers(2, 40))
        p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
        p[rng.random(k) < 0.2] = 0.0
        q[rng.random(k) < 0.2] = 0.0
        p[0] += 0.1
        q[-1] += 0.1
        if rng.random() < 0.5:
            p, q = p * 37.0, q * 0.25  # unnormalised: jensenshannon normalises
        cases.add("jensenShannon", [p, q], {"value": distance.jensenshannon(p, q)}, f"k={k}")
        cases.add("jensenShannon", [p, q, 2], {"value": distance.jensenshannon(p, q, 2)}, f"k={k} base 2")


def numeric_cases(cases: Cases, rng: np.random.Generator) -> None:
    for size_u, size_v in ((1, 1), (1, 7), (5, 5), (30, 70), (500, 400), (5000, 8000)):
        for kind in ("normal", "ties", "few"):
            u, v = sample(rng, kind, size_u), sample(rng, kind, size_v, 0.7)
            cases.add("wassersteinDistance", [u, v], {"value": stats.wasserstein_distance(u, v)}, f"{kind} {size_u}x{size_v}")
    for size in (1, 2, 9, 100, 1000, 20000):
        for kind in ("normal", "uniform", "ties", "few"):
            values = sample(rng, kind, size) * 13.7 + 2.0
            cases.add("std", [values], {"value": np.std(values)}, f"{kind} {size}")
            for bins in (1, 3, 10, 30):
                edges = np.histogram_bin_edges(values, bins=bins)
                cases.add("histogramBinEdges", [values, bins], {"value": edges}, f"{kind} {size} bins={bins}")
            edges = np.histogram_bin_edges(values, bins="sturges")
            cases.add("histogramBinEdges", [values, "sturges"], {"value": edges}, f"{kind} {size} sturges")
            other = sample(rng, kind, max(size // 2, 1), 0.3) * 13.7 + 2.0
            counts = np.histogram(other, bins=edges)[0]
            cases.add("histogram", [other, edges], {"value": counts}, f"{kind} {size}")
    for values in (rng.integers(0, 4, 100), rng.integers(-3, 40, 5000), np.array([7, 7, 7])):
        edges = np.histogram_bin_edges(values, bins="sturges")
        cases.add("histogramBinEdges", [values, "sturges", {"integers": True}], {"value": edges}, f"integers {len(values)}")


# --- Evidently's rules, written out on pandas/NumPy/SciPy ---------------------------------------------------

THRESHOLDS = {"ks": 0.05, "chisquare": 0.05, "z": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1}


def evidently_default(kind: str, reference: pd.Series, current: pd.Series) -> str:
    n_values = pd.concat([reference, current]).nunique()
    if reference.shape[0] <= 1000:
        if kind == "numerical" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numerical" and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def evidently_binned(kind: str, reference: pd.Series, current: pd.Series, fill_zeros: bool):
    if kind == "numerical" and reference.nunique() > 20:
        bins = np.histogram_bin_edges(pd.concat([reference, current], axis=0).values, bins="sturges")
        reference_percents = np.histogram(reference, bins)[0] / len(reference)
        current_percents = np.histogram(current, bins)[0] / len(current)
    else:
        keys = list(set(reference.dropna().unique()) | set(current.dropna().unique()))
        reference_counts = {**dict.fromkeys(keys, 0), **dict(reference.value_counts())}
        current_counts = {**dict.fromkeys(keys, 0), **dict(current.value_counts())}
        reference_percents = np.array([reference_counts[key] / len(reference) for key in keys])
        current_percents = np.array([current_counts[key] / len(current) for key in keys])
    if fill_zeros:
        for percents in (reference_percents, current_percents):
            smallest = min(percents[percents != 0])
            np.place(percents, percents == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return reference_percents, current_percents


def evidently_score(method: str, kind: str, reference: pd.Series, current: pd.Series, threshold: float):
    if method == "ks":
        p = stats.ks_2samp(reference, current)[1]
        return p, p <= threshold
    if method == "wasserstein":
        value = stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)
        return value, value >= threshold
    if method == "chisquare":
        keys = list(set(reference.unique()) | set(current.unique()))
        reference_counts = {**dict.fromkeys(keys, 0), **dict(reference.value_counts())}
        current_counts = {**dict.fromkeys(keys, 0), **dict(current.value_counts())}
        k_norm = current.shape[0] / reference.shape[0]
        p = stats.chisquare([current_counts[key] for key in keys], [reference_counts[key] * k_norm for key in keys])[1]
        return p, p < threshold
    if method == "z":
        if reference.nunique() == 1 and current.nunique() == 1 and reference.unique()[0] == current.unique()[0]:
            return 1, 1 < threshold
        first = sorted(set(reference.unique()) | set(current.unique()))[0]
        ref, cur = (reference != first).astype(int), (current != first).astype(int)
        n1, n2 = len(ref), len(cur)
        p1, p2 = float(sum(ref)) / n1, float(sum(cur)) / n2
        pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        p = 2 * (1 - stats.norm.cdf(np.abs(z)))
        return p, p < threshold
    if method == "jensenshannon":
        value = distance.jensenshannon(*evidently_binned(kind, reference, current, False))
        return value, value >= threshold
    reference_percents, current_percents = evidently_binned(kind, reference, current, True)
    value = np.sum((reference_percents - current_percents) * np.log(reference_percents / current_percents))
    return value, value >= threshold


def evidently_drift(kind, reference, current, method=None, threshold=None) -> dict:
    reference = pd.Series(reference).replace([np.inf, -np.inf], np.nan).dropna()
    current = pd.Series(current).replace([np.inf, -np.inf], np.nan).dropna()
    method = method or evidently_default(kind, reference, current)
    threshold = THRESHOLDS[method] if threshold is None else threshold
    statistic, drifted = evidently_score(method, kind, reference, current, threshold)
    return {"method": method, "statistic": statistic, "threshold": threshold, "drifted": bool(drifted)}


def rule_cases(cases: Cases, rng: np.random.Generator) -> None:
    def add(kind, reference, current, label, **options):
        expected = evidently_drift(kind, reference, current, options.get("method"), options.get("threshold"))
        args = [kind, list(reference), list(current)] + ([options] if options else [])
        cases.add("featureDrift", args, expected, label)

    def with_gaps(values):
        values = list(values)
        for i in rng.choice(len(values), size=max(1, len(values) // 50), replace=False):
            values[i] = [None, float("nan"), float("inf"), float("-inf")][int(i) % 4]
        return values

    for size in (300, 1000, 1001, 4000):
        for shift in (0.0, 0.05, 0.3):
            add("numerical", rng.normal(0, 1, size), rng.normal(shift, 1, size // 2 + 7), f"continuous {size} +{shift}")
            add("numerical", with_gaps(rng.normal(0, 2, size)), with_gaps(rng.normal(shift, 2, size)), f"gaps {size} +{shift}")
            add("numerical", rng.integers(0, 5, size), rng.integers(0, 5, size) + (shift > 0.2), f"five values {size} +{shift}")
            add("numerical", rng.integers(0, 2, size), (rng.random(size) < 0.5 + shift).astype(int), f"two values {size} +{shift}")
            letters = np.array(list("abcdefg"))
            add("categorical", letters[rng.integers(0, 7, size)], letters[rng.integers(0, 7 - int(shift * 10), size)], f"letters {size} +{shift}")
            add("categorical", rng.choice(["yes", "no"], size), rng.choice(["yes", "no"], size, p=[0.5 + shift, 0.5 - shift]), f"binary {size} +{shift}")
    add("categorical", ["a"] * 50, ["a"] * 70, "one shared value (z-test answers 1)")
    add("categorical", ["a", "b", "c"] * 20, ["a", "b", "c", "d"] * 20, "a category only in current")
    add("numerical", np.full(500, 3.0), rng.normal(3, 0.01, 2000), "constant reference", method="wasserstein")
    # A share at most 1e-4 changes how PSI fills empty bins: min(share) / 1e6 instead of 1e-4.
    rare, new = ["common"] * 19999 + ["rare"], ["common"] * 5000 + ["new"] * 3
    add("categorical", rare, new, "psi with a rare category", method="psi")
    for size in (200, 3000):
        reference, current = rng.normal(0, 1, size), rng.normal(0.2, 1.1, size)
        for method in ("ks", "wasserstein", "jensenshannon", "psi"):
            add("numerical", reference, current, f"forced {method} {size}", method=method)
        add("numerical", reference, current, f"forced psi {size} threshold", method="psi", threshold=0.01)
        add("numerical", rng.integers(0, 12, size), rng.integers(0, 14, size), f"psi by value {size}", method="psi")
        words = np.array(["red", "green", "blue", "cyan", "teal"])
        for method in ("chisquare", "z", "jensenshannon", "psi"):
            add("categorical", words[rng.integers(0, 5, size)], words[rng.integers(0, 4, size)], f"forced {method} {size}", method=method)
    add("numerical", rng.normal(0, 1, 800), rng.normal(0, 1, 900), "ks with a loose threshold", method="ks", threshold=0.9)


@pytest.fixture(scope="module")
def answered() -> list[tuple[str, dict, dict]]:
    """Every case with SciPy's answer and Slipway's, computed in one node process."""
    assert MODULE.exists(), f"{MODULE.relative_to(REPO_ROOT)} is missing: run `make build` (npx tsc -p tsconfig.build.json) first"
    rng = np.random.default_rng(20240611)
    cases = Cases()
    # SciPy warns about what the cases aim at: its exact KS giving up, chi-square with an expected count of 0.
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for generate in (ks_cases, distribution_cases, categorical_cases, numeric_cases, rule_cases):
            generate(cases, rng)
    completed = subprocess.run(
        ["node", "--input-type=module", "-e", RUNNER],
        input=json.dumps(cases.calls, allow_nan=False),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        env={**os.environ, "DRIFT_MODULE": str(MODULE)},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    answers = decode(json.loads(completed.stdout))
    assert len(answers) == len(cases.calls)
    return list(zip(cases.names, cases.expected, answers))


def close(actual: float, expected: float) -> bool:
    """Within 1e-9 absolute; below 1e-9 also within 1e-6 relative. NaN only matches NaN."""
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if math.isinf(expected) or math.isinf(actual):
        return actual == expected
    if abs(actual - expected) > ABSOLUTE_TOLERANCE:
        return False
    return abs(expected) >= TINY_P or abs(actual - expected) <= RELATIVE_TOLERANCE * abs(expected)


def compare(answered, function: str, fields: tuple[str, ...]) -> dict[str, float]:
    """Asserts every case of `function`; returns the largest absolute difference per field."""
    largest: dict[str, float] = defaultdict(float)
    failures = []
    checked = 0
    for name, expected, answer in answered:
        if not name.startswith(function + " ") and name != function:
            continue
        checked += 1
        if "error" in answer:
            failures.append(f"{name}: threw {answer['error']}")
            continue
        for field in fields:
            want = expected[field]
            got = answer["ok"] if field == "value" else answer["ok"][field]
            for w, g in zip(np.ravel(want), np.ravel(got)) if np.ndim(want) else [(want, got)]:
                w, g = float(w), float(g)
                if math.isfinite(w) and math.isfinite(g):
                    largest[field] = max(largest[field], abs(w - g))
                if not close(g, w):
                    failures.append(f"{name}: {field} = {g!r}, SciPy/NumPy says {w!r}")
            if np.ndim(want) and np.shape(want) != np.shape(got):
                failures.append(f"{name}: {field} has shape {np.shape(got)}, expected {np.shape(want)}")
    assert checked > 0, f"no case exercised {function}"
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} mismatches)"
    print(f"{function}: {checked} cases, largest absolute difference {dict(largest)}")
    return dict(largest)


def test_ks_2samp_matches_scipy(answered):
    compare(answered, "ks2samp", ("statistic", "pValue"))


def test_ks_2samp_covers_exact_asymptotic_and_the_fallback(answered):
    methods = defaultdict(int)
    for name, _, answer in answered:
        if name.startswith("ks2samp "):
            methods[("fallback " if "fallback" in name else "") + answer["ok"]["method"]] += 1
    assert methods["exact"] > 100 and methods["asymp"] > 50 and methods["fallback asymp"] == 4, dict(methods)


def test_kstwo_survival_matches_scipy(answered):
    compare(answered, "kolmogorovSmirnovSurvival", ("value",))


def test_chi2_survival_matches_scipy_far_into_the_tail(answered):
    compare(answered, "chiSquaredSurvival", ("value",))


def test_normal_cdf_matches_scipy(answered):
    compare(answered, "normalCdf", ("value",))


def test_chisquare_matches_scipy(answered):
    compare(answered, "chisquare", ("statistic", "pValue"))


def test_chi2_contingency_matches_scipy(answered):
    compare(answered, "chi2Contingency", ("statistic", "pValue", "dof"))


def test_jensenshannon_matches_scipy(answered):
    compare(answered, "jensenShannon", ("value",))


def test_wasserstein_distance_matches_scipy(answered):
    compare(answered, "wassersteinDistance", ("value",))


def test_numpy_std_histogram_and_bin_edges(answered):
    compare(answered, "std", ("value",))
    compare(answered, "histogramBinEdges", ("value",))
    compare(answered, "histogram", ("value",))


def test_feature_drift_follows_evidently(answered):
    compare(answered, "featureDrift", ("statistic", "threshold"))
    mismatched = [
        f"{name}: {answer['ok']['method']} drifted={answer['ok']['drifted']}, Evidently: {expected['method']} drifted={expected['drifted']}"
        for name, expected, answer in answered
        if name.startswith("featureDrift ")
        and (answer["ok"]["method"] != expected["method"] or answer["ok"]["drifted"] != expected["drifted"])
    ]
    assert not mismatched, "\n".join(mismatched)


def test_feature_drift_uses_every_default_method(answered):
    chosen = {answer["ok"]["method"] for name, _, answer in answered if name.startswith("featureDrift ") and "forced" not in name}
    assert chosen >= {"ks", "chisquare", "z", "wasserstein", "jensenshannon"}, chosen
