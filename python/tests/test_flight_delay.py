"""The batch-scoring example model (examples/flight-delay): its committed files and Slipway serving it.

Retraining takes half a minute, so these tests check the committed model.onnx and
manifest.json instead: the signature a scoring job relies on, the features derived
as DuckDB derives them, the manifest's metrics against a re-score of the holdout
with onnxruntime, and Slipway's V2 answers against onnxruntime's on real flights.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest

from support import REPO_ROOT, TOLERANCE, load_script

EXAMPLE = REPO_ROOT / "examples" / "flight-delay"
MODEL_PATH = EXAMPLE / "model.onnx"
MANIFEST = json.loads((EXAMPLE / "manifest.json").read_text(encoding="utf-8"))
# Metrics are rounded to 4 decimals from scikit-learn's float64 probabilities; the
# re-score uses onnxruntime's float32 ones, which may tip the last decimal.
METRIC_TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def train():
    return load_script(EXAMPLE / "train.py")


@pytest.fixture(scope="module")
def flights(train):
    """(features, labels, departure times) of all 3 million flights."""
    return train.load_flights(train.DEFAULT_DATA)


def test_the_model_takes_one_column_per_input_and_gives_label_and_probabilities():
    graph = onnx.load(MODEL_PATH).graph

    def signature(values):
        return [
            (value.name, value.type.tensor_type.elem_type, [d.dim_value or None for d in value.type.tensor_type.shape.dim])
            for value in values
        ]

    float32, string, int64 = onnx.TensorProto.FLOAT, onnx.TensorProto.STRING, onnx.TensorProto.INT64
    assert signature(graph.input) == [
        ("hour", float32, [None, 1]),
        ("weekday", float32, [None, 1]),
        ("month", float32, [None, 1]),
        ("distance", float32, [None, 1]),
        ("origin", string, [None, 1]),
        ("destination", string, [None, 1]),
    ]
    assert signature(graph.output) == [("label", int64, [None]), ("probabilities", float32, [None, 2])]
    assert [entry["name"] for entry in MANIFEST["inputs"]] == [value.name for value in graph.input]
    assert MANIFEST["labels"] == [0, 1]


def test_features_are_derived_as_duckdb_derives_them(train):
    # 7 January 2001 was a Sunday: DuckDB's dayofweek gives 0, pandas' dayofweek 6.
    raw = pd.DataFrame(
        {
            "date": pd.to_datetime(["2001-01-07 06:05", "2001-01-08 23:59", "2001-06-30 12:00"]),
            "distance": [100, 2000, 300],
            "origin": ["ORD", "LAX", "GST"],
            "destination": ["LAX", "ORD", "JNU"],
        }
    )
    features = train.derive_features(raw)
    assert list(features.columns) == train.INPUTS
    assert features["hour"].tolist() == [6, 23, 12]
    assert features["weekday"].tolist() == [0, 1, 6]
    assert features["month"].tolist() == [1, 1, 6]
    assert features["distance"].tolist() == [100, 2000, 300]


def test_manifest_metrics_match_a_rescore_of_the_holdout(train, flights):
    _, x_test, y_train, y_test = train.split(*flights)
    _, probabilities = train.run_onnx(MODEL_PATH.read_bytes(), x_test)
    rescored = train.holdout_metrics(y_test, probabilities, float(y_train.mean()))

    published = MANIFEST["metrics"]
    assert set(published) == set(rescored)
    assert published["holdout_rows"] == rescored["holdout_rows"] == len(y_test)
    for name, value in rescored.items():
        assert abs(published[name] - value) <= METRIC_TOLERANCE, f"{name}: manifest {published[name]}, re-score {value}"
    # The model is only worth publishing if it beats always predicting the base rate.
    assert published["log_loss"] < published["base_rate_log_loss"]
    assert published["roc_auc"] > 0.6


def test_slipway_serves_it_like_onnxruntime(client, train, flights):
    features, _, _ = flights
    # The manifest's sample (an airport unseen in training among them) and 300 flights spread over the file.
    rows = pd.concat(
        [pd.DataFrame(MANIFEST["sample"]), features.iloc[:: len(features) // 300]], ignore_index=True
    )
    client.ensure_model("flight-delay", MANIFEST["description"])
    pushed = client.push_version("flight-delay", MODEL_PATH.read_bytes(), MANIFEST)
    assert pushed.status_code == 201, pushed.text

    inputs = [
        {
            "name": name,
            "datatype": "BYTES" if name in train.CATEGORICAL else "FP32",
            "shape": [len(rows), 1],
            "data": rows[name].tolist(),
        }
        for name in train.INPUTS
    ]
    response = client.infer_v2("flight-delay", inputs)
    assert response.status_code == 200, response.text
    outputs = {tensor["name"]: tensor for tensor in response.json()["outputs"]}
    assert outputs["label"]["datatype"] == "INT64" and outputs["label"]["shape"] == [len(rows)]
    assert outputs["probabilities"]["shape"] == [len(rows), 2]

    labels, probabilities = train.run_onnx(MODEL_PATH.read_bytes(), rows)
    got = np.asarray(outputs["probabilities"]["data"], dtype=np.float64).reshape(len(rows), 2)
    np.testing.assert_allclose(got, probabilities, atol=TOLERANCE, rtol=0)
    assert outputs["label"]["data"] == labels.tolist()
    assert set(labels.tolist()) == {0, 1}, "the rows should include both on-time and delayed predictions"
