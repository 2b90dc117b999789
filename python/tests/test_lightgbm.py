"""The second model family: a LightGBM classifier served by Slipway, checked against LightGBM.

The committed fixture tests/fixtures/models/lightgbm-penguins.onnx is pushed as
penguin-lightgbm; the reference is a LightGBM model retrained here with the same
deterministic recipe (python/fixtures/make_models.py), so the comparison is with the
original framework rather than with another ONNX runtime.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from support import FIXTURE_MODELS, MAKE_MODELS_SCRIPT, TOLERANCE, load_script

MODEL = "penguin-lightgbm"


@pytest.fixture(scope="module")
def reference():
    make_models = load_script(MAKE_MODELS_SCRIPT)
    classifier, matrix, _, metrics = make_models.fit_lightgbm_penguins()
    return classifier, matrix, metrics


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((FIXTURE_MODELS / "lightgbm-penguins.manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def deployed(client, manifest) -> dict:
    client.ensure_model(MODEL, manifest["description"])
    response = client.push_version(MODEL, (FIXTURE_MODELS / "lightgbm-penguins.onnx").read_bytes(), manifest)
    assert response.status_code == 201, response.text
    return response.json()


def test_reference_is_the_model_that_was_exported(reference, manifest):
    """Guards the comparison below: the retrained LightGBM model scores what the manifest says."""
    _, _, metrics = reference
    assert metrics == manifest["metrics"]


def test_push_reports_a_single_matrix_input(deployed):
    assert deployed["model"] == MODEL and deployed["status"] == "READY"
    (features,) = deployed["signature"]["inputs"]
    assert features["name"] == "features" and features["datatype"] == "FP32"
    assert features["shape"][-1] == 4
    outputs = {tensor["name"]: tensor for tensor in deployed["signature"]["outputs"]}
    assert outputs["probabilities"]["datatype"] == "FP32"
    assert outputs["label"]["datatype"] == "BYTES"


def test_v2_matches_lightgbm_on_every_complete_row(client, deployed, reference):
    classifier, matrix, _ = reference
    complete = matrix.dropna()  # JSON cannot carry NaN
    rows = len(complete)
    response = client.infer_v2(
        MODEL,
        [
            {
                "name": "features",
                "shape": [rows, 4],
                "datatype": "FP32",
                "data": [float(value) for value in complete.to_numpy().ravel()],
            }
        ],
    )
    assert response.status_code == 200, response.text
    outputs = {tensor["name"]: tensor for tensor in response.json()["outputs"]}

    probabilities = outputs["probabilities"]
    assert probabilities["datatype"] == "FP32" and probabilities["shape"] == [rows, 3]
    got = np.asarray(probabilities["data"], dtype=np.float64).reshape(rows, 3)
    expected = classifier.predict_proba(complete)
    difference = np.abs(got - expected).max(axis=1)
    worst = int(np.argmax(difference))
    assert difference[worst] <= TOLERANCE, (
        f"row {complete.index[worst]}: Slipway {got[worst]} vs LightGBM {expected[worst]}"
    )
    labels = list(np.asarray(outputs["label"]["data"]).ravel())
    assert labels == list(classifier.predict(complete))


def test_v1_answers_the_manifest_sample(client, deployed, reference, manifest):
    classifier, matrix, _ = reference
    sample = manifest["sample"]
    response = client.predict_v1(MODEL, sample)
    assert response.status_code == 200, response.text
    assert response.headers["x-slipway-model-version"] == str(deployed["version"])
    predictions = response.json()["predictions"]

    frame = pd.DataFrame(
        np.array([row["features"] for row in sample], dtype=np.float32), columns=matrix.columns
    )
    expected = classifier.predict_proba(frame)
    got = np.array([prediction["probabilities"] for prediction in predictions], dtype=np.float64)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)
    assert [prediction["label"] for prediction in predictions] == list(classifier.predict(frame))
