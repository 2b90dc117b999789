"""The real MLflow client (pinned in requirements.txt) against Slipway's MLflow REST API.

A data scientist's notebook, unchanged but for MLFLOW_TRACKING_URI: it tracks a run,
logs the penguin model with ``mlflow.onnx.log_model(..., registered_model_name=...)``,
moves an alias, searches, reads a metric history and loads the model back through
``models:/name@alias``. The version it registered is a Slipway version: it serves over
the Open Inference Protocol and answers exactly as the scikit-learn pipeline does.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import pytest
import requests

from support import TOLERANCE, penguin_v2_inputs

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException, RestException  # noqa: E402

MODEL = "penguin-species"
FLOAT_INPUTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


@pytest.fixture(scope="module")
def tracking(slipway, tmp_path_factory):
    """Points the client at Slipway; no retries, so a 5xx fails at once instead of after minutes."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MLFLOW_TRACKING_URI", slipway.base_url)
    patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    patch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    patch.chdir(tmp_path_factory.mktemp("notebook"))
    mlflow.set_tracking_uri(slipway.base_url)
    yield MlflowClient(slipway.base_url)
    patch.undo()


@pytest.fixture(scope="module")
def logged(tracking, penguin_example, tmp_path_factory):
    """The notebook's run: params, metrics with steps, tags, an artifact and the registered model."""
    mlflow.set_experiment("penguins")
    report = tmp_path_factory.mktemp("report") / "report.txt"
    report.write_text("accuracy is fine\n", encoding="utf-8")
    with mlflow.start_run() as run:
        mlflow.log_param("C", 1.0)
        mlflow.log_params({"solver": "lbfgs", "max_iter": 1000})
        for step, loss in enumerate([0.9, 0.5, 0.3, 0.2]):
            mlflow.log_metric("loss", loss, step=step)
        mlflow.log_metrics({"accuracy": 0.98, "f1": 0.97})
        mlflow.set_tag("team", "penguins")
        mlflow.log_artifact(str(report))
        info = mlflow.onnx.log_model(
            onnx.load_from_string(penguin_example.model_bytes),
            name="model",
            registered_model_name=MODEL,
        )
    return run.info.run_id, info


def test_the_run_is_tracked(tracking, logged):
    run_id, _ = logged
    run = tracking.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name
    assert run.data.params == {"C": "1.0", "solver": "lbfgs", "max_iter": "1000"}
    assert run.data.metrics == {"loss": 0.2, "accuracy": 0.98, "f1": 0.97}
    assert run.data.tags["team"] == "penguins"
    assert run.data.tags["mlflow.runName"] == run.info.run_name
    assert [a.path for a in tracking.list_artifacts(run_id)] == ["report.txt"]
    downloaded = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="report.txt")
    assert open(downloaded, encoding="utf-8").read() == "accuracy is fine\n"


def test_metric_history_keeps_every_step(tracking, logged):
    run_id, _ = logged
    history = tracking.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.3), (3, 0.2)]


def test_search_runs_with_a_filter(tracking, logged):
    run_id, _ = logged
    found = mlflow.search_runs(
        experiment_names=["penguins"],
        filter_string="metrics.accuracy > 0.9 AND params.solver = 'lbfgs' AND tags.team LIKE 'pen%'",
        output_format="list",
    )
    assert [r.info.run_id for r in found] == [run_id]
    assert mlflow.search_runs(experiment_names=["penguins"], filter_string="metrics.accuracy < 0.5").empty


def test_the_model_is_registered_and_aliased(tracking, logged):
    run_id, info = logged
    version = str(info.registered_model_version)
    tracking.set_registered_model_alias(MODEL, "champion", version)
    by_alias = tracking.get_model_version_by_alias(MODEL, "champion")
    assert by_alias.version == version
    assert by_alias.run_id == run_id
    assert by_alias.status == "READY"
    assert "champion" in by_alias.aliases
    versions = tracking.search_model_versions(f"name='{MODEL}'")
    assert version in [v.version for v in versions]
    assert all(isinstance(v.version, str) for v in versions)
    models = tracking.search_registered_models(filter_string=f"name = '{MODEL}'")
    assert [m.name for m in models] == [MODEL]
    assert models[0].aliases["champion"] == version


def test_load_model_by_alias_returns_the_same_graph(tracking, logged, penguin_example):
    test_the_model_is_registered_and_aliased(tracking, logged)
    loaded = mlflow.onnx.load_model(f"models:/{MODEL}@champion")
    original = onnx.load_from_string(penguin_example.model_bytes)
    assert loaded.graph.SerializeToString() == original.graph.SerializeToString()


