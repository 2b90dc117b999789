"""The committed scikit-learn metric cases must be exactly what their script produces.

tests/unit/metrics.test.ts checks Slipway's metrics against these cases; this test
checks the cases against scikit-learn, by regenerating them and comparing bytes.
"""

from __future__ import annotations

import json
import subprocess
import sys

from support import REPO_ROOT

MAKE_METRIC_CASES_SCRIPT = REPO_ROOT / "python" / "fixtures" / "make_metric_cases.py"
METRIC_CASES = REPO_ROOT / "tests" / "fixtures" / "metrics" / "sklearn-cases.json"

# Every metric src/domain/metrics.ts exports must be exercised by some case.
METRIC_NAMES = {"accuracy", "log_loss", "auc", "rmse", "mae"}


def test_metric_cases_regenerate_byte_for_byte(tmp_path):
    regenerated = tmp_path / "sklearn-cases.json"
    subprocess.run(
        [sys.executable, str(MAKE_METRIC_CASES_SCRIPT), "--out", str(regenerated)],
        check=True,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
    )
    assert regenerated.read_bytes() == METRIC_CASES.read_bytes(), (
        "tests/fixtures/metrics/sklearn-cases.json differs from its script's output; regenerate it with "
        "`.venv/bin/python python/fixtures/make_metric_cases.py` and review the diff"
    )


def test_metric_cases_cover_every_metric():
    cases = json.loads(METRIC_CASES.read_text(encoding="utf-8"))["cases"]
    covered = {metric for case in cases for metric in case["expected"]}
    assert covered == METRIC_NAMES
