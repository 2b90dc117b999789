"""Committed fixtures must be exactly what their scripts produce (no server needed).

The fixture scripts pin every version and seed, so their output is compared byte for
byte. The example model is compared by its predictions instead: its bytes depend on
the exporter version, its behaviour must not.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from support import (
    FIXTURE_MODELS,
    MAKE_MALICIOUS_SCRIPT,
    MAKE_MODELS_SCRIPT,
    MALICIOUS_MODELS,
    PENGUIN_TRAIN_SCRIPT,
    REPO_ROOT,
    load_script,
)

REASONS = {
    "PARSE_ERROR",
    "MISSING_GRAPH",
    "IR_VERSION",
    "OPERATOR_DOMAIN",
    "EXTERNAL_DATA",
    "SUBGRAPH_DEPTH",
    "FUNCTION_RECURSION",
    "TENSOR_SIZE",
    "RAW_DATA_SIZE",
}


def run(script: Path, *args: str) -> None:
    subprocess.run([sys.executable, str(script), *args], check=True, cwd=REPO_ROOT, stdout=subprocess.DEVNULL)


def files_in(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def assert_same_files(committed: Path, regenerated: Path) -> None:
    expected, actual = files_in(committed), files_in(regenerated)
    assert sorted(actual) == sorted(expected), "the script writes a different set of files than is committed"
    drifted = [name for name in expected if expected[name] != actual[name]]
    assert not drifted, f"committed files differ from their script's output: {drifted}"


def test_fixture_models_regenerate_byte_for_byte(tmp_path):
    run(MAKE_MODELS_SCRIPT, "--out", str(tmp_path), "--no-timing")
    assert_same_files(FIXTURE_MODELS, tmp_path)


def test_malicious_corpus_regenerates_byte_for_byte(tmp_path):
    run(MAKE_MALICIOUS_SCRIPT, "--out", str(tmp_path))
    assert_same_files(MALICIOUS_MODELS, tmp_path)


def test_malicious_corpus_is_fully_described():
    expected = json.loads((MALICIOUS_MODELS / "expected.json").read_text(encoding="utf-8"))
    described = [entry["file"] for entry in expected]
    on_disk = sorted(name for name in files_in(MALICIOUS_MODELS) if name != "expected.json")
    assert sorted(described) == on_disk
    assert len(described) >= 14
    for entry in expected:
        assert entry["code"] == "INVALID_MODEL", entry
        assert entry["reason"] in REASONS, entry
        assert entry["why"].strip(), entry
    assert {entry["reason"] for entry in expected} == REASONS, "every static validation reason has a case"


def test_slow_model_takes_over_a_second_per_call():
    """Timeout and drain tests rely on slow.onnx being slow even on a fast core: their deadlines are
    400 ms, so a call must take well over that (the bound sits far from the failure it guards)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        str(FIXTURE_MODELS / "slow.onnx"), options, providers=["CPUExecutionProvider"]
    )
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    start = time.perf_counter()
    (y,) = session.run(["y"], {"x": x})
    elapsed = time.perf_counter() - start
    assert np.array_equal(y, x)
    assert elapsed >= 1.0, f"slow.onnx took only {elapsed:.2f} s"


def penguin_predictions(model: Path, features) -> tuple[np.ndarray, np.ndarray]:
    train = load_script(PENGUIN_TRAIN_SCRIPT)
    return train.run_onnx(model.read_bytes(), features)


def test_example_model_retrains_to_the_same_predictions(tmp_path):
    committed = REPO_ROOT / "examples" / "penguin-species"
    run(PENGUIN_TRAIN_SCRIPT, "--out", str(tmp_path))
    train = load_script(PENGUIN_TRAIN_SCRIPT)
    features, _ = train.load_penguins(train.DEFAULT_DATA)

    expected_labels, expected_probabilities = penguin_predictions(committed / "model.onnx", features)
    labels, probabilities = penguin_predictions(tmp_path / "model.onnx", features)
    assert np.array_equal(labels, expected_labels)
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-5, rtol=0)

    expected_manifest = json.loads((committed / "manifest.json").read_text(encoding="utf-8"))
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    for key in ("model", "task", "labels", "inputs", "sample", "lineage"):
        assert manifest[key] == expected_manifest[key], key
    for metric, value in expected_manifest["metrics"].items():
        assert manifest["metrics"][metric] == pytest.approx(value, abs=5e-3), metric
