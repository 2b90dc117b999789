"""The Python client (python/sdk) against a real all-in-one Slipway server.

Models pushed by ``Client.push`` must serve what the framework that trained them predicts, on every
row of a held-out set; errors must carry the server's code, message and request id; promotions,
traffic, rollback and batch runs must do what the HTTP API says.
"""

from __future__ import annotations

import datetime
import http.server
import threading
import time

import numpy as np
import pandas as pd
import pytest
import requests

from slipway import Client, SlipwayError
from support import MAKE_MODELS_SCRIPT, PENGUIN_TRAIN_SCRIPT, REPO_ROOT, TOLERANCE, load_script

EXAMPLE_ONNX = REPO_ROOT / "examples" / "penguin-species" / "model.onnx"


@pytest.fixture(scope="module")
def sdk(slipway_all) -> Client:
    with Client(slipway_all.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def penguins():
    """The example's pipeline; its test split plus the rows with missing values: (pipeline, x_test)."""
    train = load_script(PENGUIN_TRAIN_SCRIPT)
    features, labels = train.load_penguins(train.DEFAULT_DATA)
    x_train, x_test, y_train, _ = train.split(features, labels)
    pipeline = train.build_pipeline().fit(x_train, y_train)
    gaps = features[features.isna().any(axis=1) & ~features.index.isin(x_test.index)]
    assert len(gaps) > 0, "the data set should have rows with missing measurements"
    return pipeline, pd.concat([x_test, gaps])


@pytest.fixture(scope="module")
def lightgbm_model():
    """LightGBM on the four measurements as float32: (classifier, x_test)."""
    make_models = load_script(MAKE_MODELS_SCRIPT)
    classifier, matrix, labels, _ = make_models.fit_lightgbm_penguins()
    _, x_test, _, _ = load_script(PENGUIN_TRAIN_SCRIPT).split(matrix, labels)
    return classifier, x_test


@pytest.fixture(scope="module")
def pushed(sdk, penguins) -> dict:
    pipeline, x_test = penguins
    return sdk.push(
        pipeline, name="sdk-penguins", sample=x_test, metrics={"accuracy": 0.99}, tags={"team": "sdk"}
    )


def probabilities(frame: pd.DataFrame) -> np.ndarray:
    return np.array(frame["probabilities"].tolist(), dtype=np.float64)


# --- push and predict -----------------------------------------------------------------------------


def test_pushed_pipeline_serves_scikit_learns_probabilities_on_every_test_row(sdk, penguins, pushed):
    pipeline, x_test = penguins
    assert pushed["status"] == "READY"
    served = sdk.predict("sdk-penguins", x_test, env="dev", version=pushed["version"])
    assert list(served.index) == list(x_test.index)
    assert np.abs(probabilities(served) - pipeline.predict_proba(x_test)).max() <= TOLERANCE
    assert (served["label"].to_numpy() == pipeline.predict(x_test)).all()


def test_push_writes_the_manifest_from_the_model_and_sample(sdk, penguins, pushed):
    pipeline, x_test = penguins
    version = sdk.version("sdk-penguins", pushed["version"])
    assert version["task"] == "classification"
    assert version["signature"]["labels"] == list(pipeline.classes_)
    assert version["metrics"] == {"accuracy": 0.99}
    assert version["tags"]["team"] == "sdk" and version["tags"]["framework"] == "scikit-learn"
    # An input accepts null exactly when the sample showed the model handling missing values there.
    with_gaps = {column for column in x_test.columns if x_test[column].isna().any()}
    assert {entry["name"] for entry in version["inputs"] if entry["nullable"]} == with_gaps
    assert 1 <= len(version["sample"]) <= 10
    assert [tensor["name"] for tensor in version["signature"]["inputs"]] == list(x_test.columns)


def test_predict_sends_missing_values_as_null_and_the_server_judges_them(sdk, penguins, pushed):
    pipeline, x_test = penguins
    row = x_test.iloc[[0]].copy()
    row["bill_length_mm"] = np.nan
    served = sdk.predict("sdk-penguins", row, env="dev")
    assert np.abs(probabilities(served) - pipeline.predict_proba(row)).max() <= TOLERANCE
    row["island"] = None  # island was never missing in the sample: not nullable
    with pytest.raises(SlipwayError) as refused:
        sdk.predict("sdk-penguins", row, env="dev")
    assert (refused.value.code, refused.value.status) == ("INVALID_VALUE", 400)
    assert refused.value.request_id


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda frame: frame.drop(columns=["island"]), "a model input has no column"),
        (lambda frame: frame.assign(body_mass_g=np.inf), "an infinite number"),
        (lambda frame: frame.assign(body_mass_g="heavy"), "text for a float input"),
        (lambda frame: frame.iloc[0:0], "no rows"),
        (lambda frame: frame.to_dict("records"), "not a DataFrame"),
    ],
)
def test_predict_refuses_frames_that_cannot_be_sent(sdk, penguins, pushed, change, reason):
    _, x_test = penguins
    with pytest.raises(SlipwayError) as refused:
        sdk.predict("sdk-penguins", change(x_test.head(3)), env="dev")
    assert refused.value.code == "INVALID_ARGUMENT", reason
    assert refused.value.status is None and refused.value.request_id is None


