"""Uploads Slipway must refuse, and the error envelope it refuses them with.

Every file in tests/fixtures/models/malicious/ is pushed and must come back as a 4xx
with the code listed in expected.json and that entry's reason in details.reason,
decided by static validation (nothing in that folder is loadable, and some would be
dangerous to load).
"""

from __future__ import annotations

import json

import pytest

from support import FIXTURE_MODELS, MALICIOUS_MODELS, assert_error

CORPUS = json.loads((MALICIOUS_MODELS / "expected.json").read_text(encoding="utf-8"))
REFUSALS_MODEL = "upload-refusals"


@pytest.fixture(scope="module")
def refusals_model(client) -> str:
    client.ensure_model(REFUSALS_MODEL, "Target for uploads that must be refused.")
    return REFUSALS_MODEL


@pytest.mark.parametrize("entry", CORPUS, ids=[entry["file"] for entry in CORPUS])
def test_malicious_upload_is_refused_with_its_reason(client, refusals_model, entry):
    response = client.push_version(refusals_model, (MALICIOUS_MODELS / entry["file"]).read_bytes())
    body = assert_error(response, None, entry["code"])
    assert body.get("details", {}).get("reason") == entry["reason"], (
        f"{entry['file']} should be refused for {entry['reason']} ({entry['why']}); got {body}"
    )


def test_zipmap_output_is_refused_with_advice(client, refusals_model):
    response = client.push_version(refusals_model, (FIXTURE_MODELS / "zipmap-classifier.onnx").read_bytes())
    body = assert_error(response, None, "UNSUPPORTED_MODEL")
    assert body.get("details", {}).get("reason") == "NON_TENSOR_OUTPUT", body
    assert "zipmap" in body["error"].lower(), (
        f"the message should tell the user to export with zipmap=False: {body}"
    )


def test_refused_uploads_leave_a_working_model_behind(client, refusals_model):
    """A refused upload must not become the served version: the next good one is served."""
    good = client.push_version(refusals_model, (FIXTURE_MODELS / "identity.onnx").read_bytes())
    assert good.status_code == 201, good.text
    response = client.predict_v1(refusals_model, [{"x": [1.0, 2.0, 3.0, 4.0]}])
    assert response.status_code == 200, response.text
    assert response.headers["x-slipway-model-version"] == str(good.json()["version"])
    assert response.json()["predictions"] == [{"y": [1.0, 2.0, 3.0, 4.0]}]


def test_creating_an_existing_model_conflicts(client):
    first = client.create_model("conflict-check", "Created twice on purpose.")
    assert first.status_code == 201, first.text
    second = client.create_model("conflict-check", "Created twice on purpose.")
    assert_error(second, 409, "ALREADY_EXISTS")


def test_unknown_model_is_a_json_404(client):
    assert_error(client.predict_v1("no-such-model", [{"x": [0.0, 0.0, 0.0, 0.0]}]), 404, "MODEL_NOT_FOUND")
    assert_error(client.get("/v2/models/no-such-model"), 404, "MODEL_NOT_FOUND")
