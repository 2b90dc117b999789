"""Slipway's Open Inference Protocol over gRPC, driven by NVIDIA's own tritonclient.grpc.

The same requests go over HTTP (JSON) and over gRPC; the numbers must be the same. Runs in
.venv-grpc (tritonclient[grpc] caps protobuf below the test venv's pin).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from support import FIXTURE_MODELS, REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "penguin-species"
MODEL = "grpc-penguins"
FLOAT_INPUTS = {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"}


@pytest.fixture(scope="module")
def served(client):
    manifest = json.loads((EXAMPLE / "manifest.json").read_text())
    client.ensure_model(MODEL, "tritonclient.grpc interop")
    response = client.push_version(MODEL, (EXAMPLE / "model.onnx").read_bytes(), manifest)
    assert response.status_code == 201, response.text
    client.ensure_model("grpc-strings", "tritonclient.grpc interop: strings")
    response = client.push_version("grpc-strings", (FIXTURE_MODELS / "strings.onnx").read_bytes())
    assert response.status_code == 201, response.text
    return manifest


@pytest.fixture(scope="module")
def grpc_client(slipway):
    client = triton.InferenceServerClient(url=f"{slipway.host}:{slipway.grpc_port}")
    yield client
    client.close()


def rows_of(manifest) -> list[dict]:
    """The manifest's sample rows, with missing measurements filled so JSON and gRPC carry the same values."""
    rows = []
    for row in manifest["sample"]:
        rows.append({k: (v if v is not None else (0.0 if k in FLOAT_INPUTS else "")) for k, v in row.items()})
    return rows


def grpc_inputs(rows: list[dict], names: list[str]) -> list:
    inputs = []
    for name in names:
        if name in FLOAT_INPUTS:
            tensor = triton.InferInput(name, [len(rows), 1], "FP32")
            tensor.set_data_from_numpy(np.array([[r[name]] for r in rows], dtype=np.float32))
        else:
            tensor = triton.InferInput(name, [len(rows), 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[r[name]] for r in rows], dtype=object))
        inputs.append(tensor)
    return inputs


def test_server_health_and_metadata(grpc_client):
    assert grpc_client.is_server_live()
    assert grpc_client.is_server_ready()
    assert grpc_client.get_server_metadata().name == "slipway"


def test_model_metadata_matches_http(grpc_client, client, served):
    metadata = grpc_client.get_model_metadata(MODEL)
    http = client.get(f"/v2/models/{MODEL}").json()
    assert metadata.name == MODEL
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        (t["name"], t["datatype"], t["shape"]) for t in http["inputs"]
    ]
    assert grpc_client.is_model_ready(MODEL)
    config = grpc_client.get_model_config(MODEL).config
    http_config = client.get(f"/v2/models/{MODEL}/config").json()
    assert config.max_batch_size == http_config["max_batch_size"]
    assert [(t.name, list(t.dims)) for t in config.input] == [(t["name"], t["dims"]) for t in http_config["input"]]


def test_same_numbers_as_http(grpc_client, client, served):
    rows = rows_of(served)
    names = list(rows[0].keys())
    result = grpc_client.infer(
        MODEL,
        grpc_inputs(rows, names),
        outputs=[triton.InferRequestedOutput("label"), triton.InferRequestedOutput("probabilities")],
    )
    http_inputs = [
        {
            "name": name,
            "shape": [len(rows), 1],
            "datatype": "FP32" if name in FLOAT_INPUTS else "BYTES",
            "data": [r[name] for r in rows],
        }
        for name in names
    ]
    response = client.infer_v2(MODEL, http_inputs)
    assert response.status_code == 200, response.text
    http = {o["name"]: o["data"] for o in response.json()["outputs"]}
    np.testing.assert_array_equal(
        result.as_numpy("probabilities").ravel(), np.array(http["probabilities"], dtype=np.float32)
    )
    labels = [v.decode() if isinstance(v, bytes) else v for v in result.as_numpy("label").ravel()]
    assert labels == http["label"]
    assert result.get_response().model_version == "1"


def test_strings_round_trip(grpc_client, served):
    words = np.array(["abc", "Zürich", "", "mixed Case ✓"], dtype=object)
    tensor = triton.InferInput("text", [len(words)], "BYTES")
    tensor.set_data_from_numpy(words)
    result = grpc_client.infer("grpc-strings", [tensor])
    assert [w.decode() for w in result.as_numpy("upper")] == [w.upper() for w in words]


def test_errors_carry_slipways_message(grpc_client, served):
    with pytest.raises(InferenceServerException) as refused:
        grpc_client.get_model_metadata("no-such-model")
    assert refused.value.status() == "StatusCode.NOT_FOUND"
    assert "no-such-model" in refused.value.message()
    tensor = triton.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(np.array(["a", "b"], dtype=object))
    with pytest.raises(InferenceServerException) as wrong:
        grpc_client.infer(MODEL, [tensor])
    assert wrong.value.status() == "StatusCode.INVALID_ARGUMENT"
