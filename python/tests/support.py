"""Helpers shared by the interop tests: repository paths, module loading and a thin HTTP client."""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
PENGUIN_TRAIN_SCRIPT = REPO_ROOT / "examples" / "penguin-species" / "train.py"
MAKE_MODELS_SCRIPT = REPO_ROOT / "python" / "fixtures" / "make_models.py"
MAKE_MALICIOUS_SCRIPT = REPO_ROOT / "python" / "fixtures" / "make_malicious.py"
FIXTURE_MODELS = REPO_ROOT / "tests" / "fixtures" / "models"
MALICIOUS_MODELS = FIXTURE_MODELS / "malicious"

# Agreement required between Slipway's answers and the training framework's.
TOLERANCE = 1e-5
REQUEST_TIMEOUT = 60


@cache
def load_script(path: Path) -> ModuleType:
    """Import a script that is not on sys.path (its folder name may not be a valid identifier)."""
    name = "slipway_" + path.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class SlipwayClient:
    """The few Slipway endpoints the interop tests speak, returning raw responses."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        # A multipart POST without it is a shape any web page can send; Slipway refuses those.
        self.http.headers["X-Slipway-Client"] = "slipway-python-tests"

    def get(self, path: str) -> requests.Response:
        return self.http.get(self.base_url + path, timeout=REQUEST_TIMEOUT)

    def post_json(self, path: str, body: dict) -> requests.Response:
        return self.http.post(self.base_url + path, json=body, timeout=REQUEST_TIMEOUT)

    def create_model(self, name: str, description: str) -> requests.Response:
        return self.post_json("/api/v1/models", {"name": name, "description": description})

    def ensure_model(self, name: str, description: str) -> None:
        response = self.create_model(name, description)
        if response.status_code == 409:
            assert response.json()["code"] == "ALREADY_EXISTS", response.text
        else:
            assert response.status_code == 201, response.text

    def push_version(self, name: str, model_bytes: bytes, manifest: dict | None = None) -> requests.Response:
        """multipart/form-data: the optional `manifest` text field first, then the `model` file."""
        parts = []
        if manifest is not None:
            parts.append(("manifest", (None, json.dumps(manifest))))
        parts.append(("model", ("model.onnx", model_bytes, "application/octet-stream")))
        return self.http.post(
            f"{self.base_url}/api/v1/models/{name}/versions", files=parts, timeout=REQUEST_TIMEOUT
        )

    def predict_v1(self, name: str, instances: list) -> requests.Response:
        return self.post_json(f"/v1/models/{name}:predict", {"instances": instances})

    def infer_v2(self, name: str, inputs: list[dict]) -> requests.Response:
        return self.post_json(f"/v2/models/{name}/infer", {"inputs": inputs})


def assert_error(response: requests.Response, status: int | None, code: str | None) -> dict:
    """Check Slipway's error envelope; return the parsed body.

    ``status`` None accepts any 4xx; ``code`` None accepts any code.
    """
    if status is None:
        assert 400 <= response.status_code < 500, (
            f"expected a 4xx, got {response.status_code}: {response.text}"
        )
    else:
        assert response.status_code == status, (
            f"expected {status}, got {response.status_code}: {response.text}"
        )
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("request_id"), str) and body["request_id"], body
    assert isinstance(body.get("details", {}), dict), body
    if code is not None:
        assert body["code"] == code, body
    return body


def json_value(value):
    """A feature as Slipway's JSON wants it: NaN and "" (missing) become null."""
    if isinstance(value, str):
        return value or None
    value = float(value)
    return None if value != value else value


def penguin_v2_inputs(frame, names: list[str], float_inputs: list[str]) -> list[dict]:
    """One Open Inference Protocol input per column of the penguin frame: FP32 measurements, BYTES text."""
    rows = len(frame)
    return [
        {
            "name": name,
            "shape": [rows, 1],
            "datatype": "FP32" if name in float_inputs else "BYTES",
            "data": [float(value) if name in float_inputs else str(value) for value in frame[name]],
        }
        for name in names
    ]
