"""Slipway speaks the Open Inference Protocol well enough for NVIDIA's own client.

tritonclient.http is used exactly as against a Triton server: with JSON tensors
(binary_data=False), with the binary tensor data extension (binary_data=True, the
client's default for outputs), and for the model configuration.
"""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton

from support import FIXTURE_MODELS, TOLERANCE, json_value

MODEL = "penguin-species"
FLOAT_INPUTS = {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"}
# The batch limit Slipway reports for models whose every tensor starts with a dynamic dimension.
MAX_BATCH_SIZE = 1024


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


@pytest.fixture(scope="module")
def fixtures(client):
    """int64-argmax.onnx (INT64 outputs) and strings.onnx (BYTES in and out), served."""
    for name, file in (("tc-argmax", "int64-argmax.onnx"), ("tc-strings", "strings.onnx")):
        client.ensure_model(name, f"tritonclient interop: {file}")
        response = client.push_version(name, (FIXTURE_MODELS / file).read_bytes())
        assert response.status_code == 201, response.text


def penguin_inputs(frame, binary_data: bool) -> list:
    rows = len(frame)
    inputs = []
    for name in frame.columns:
        if name in FLOAT_INPUTS:
            tensor = triton.InferInput(name, [rows, 1], "FP32")
            values = frame[name].to_numpy(np.float32)
        else:
            tensor = triton.InferInput(name, [rows, 1], "BYTES")
            values = frame[name].to_numpy(object)
        tensor.set_data_from_numpy(values.reshape(rows, 1), binary_data=binary_data)
        inputs.append(tensor)
    return inputs


def infer(triton_client, model, inputs, outputs, binary_data):
    """Runs one request; every output comes back binary or JSON as asked, and is returned by name."""
    requested = [triton.InferRequestedOutput(name, binary_data=binary_data) for name in outputs]
    result = triton_client.infer(model, inputs, outputs=requested)
    response = result.get_response()
    for output in response["outputs"]:
        assert ("parameters" in output) == binary_data, output
        assert ("data" in output) != binary_data, output
    return {name: result.as_numpy(name) for name in outputs}


def text(values) -> list[str]:
    return [value.decode() if isinstance(value, bytes) else value for value in values.ravel()]


def test_model_config(triton_client, penguin_species, penguin_example):
    config = triton_client.get_model_config(MODEL)
    assert config["name"] == MODEL
    assert config["platform"] == "onnxruntime_onnx"
    assert config["max_batch_size"] == MAX_BATCH_SIZE
    assert [tensor["name"] for tensor in config["input"]] == penguin_example.inputs
    for tensor in config["input"]:
        expected = "TYPE_FP32" if tensor["name"] in FLOAT_INPUTS else "TYPE_STRING"
        assert (tensor["data_type"], tensor["dims"]) == (expected, [1]), tensor
    assert {tensor["name"]: tensor["dims"] for tensor in config["output"]} == {"label": [], "probabilities": [3]}
    # Requests are merged by default (SLIPWAY_MAX_BATCH_SIZE 256, no added delay).
    assert config["dynamic_batching"] == {"max_queue_delay_microseconds": 0, "preferred_batch_size": [256]}
    assert triton_client.get_model_config(MODEL, model_version="1") == config
    assert "binary_tensor_data" in triton_client.get_server_metadata()["extensions"]


def test_binary_tensors_match_json_and_scikit_learn(triton_client, penguin_species, penguin_example):
    frame = penguin_example.features.dropna()
    json = infer(triton_client, MODEL, penguin_inputs(frame, False), ["label", "probabilities"], False)
    binary = infer(triton_client, MODEL, penguin_inputs(frame, True), ["label", "probabilities"], True)
    np.testing.assert_array_equal(binary["probabilities"], json["probabilities"])
    assert text(binary["label"]) == text(json["label"])
    np.testing.assert_allclose(
        binary["probabilities"], penguin_example.pipeline.predict_proba(frame), atol=TOLERANCE, rtol=0
    )


def test_binary_tensors_carry_missing_values(triton_client, penguin_species, penguin_example):
    # Binary FP32 can hold NaN, which JSON cannot: every row goes in, missing measurements
    # included, and the answers equal scikit-learn's on the same rows.
    frame = penguin_example.features
    assert frame[list(FLOAT_INPUTS)].isna().any(axis=None)
    binary = infer(triton_client, MODEL, penguin_inputs(frame, True), ["label", "probabilities"], True)
    np.testing.assert_allclose(
        binary["probabilities"], penguin_example.pipeline.predict_proba(frame), atol=TOLERANCE, rtol=0
    )
    assert text(binary["label"]) == list(penguin_example.pipeline.predict(frame))


def test_binary_int64_outputs(triton_client, fixtures):
    x = np.array([[1, 5, 2], [9, 0, 3], [-1, -2, -0.5]], dtype=np.float32)
    answers = {}
    for binary_data in (False, True):
        tensor = triton.InferInput("x", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary_data)
        answers[binary_data] = infer(triton_client, "tc-argmax", [tensor], ["index", "max"], binary_data)
    assert answers[True]["index"].dtype == np.int64
    np.testing.assert_array_equal(answers[True]["index"], x.argmax(axis=1))
    np.testing.assert_array_equal(answers[True]["index"], answers[False]["index"])
    np.testing.assert_array_equal(answers[True]["max"], answers[False]["max"])


def test_binary_strings(triton_client, fixtures):
    words = np.array(["abc", "Zürich", "", "mixed Case ✓"], dtype=object)
    answers = {}
    for binary_data in (False, True):
        tensor = triton.InferInput("text", [len(words)], "BYTES")
        tensor.set_data_from_numpy(words, binary_data=binary_data)
        answers[binary_data] = infer(triton_client, "tc-strings", [tensor], ["upper"], binary_data)
    assert text(answers[True]["upper"]) == text(answers[False]["upper"]) == [w.upper() for w in words]


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
