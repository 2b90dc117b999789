"""Slipway speaks the Open Inference Protocol well enough for NVIDIA's own client.

tritonclient.http is used exactly as against a Triton server, with JSON tensors
(binary_data=False, since Slipway does not implement the binary tensor extension).
"""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton

from support import TOLERANCE, json_value

MODEL = "penguin-species"
FLOAT_INPUTS = {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"}


@pytest.fixture(scope="module")
def triton_client(slipway):
    client = triton.InferenceServerClient(url=f"{slipway.host}:{slipway.port}", network_timeout=60.0)
    yield client
    client.close()


def test_server_is_live(triton_client):
    assert triton_client.is_server_live()


def test_model_metadata(triton_client, penguin_species, penguin_example):
    metadata = triton_client.get_model_metadata(MODEL)
    assert metadata["name"] == MODEL
    assert [tensor["name"] for tensor in metadata["inputs"]] == penguin_example.inputs
    for tensor in metadata["inputs"]:
        assert tensor["datatype"] == ("FP32" if tensor["name"] in FLOAT_INPUTS else "BYTES"), tensor
    outputs = {tensor["name"]: tensor["datatype"] for tensor in metadata["outputs"]}
    assert outputs == {"label": "BYTES", "probabilities": "FP32"}


def test_infer_matches_v1_and_scikit_learn(triton_client, client, penguin_species, penguin_example):
    # JSON tensors cannot carry NaN, so only rows with every measurement; a missing
    # sex is still sent, as the empty string the model treats as unknown.
    frame = penguin_example.features.dropna()
    rows = len(frame)

    inputs = []
    for name in penguin_example.inputs:
        if name in FLOAT_INPUTS:
            tensor = triton.InferInput(name, [rows, 1], "FP32")
            tensor.set_data_from_numpy(frame[name].to_numpy(np.float32).reshape(rows, 1), binary_data=False)
        else:
            tensor = triton.InferInput(name, [rows, 1], "BYTES")
            tensor.set_data_from_numpy(frame[name].to_numpy(object).reshape(rows, 1), binary_data=False)
        inputs.append(tensor)
    outputs = [
        triton.InferRequestedOutput("label", binary_data=False),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = triton_client.infer(MODEL, inputs, outputs=outputs)

    probabilities = result.as_numpy("probabilities")
    labels = result.as_numpy("label")
    assert probabilities.shape == (rows, 3)
    assert labels.shape == (rows,)

    np.testing.assert_allclose(
        probabilities, penguin_example.pipeline.predict_proba(frame), atol=TOLERANCE, rtol=0
    )
    decoded = [label.decode() if isinstance(label, bytes) else label for label in labels]
    assert decoded == list(penguin_example.pipeline.predict(frame))

    instances = [
        {name: json_value(frame.at[row, name]) for name in penguin_example.inputs} for row in frame.index
    ]
    v1 = client.predict_v1(MODEL, instances)
    assert v1.status_code == 200, v1.text
    v1_probabilities = np.array([prediction["probabilities"] for prediction in v1.json()["predictions"]])
    np.testing.assert_allclose(probabilities, v1_probabilities, atol=TOLERANCE, rtol=0)