def test_pushed_lightgbm_serves_lightgbms_probabilities_on_every_test_row(sdk, lightgbm_model):
    classifier, x_test = lightgbm_model
    version = sdk.push(classifier, name="sdk-lightgbm", sample=x_test)
    assert version["tags"]["framework"] == "lightgbm"
    served = sdk.predict("sdk-lightgbm", x_test, env="dev")
    assert np.abs(probabilities(served) - classifier.predict_proba(x_test)).max() <= TOLERANCE
    assert (served["label"].to_numpy() == classifier.predict(x_test)).all()


def test_pushed_xgboost_serves_xgboosts_probabilities_on_every_test_row(sdk, lightgbm_model):
    xgboost = pytest.importorskip("xgboost")
    _, x_test = lightgbm_model
    train = load_script(PENGUIN_TRAIN_SCRIPT)
    features, labels = train.load_penguins(train.DEFAULT_DATA)
    x_train, _, y_train, _ = train.split(features[train.NUMERIC].astype(np.float32), labels)
    codes = {name: code for code, name in enumerate(sorted(labels.unique()))}
    classifier = xgboost.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1, random_state=0)
    classifier.fit(x_train, y_train.map(codes))
    version = sdk.push(classifier, name="sdk-xgboost", sample=x_test)
    assert version["tags"]["framework"] == "xgboost"
    served = sdk.predict("sdk-xgboost", x_test, env="dev")
    assert np.abs(probabilities(served) - classifier.predict_proba(x_test)).max() <= TOLERANCE
    assert (served["label"].to_numpy() == classifier.predict(x_test)).all()


def test_an_onnx_path_or_bytes_is_pushed_as_it_is(sdk, penguins):
    pipeline, x_test = penguins
    from_path = sdk.push(EXAMPLE_ONNX, name="sdk-onnx", sample=x_test, description="from a file")
    from_bytes = sdk.push(EXAMPLE_ONNX.read_bytes(), name="sdk-onnx", sample=x_test)
    assert (from_path["version"], from_bytes["version"]) == (1, 2)
    assert from_path["sha256"] == from_bytes["sha256"] and from_path["description"] == "from a file"
    served = sdk.predict("sdk-onnx", x_test, env="dev", version=1)
    # The example file was trained by the same script, split and seed as the pipeline here.
    assert np.abs(probabilities(served) - pipeline.predict_proba(x_test)).max() <= TOLERANCE


@pytest.mark.parametrize("family", ["scikit-learn", "lightgbm"])
def test_an_export_outside_the_tolerance_is_refused_and_nothing_is_uploaded(
    sdk, penguins, lightgbm_model, family
):
    model, sample = penguins if family == "scikit-learn" else lightgbm_model
    name = f"sdk-mismatch-{family}"
    sdk.create_model(name)
    with pytest.raises(SlipwayError) as refused:
        sdk.push(model, name=name, sample=sample, tolerance=0.0)  # float32 cannot match float64 to the bit
    error = refused.value
    assert error.code == "CONVERSION_MISMATCH" and error.status is None and error.request_id is None
    assert error.details["output"] == "probabilities" and error.details["max_difference"] > 0
    assert error.details["row"] in set(sample.index)
    assert sdk.model(name)["latest_version"] == 0
    # The same model within the default tolerance goes through.
    assert sdk.push(model, name=name, sample=sample)["version"] == 1


