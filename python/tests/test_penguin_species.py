"""The demo model through Slipway's KServe V1 and V2 endpoints, checked against scikit-learn.

The model is retrained from examples/penguin-species/train.py for the session, pushed
with its manifest, and asked about every row of the data set, missing values
included. Slipway must agree with the scikit-learn pipeline itself, not merely with
onnxruntime, to within 1e-5.
"""

from __future__ import annotations

import hashlib

import numpy as np

from support import TOLERANCE, json_value, penguin_v2_inputs

FLOAT_INPUTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def instances_of(example) -> list[dict]:
    """Every row as a V1 instance keyed by input name; missing values are sent as null."""
    frame = example.features
    return [{name: json_value(frame.at[row, name]) for name in example.inputs} for row in frame.index]


def test_push_reports_the_version_and_its_signature(penguin_species, penguin_example):
    body = penguin_species
    assert body["model"] == "penguin-species"
    assert isinstance(body["version"], int) and body["version"] >= 1
    assert body["status"] == "READY"
    assert body["sha256"] == hashlib.sha256(penguin_example.model_bytes).hexdigest()
    assert body["size_bytes"] == len(penguin_example.model_bytes)

    inputs = {tensor["name"]: tensor for tensor in body["signature"]["inputs"]}
    assert [tensor["name"] for tensor in body["signature"]["inputs"]] == penguin_example.inputs
    for name in ("island", "sex"):
        assert inputs[name]["datatype"] == "BYTES"
    for name in FLOAT_INPUTS:
        assert inputs[name]["datatype"] == "FP32"
    for tensor in inputs.values():
        assert len(tensor["shape"]) == 2 and tensor["shape"][1] == 1, tensor

    outputs = {tensor["name"]: tensor for tensor in body["signature"]["outputs"]}
    assert set(outputs) == {"label", "probabilities"}
    assert outputs["label"]["datatype"] == "BYTES"
    assert outputs["probabilities"]["datatype"] == "FP32"
    assert outputs["probabilities"]["shape"][-1] == 3


def test_v1_matches_scikit_learn_on_every_row(client, penguin_species, penguin_example):
    instances = instances_of(penguin_example)
    assert any(None in instance.values() for instance in instances), "the data set has missing values"

    response = client.predict_v1("penguin-species", instances)
    assert response.status_code == 200, response.text
    assert response.headers["x-slipway-model-version"] == str(penguin_species["version"])
    predictions = response.json()["predictions"]
    assert len(predictions) == len(instances)

    probabilities = np.array([prediction["probabilities"] for prediction in predictions], dtype=np.float64)
    labels = np.array([prediction["label"] for prediction in predictions], dtype=object)
    expected = penguin_example.pipeline.predict_proba(penguin_example.features)
    assert probabilities.shape == expected.shape

    difference = np.abs(probabilities - expected).max(axis=1)
    worst = int(np.argmax(difference))
    assert difference[worst] <= TOLERANCE, (
        f"row {worst} ({instances[worst]}): Slipway {probabilities[worst]} vs scikit-learn {expected[worst]}"
    )
    mismatched = np.flatnonzero(labels != penguin_example.pipeline.predict(penguin_example.features))
    assert mismatched.size == 0, f"labels differ on rows {mismatched.tolist()}"


def test_v1_accepts_instances_as_arrays_in_input_order(client, penguin_species, penguin_example):
    sample = penguin_example.manifest["sample"]
    as_objects = client.predict_v1("penguin-species", sample)
    as_arrays = client.predict_v1(
        "penguin-species", [[row[name] for name in penguin_example.inputs] for row in sample]
    )
    assert as_objects.status_code == 200, as_objects.text
    assert as_arrays.status_code == 200, as_arrays.text

    for by_name, by_position in zip(
        as_objects.json()["predictions"], as_arrays.json()["predictions"], strict=True
    ):
        assert by_position["label"] == by_name["label"]
        np.testing.assert_allclose(by_position["probabilities"], by_name["probabilities"], atol=1e-6, rtol=0)


def test_v2_metadata_describes_one_input_per_column(client, penguin_species, penguin_example):
    response = client.get("/v2/models/penguin-species")
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert metadata["name"] == "penguin-species"
    datatypes = {tensor["name"]: tensor["datatype"] for tensor in metadata["inputs"]}
    assert datatypes == {
        "island": "BYTES",
        "sex": "BYTES",
        **{name: "FP32" for name in FLOAT_INPUTS},
    }
    outputs = {tensor["name"]: tensor["datatype"] for tensor in metadata["outputs"]}
    assert outputs == {"label": "BYTES", "probabilities": "FP32"}


def test_v2_infer_matches_scikit_learn(client, penguin_species, penguin_example):
    # JSON has no NaN, so V2 (which has no null) gets the rows with every measurement.
    frame = penguin_example.features.dropna()
    rows = len(frame)
    inputs = penguin_v2_inputs(frame, penguin_example.inputs, FLOAT_INPUTS)
    response = client.infer_v2("penguin-species", inputs)
    assert response.status_code == 200, response.text
    outputs = {tensor["name"]: tensor for tensor in response.json()["outputs"]}

    label = outputs["label"]
    assert label["datatype"] == "BYTES" and label["shape"] == [rows]
    probabilities = outputs["probabilities"]
    assert probabilities["datatype"] == "FP32" and probabilities["shape"] == [rows, 3]

    got = np.asarray(probabilities["data"], dtype=np.float64).reshape(rows, 3)
    np.testing.assert_allclose(got, penguin_example.pipeline.predict_proba(frame), atol=TOLERANCE, rtol=0)
    assert list(np.asarray(label["data"]).ravel()) == list(penguin_example.pipeline.predict(frame))
