"""The MLflow 2.x client (pinned in requirements-mlflow2.txt, run in .venv-mlflow2) against Slipway.

MLflow 2 logs a model inside its run's artifacts and records it with ``runs/log-model``
instead of MLflow 3's logged-model API, then registers ``mlflow-artifacts:/<exp>/<run>/
artifacts/model``. The version it registers is a Slipway version like any other.
"""

from __future__ import annotations

import onnx
import pytest
import requests

from support import REPO_ROOT

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402

MODEL = "penguin-species-mlflow2"
MODEL_FILE = REPO_ROOT / "examples" / "penguin-species" / "model.onnx"


def test_the_2x_client_tracks_registers_and_loads(slipway, monkeypatch, tmp_path):
    assert mlflow.__version__.startswith("2."), "run this file with the MLflow 2.x venv (.venv-mlflow2)"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(slipway.base_url)
    client = MlflowClient(slipway.base_url)
    mlflow.set_experiment("penguins-2x")
    original = onnx.load(str(MODEL_FILE))
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        for step, loss in enumerate([0.9, 0.4]):
            mlflow.log_metric("loss", loss, step=step)
        info = mlflow.onnx.log_model(original, artifact_path="model", registered_model_name=MODEL)

    stored = client.get_run(run.info.run_id)
    assert stored.data.params == {"C": "1.0"}
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [(0, 0.9), (1, 0.4)]
    assert "mlflow.log-model.history" in stored.data.tags

    version = client.get_latest_versions(MODEL)[0]
    assert version.source == f"{stored.info.artifact_uri}/model"
    assert version.run_id == run.info.run_id
    client.set_registered_model_alias(MODEL, "champion", version.version)
    assert client.get_model_version_by_alias(MODEL, "champion").version == version.version
    loaded = mlflow.onnx.load_model(f"models:/{MODEL}@champion")
    assert loaded.graph.SerializeToString() == original.graph.SerializeToString()
    assert info.model_uri == f"runs:/{run.info.run_id}/model"

    pushed = requests.get(f"{slipway.base_url}/api/v1/models/{MODEL}/versions/{version.version}", timeout=30)
    assert pushed.json()["status"] == "READY" and pushed.json()["servable"] is True