@pytest.mark.parametrize(
    ("model", "sample", "reason"),
    [
        (None, "penguins", "no model"),
        (object(), "penguins", "an object that is no known model"),
        (REPO_ROOT / "no-such-model.onnx", "penguins", "a path that is not a file"),
        (b"not onnx", "penguins", "bytes that are not ONNX"),
        ("pipeline", [{"island": "Biscoe"}], "a sample that is not a DataFrame"),
        ("pipeline", "empty", "an empty sample"),
        ("pipeline", "no-island", "a sample without a fitted column"),
    ],
)
def test_push_refuses_what_it_cannot_check_before_any_request(sdk, penguins, model, sample, reason):
    pipeline, x_test = penguins
    model = pipeline if model == "pipeline" else model
    sample = (
        {"penguins": x_test, "empty": x_test.iloc[0:0], "no-island": x_test.drop(columns=["island"])}.get(
            sample, sample
        )
        if isinstance(sample, str)
        else sample
    )
    with pytest.raises(SlipwayError) as refused:
        sdk.push(model, name="sdk-never-created", sample=sample)
    assert refused.value.code == "INVALID_ARGUMENT", reason
    with pytest.raises(SlipwayError) as missing:
        sdk.model("sdk-never-created")
    assert missing.value.code == "MODEL_NOT_FOUND"


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "status", "code"),
    [
        (lambda c: c.model("sdk-no-such-model"), 404, "MODEL_NOT_FOUND"),
        (lambda c: c.create_model("Not A Name"), 400, "INVALID_ARGUMENT"),
        (lambda c: c.create_model("sdk-penguins"), 409, "ALREADY_EXISTS"),
        (lambda c: c.version("sdk-penguins", 999), 404, "VERSION_NOT_FOUND"),
        (lambda c: c.delete_alias("sdk-penguins", "nobody"), 404, "ALIAS_NOT_FOUND"),
        (lambda c: c.promotion("prm_000000000000"), 404, "NOT_FOUND"),
        (lambda c: c.promote("sdk-penguins", 1, "prod", confirm="prod"), 409, "FAILED_PRECONDITION"),
        (lambda c: c.history("sdk-penguins", "nowhere"), 404, "ENVIRONMENT_NOT_FOUND"),
        (lambda c: c.run_job("sdk-no-such-job", "2001-06-30"), 404, "NOT_FOUND"),
        # Path values are sent as one segment: these reach the model route as names, which are refused.
        (lambda c: c.model("sdk-penguins/versions"), 400, "INVALID_ARGUMENT"),
        (lambda c: c.model("sdk-penguins?x=1"), 400, "INVALID_ARGUMENT"),
        (lambda c: c.model("../health"), 400, "INVALID_ARGUMENT"),
    ],
)
def test_server_errors_carry_code_message_status_and_request_id(sdk, pushed, call, status, code):
    with pytest.raises(SlipwayError) as refused:
        call(sdk)
    error = refused.value
    assert (error.code, error.status) == (code, status)
    assert error.message and error.request_id
    assert isinstance(error.details, dict)