def test_the_registered_version_serves_like_scikit_learn(slipway, tracking, logged, penguin_example):
    _, info = logged
    version = info.registered_model_version
    slipway_version = requests.get(f"{slipway.base_url}/api/v1/models/{MODEL}/versions/{version}", timeout=30)
    assert slipway_version.status_code == 200, slipway_version.text
    assert slipway_version.json()["status"] == "READY"
    assert slipway_version.json()["servable"] is True
    assert slipway_version.json()["sha256"] == hashlib.sha256(penguin_example.model_bytes).hexdigest()

    frame = penguin_example.features.dropna()
    rows = len(frame)
    inputs = penguin_v2_inputs(frame, penguin_example.inputs, FLOAT_INPUTS)
    response = requests.post(
        f"{slipway.base_url}/v2/models/{MODEL}/versions/{version}/infer", json={"inputs": inputs}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-slipway-model-version"] == str(version)
    outputs = {tensor["name"]: tensor for tensor in response.json()["outputs"]}
    probabilities = np.asarray(outputs["probabilities"]["data"], dtype=np.float64).reshape(rows, 3)
    np.testing.assert_allclose(
        probabilities, penguin_example.pipeline.predict_proba(frame), atol=TOLERANCE, rtol=0
    )
    assert list(np.asarray(outputs["label"]["data"]).ravel()) == list(penguin_example.pipeline.predict(frame))


def test_register_model_from_a_run_uri(tracking, logged):
    """MLflow 3 resolves ``runs:/<run>/model`` to the run's logged model; the server resolves its files."""
    run_id, info = logged
    version = mlflow.register_model(f"runs:/{run_id}/model", "penguins-by-run")
    assert version.status == "READY"
    assert version.source == f"models:/{info.model_id}"
    assert version.run_id == run_id
    found = mlflow.search_logged_models(
        experiment_ids=[tracking.get_run(run_id).info.experiment_id], filter_string="name = 'model'", output_format="list"
    )
    assert [m.model_id for m in found] == [info.model_id]
    assert str(found[0].status) == "READY"


def test_a_pushed_version_is_visible_and_loadable(tracking, penguin_species, penguin_example):
    pushed = str(penguin_species["version"])
    versions = {v.version: v for v in tracking.search_model_versions(f"name='{MODEL}'")}
    assert pushed in versions
    assert versions[pushed].source == f"models:/{MODEL}/{pushed}"
    loaded = mlflow.onnx.load_model(f"models:/{MODEL}/{pushed}")
    assert loaded.SerializeToString() == penguin_example.model_bytes


def test_a_pickle_flavor_is_stored_but_not_servable(slipway, tracking, penguin_example):
    sklearn_flavor = pytest.importorskip("mlflow.sklearn")
    mlflow.set_experiment("penguins")
    with mlflow.start_run():
        info = sklearn_flavor.log_model(
            penguin_example.pipeline,
            name="pickled",
            serialization_format="cloudpickle",
            registered_model_name="penguins-pickle",
        )
    version = tracking.get_model_version("penguins-pickle", str(info.registered_model_version))
    assert version.status == "READY"
    assert "not servable" in version.status_message
    stored = requests.get(
        f"{slipway.base_url}/api/v1/models/penguins-pickle/versions/{version.version}", timeout=30
    ).json()
    assert stored["servable"] is False and "sklearn" in stored["unservable_reason"]
    deploy = requests.post(
        f"{slipway.base_url}/api/v1/environments/dev/promotions",
        json={"model": "penguins-pickle", "version": int(version.version)},
        timeout=30,
    )
    assert deploy.status_code == 409, deploy.text
    assert deploy.json()["code"] == "VERSION_NOT_SERVABLE"
    assert deploy.json()["details"]["reason"] == "NOT_SERVABLE"


def test_errors_are_mlflow_errors(tracking):
    with pytest.raises(RestException) as missing:
        tracking.get_registered_model("no-such-model")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as bad_name:
        tracking.create_registered_model("a/b")
    assert bad_name.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(RestException) as bad_filter:
        tracking.search_model_versions("name = 'x' OR name = 'y'")
    assert bad_filter.value.error_code == "INVALID_PARAMETER_VALUE"
    run = tracking.create_run(tracking.get_experiment_by_name("penguins").experiment_id)
    tracking.log_param(run.info.run_id, "lr", "0.1")
    with pytest.raises(MlflowException) as changed:
        tracking.log_param(run.info.run_id, "lr", "0.2")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