def test_the_request_id_is_the_one_the_server_logged(sdk, slipway_all, pushed):
    with pytest.raises(SlipwayError) as refused:
        sdk.set_alias("sdk-penguins", "champion", 999)
    assert refused.value.code == "VERSION_NOT_FOUND"
    url = '"url":"/api/v1/models/sdk-penguins/aliases/champion"'

    def logged() -> list[str]:
        text = slipway_all.stderr_path.read_text(encoding="utf-8")
        return [line for line in text.splitlines() if refused.value.request_id in line]

    # The refusal's "request completed" line is written once the answer has been sent, so it may
    # reach the log a moment after the client has the answer.
    deadline = time.monotonic() + 5
    while not any(url in line for line in logged()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(url in line for line in logged()), logged()


@pytest.mark.parametrize("segment", ["", ".", "..", True, 1.5, None])
def test_a_path_value_that_is_not_a_name_is_refused_before_sending(sdk, segment):
    with pytest.raises(SlipwayError) as refused:
        sdk.model(segment)
    assert refused.value.code == "INVALID_ARGUMENT" and refused.value.status is None


def test_an_unreachable_server_is_unavailable():
    with pytest.raises(SlipwayError) as refused:
        Client("http://127.0.0.1:9", timeout=5).models()
    assert refused.value.code == "UNAVAILABLE" and refused.value.status is None


def test_an_answer_that_is_not_slipways_is_unavailable_with_its_status():
    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html>502 Bad Gateway</html>"
            self.send_response(502)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(SlipwayError) as refused:
            Client(f"http://127.0.0.1:{server.server_port}").model("anything")
    finally:
        server.shutdown()
        server.server_close()
    assert (refused.value.code, refused.value.status) == ("UNAVAILABLE", 502)


@pytest.mark.parametrize(
    "settings",
    [
        {"url": "ftp://127.0.0.1"},
        {"url": "http://user:pw@127.0.0.1:8080"},
        {"url": "http://127.0.0.1:8080/?token=x"},
        {"url": "127.0.0.1:8080"},
        {"token": "two words"},
        {"token": "line\nbreak"},
        {"timeout": 0},
    ],
)
def test_client_settings_are_checked_when_the_client_is_made(settings):
    with pytest.raises(SlipwayError) as refused:
        Client(**{"url": "http://127.0.0.1:8080", **settings})
    assert refused.value.code == "INVALID_ARGUMENT"


def test_the_server_and_token_default_to_the_environment(monkeypatch, slipway_all):
    monkeypatch.setenv("SLIPWAY_SERVER", slipway_all.base_url)
    monkeypatch.setenv("SLIPWAY_TOKEN", "slw_not-a-real-token")
    client = Client()
    assert client.url == slipway_all.base_url and "slw_" not in repr(client)
    # Local mode ignores the token; the request is sent with it and answered.
    assert isinstance(client.models(), list)


# --- aliases, promotions, traffic, rollback -------------------------------------------------------


def test_aliases_point_at_versions(sdk, pushed):
    moved = sdk.set_alias("sdk-penguins", "champion", pushed["version"])
    assert moved["version"] == pushed["version"]
    assert sdk.model("sdk-penguins")["aliases"]["champion"] == pushed["version"]
    assert sdk.delete_alias("sdk-penguins", "champion") is None
    assert "champion" not in sdk.model("sdk-penguins")["aliases"]


def test_promote_approve_then_status_and_history(sdk, penguins):
    pipeline, x_test = penguins
    name = "sdk-promoted"
    version = sdk.push(pipeline, name=name, sample=x_test)["version"]
    staged = sdk.promote(name, version, "staging", reason="nightly retrain")
    assert staged["status"] == "SUCCEEDED" and staged["reason"] == "nightly retrain"

    with pytest.raises(SlipwayError) as unconfirmed:
        sdk.promote(name, version, "prod")
    assert unconfirmed.value.code == "CONFIRMATION_REQUIRED"

    waiting = sdk.promote(name, version, "prod", confirm="prod")
    assert waiting["status"] == "AWAITING_APPROVAL"
    assert sdk.wait_promotion(waiting["id"], timeout=10, poll=0.1)["status"] == "AWAITING_APPROVAL"
    approved = sdk.approve(waiting["id"], reason="looks right")
    assert approved["status"] == "SUCCEEDED" and approved["approval"]["reason"] == "looks right"
    assert sdk.wait_promotion(waiting["id"], timeout=10, poll=0.1)["status"] == "SUCCEEDED"

    (deployment,) = [d for d in sdk.status("prod")["deployments"] if d["model"] == name]
    assert deployment["revision"]["traffic"] == [{"version": version, "percent": 100}]
    assert {d["environment"] for d in sdk.status()["deployments"] if d["model"] == name} == {
        "dev",
        "staging",
        "prod",
    }
    (revision,) = sdk.history(name, "prod")
    assert revision["kind"] == "promotion" and revision["promotion_id"] == waiting["id"]
    served = sdk.predict(name, x_test, env="prod")
    assert np.abs(probabilities(served) - pipeline.predict_proba(x_test)).max() <= TOLERANCE


def test_a_rejected_promotion_changes_nothing(sdk, penguins):
    pipeline, x_test = penguins
    name = "sdk-rejected"
    version = sdk.push(pipeline, name=name, sample=x_test)["version"]
    sdk.promote(name, version, "staging")
    waiting = sdk.promote(name, version, "prod", confirm="prod")
    rejected = sdk.reject(waiting["id"], reason="not this week")
    assert rejected["status"] == "REJECTED"
    assert sdk.promotion(waiting["id"])["status"] == "REJECTED"
    with pytest.raises(SlipwayError) as again:
        sdk.approve(waiting["id"])
    assert again.value.code == "INVALID_TRANSITION"
    assert sdk.history(name, "prod") == []
    assert [d for d in sdk.status("prod")["deployments"] if d["model"] == name] == []


def test_traffic_tags_shadow_and_rollback(sdk, penguins):
    pipeline, x_test = penguins
    name = "sdk-traffic"
    first = sdk.push(pipeline, name=name, sample=x_test)["version"]
    sdk.promote(name, first, "staging")
    second = sdk.push(pipeline, name=name, sample=x_test)["version"]

    split = sdk.traffic(
        name,
        "staging",
        {first: 90, second: 10},
        tags={"candidate": second},
        shadow={"version": first, "percent": 100},
        reason="A/B",
    )
    assert split["kind"] == "traffic" and split["reason"] == "A/B"
    assert split["traffic"] == [{"version": first, "percent": 90}, {"version": second, "percent": 10}]
    assert split["tags"] == {"candidate": second} and split["shadow"] == {"version": first, "percent": 100}
    tagged = sdk.predict(name, x_test.head(3), env="staging", version="candidate")
    assert len(tagged) == 3

    kept = sdk.traffic(name, "staging", {first: 90, second: 10})
    assert kept["tags"] == {"candidate": second} and kept["shadow"] == {"version": first, "percent": 100}
    stopped = sdk.traffic(name, "staging", {first: 90, second: 10}, tags={}, shadow=False)
    assert stopped["tags"] == {} and stopped["shadow"] is None

    back = sdk.rollback(name, "staging", reason="undo A/B")
    assert back["kind"] == "rollback" and back["traffic"] == [{"version": first, "percent": 100}]
    assert [r["kind"] for r in sdk.history(name, "staging", limit=2)] == ["rollback", "traffic"]
    explicit = sdk.rollback(name, "staging", to_revision=split["number"])
    assert explicit["traffic"] == split["traffic"]
    assert len(sdk.history(name, "staging")) == 6

    with pytest.raises(SlipwayError) as refused:
        sdk.traffic(name, "staging", {first: 60, second: 60})
    assert (refused.value.code, refused.value.status) == ("INVALID_ARGUMENT", 400)


# --- batch jobs -----------------------------------------------------------------------------------

PENGUIN_ROW_SQL = (
    "SELECT 'Biscoe' AS island, 'female' AS sex, CAST(46.1 AS DOUBLE) AS bill_length_mm, "
    "CAST(13.2 AS DOUBLE) AS bill_depth_mm, CAST(211 AS DOUBLE) AS flipper_length_mm, "
    "CAST(4500 AS DOUBLE) AS body_mass_g"
)


def create_job(slipway_all, spec: dict) -> None:
    answer = requests.post(f"{slipway_all.base_url}/api/v1/jobs", json=spec, timeout=30)
    assert answer.status_code == 201, answer.text


def test_a_job_run_is_queued_and_waited_for(sdk, slipway_all, pushed):
    create_job(
        slipway_all,
        {
            "name": "sdk-scores",
            "model": f"sdk-penguins/{pushed['version']}",
            "source": {"query": PENGUIN_ROW_SQL},
            "sink": {"table": "sdk_scores"},
        },
    )
    queued = sdk.run_job("sdk-scores", datetime.date(2001, 6, 30))
    assert queued["status"] == "queued" and queued["logical_date"] == "2001-06-30"
    done = sdk.wait_run("sdk-scores", queued["id"], timeout=120, poll=0.2)
    assert done["status"] == "succeeded" and done["rows_written"] == 1
    assert sdk.wait_run("sdk-scores", done["number"], timeout=1)["id"] == done["id"]

    backfill = sdk.backfill(
        "sdk-scores", "2001-06-28", datetime.datetime(2001, 6, 30, 12, 0), reprocess="none"
    )
    assert [run["logical_date"] for run in backfill["queued"]] == ["2001-06-28", "2001-06-29"]
    assert [skip["date"] for skip in backfill["skipped"]] == ["2001-06-30"]
    for run in backfill["queued"]:
        assert sdk.wait_run("sdk-scores", run["id"], timeout=120, poll=0.2)["status"] == "succeeded"
    assert len(sdk.runs("sdk-scores")) == 3
    assert len(sdk.runs("sdk-scores", status="succeeded", limit=2)) == 2
    assert sdk.runs("sdk-scores", status="failed") == []


def test_a_failed_run_is_returned_not_raised(sdk, slipway_all, pushed):
    create_job(
        slipway_all,
        {
            "name": "sdk-broken",
            "model": f"sdk-penguins/{pushed['version']}",
            "retries": 0,
            "source": {"query": "SELECT * FROM sdk_no_such_table"},
            "sink": {"table": "sdk_broken"},
        },
    )
    run = sdk.run_job("sdk-broken", "2001-06-30")
    done = sdk.wait_run("sdk-broken", run["id"], timeout=120, poll=0.2)
    assert done["status"] == "failed" and done["error"]


@pytest.mark.parametrize("date", ["yesterday", "2001-6-30", "", 20010630, None])
def test_a_date_that_is_not_a_date_is_refused_before_sending(sdk, date):
    with pytest.raises(SlipwayError) as refused:
        sdk.run_job("sdk-scores", date)
    assert refused.value.code == "INVALID_ARGUMENT" and refused.value.status is None


def test_an_impossible_calendar_date_is_refused_by_the_server(sdk, slipway_all, pushed):
    with pytest.raises(SlipwayError) as refused:
        sdk.run_job("sdk-scores", "2001-02-30")
    assert (refused.value.code, refused.value.status) == ("INVALID_ARGUMENT", 400)
