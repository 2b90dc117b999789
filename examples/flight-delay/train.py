"""Train Slipway's batch-scoring example, a flight delay classifier, and export it to ONNX.

The model predicts whether a US domestic flight leaves more than 15 minutes late from
when it leaves (hour, weekday, month), how far it goes and between which airports. It
is a scikit-learn pipeline (target-encode the two airports, then gradient-boosted
trees) exported with skl2onnx so that the ONNX graph takes one input per column. A
scoring job can then feed it the columns of a query straight from the warehouse::

    SELECT hour(date) AS hour, dayofweek(date) AS weekday, month(date) AS month,
           distance, origin, destination
    FROM 'flights-3m.parquet'

This script derives the same features in pandas (``load_flights``), so the model
sees in training exactly what that query gives it at scoring time.

Usage::

    .venv/bin/python examples/flight-delay/train.py [--data PATH] [--out DIR]

Writes ``model.onnx`` and ``manifest.json`` into ``--out`` (by default this folder),
but only after checking that onnxruntime reproduces scikit-learn's probabilities and
labels on every held-out row.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common import tree_ensemble
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import TargetEncoder

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_DATA = REPO_ROOT / "node_modules" / "vega-datasets" / "data" / "flights-3m.parquet"

MODEL_NAME = "flight-delay"
DESCRIPTION = (
    "Predicts whether a US domestic flight departs more than 15 minutes late (label 1) "
    "or not (label 0) from its departure hour, weekday and month, its distance and its "
    "origin and destination airports."
)
DATASET = "vega-datasets:data/flights-3m.parquet"
RANDOM_STATE = 42
# A flight counts as delayed past this many minutes (the label is delay > 15).
DELAY_MINUTES = 15
# Time-based holdout: train on January to May 2001, measure on the flights from June on
# (the file ends with June, and six flights that left at midnight on 1 July).
HOLDOUT_FROM = pd.Timestamp("2001-06-01")
# Agreement required between onnxruntime (float32) and scikit-learn (float64): the
# 200 trees' leaf values are summed in float32 before the sigmoid.
TOLERANCE = 1e-5
# Upper bound on the opsets the exporter may use, so upgrading the onnx package does
# not change the graph; skl2onnx lowers each domain to the oldest opset it needs.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}

NUMERIC = ["hour", "weekday", "month", "distance"]
CATEGORICAL = ["origin", "destination"]
INPUTS = NUMERIC + CATEGORICAL

INPUT_DOCS = {
    "hour": ("float", "Hour of the departure, 0 to 23 (SQL: hour(date))."),
    "weekday": ("float", "Day of the week of the departure, 0 = Sunday to 6 = Saturday (SQL: dayofweek(date))."),
    "month": ("float", "Month of the departure, 1 to 12 (SQL: month(date))."),
    "distance": ("float", "Distance between the airports in miles."),
    "origin": (
        "string",
        'IATA code of the departure airport, e.g. "ORD"; an airport the model has not seen counts as average.',
    ),
    "destination": (
        "string",
        'IATA code of the arrival airport, e.g. "LAX"; an airport the model has not seen counts as average.',
    ),
}


def load_flights(path: Path, limit: int | None = None) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Return the model inputs, the labels (1 = delayed) and the departure times.

    The inputs are derived as DuckDB derives them in a scoring job's query: pandas
    numbers weekdays from Monday = 0, DuckDB's ``dayofweek`` from Sunday = 0.
    ``limit`` keeps the first rows of the file only.
    """
    raw = pd.read_parquet(path, columns=["date", "delay", "distance", "origin", "destination"])
    if limit is not None:
        raw = raw.head(limit)
    features = derive_features(raw)
    labels = (raw["delay"] > DELAY_MINUTES).astype("int64").rename("delayed")
    return features, labels, raw["date"]


def derive_features(raw: pd.DataFrame) -> pd.DataFrame:
    """The model inputs of a frame with the file's ``date``, ``distance``, ``origin`` and ``destination``."""
    date = raw["date"].dt
    return pd.DataFrame(
        {
            "hour": date.hour.astype("float64"),
            "weekday": ((date.dayofweek + 1) % 7).astype("float64"),
            "month": date.month.astype("float64"),
            "distance": raw["distance"].astype("float64"),
            "origin": raw["origin"].astype(str),
            "destination": raw["destination"].astype(str),
        },
        index=raw.index,
    )


def build_pipeline() -> Pipeline:
    # Target encoding turns each of ~230 airports into one number (its smoothed delay
    # rate, cross-fitted so a row's own label does not leak into it); trees then split
    # on those numbers as on the others. Unknown airports get the overall rate.
    features = ColumnTransformer(
        [
            ("numeric", "passthrough", NUMERIC),
            ("airports", TargetEncoder(target_type="binary", random_state=RANDOM_STATE), CATEGORICAL),
        ]
    )
    classifier = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.1,
        max_leaf_nodes=31,
        early_stopping=False,
        random_state=RANDOM_STATE,
    )
    return Pipeline([("features", features), ("classifier", classifier)])


def split(features: pd.DataFrame, labels: pd.Series, dates: pd.Series):
    """The time-based split the published metrics refer to: (x_train, x_test, y_train, y_test)."""
    before = (dates < HOLDOUT_FROM).to_numpy()
    return features[before], features[~before], labels[before], labels[~before]


def holdout_metrics(y_test: pd.Series, probabilities: np.ndarray, base_rate: float) -> dict:
    """Metrics of the delay probabilities (column 1) on the holdout, beside the base rate's."""
    delayed = probabilities[:, 1]
    return {
        "log_loss": round(float(log_loss(y_test, delayed, labels=[0, 1])), 4),
        "roc_auc": round(float(roc_auc_score(y_test, delayed)), 4),
        "accuracy": round(float(accuracy_score(y_test, (delayed > 0.5).astype("int64"))), 4),
        # What always predicting the training set's delay rate scores, for comparison.
        "base_rate_log_loss": round(float(log_loss(y_test, np.full(len(y_test), base_rate), labels=[0, 1])), 4),
        "base_rate_accuracy": round(float(max(y_test.mean(), 1 - y_test.mean())), 4),
        "holdout_rows": len(y_test),
    }


def train(features: pd.DataFrame, labels: pd.Series, dates: pd.Series) -> tuple[Pipeline, dict]:
    """Fit on January to May; return the pipeline and its metrics on June."""
    x_train, x_test, y_train, y_test = split(features, labels, dates)
    pipeline = build_pipeline().fit(x_train, y_train)
    metrics = holdout_metrics(y_test, pipeline.predict_proba(x_test), float(y_train.mean()))
    return pipeline, metrics


def _integer_missing_flags() -> None:
    """Make skl2onnx 1.20's HistGradientBoosting converter work with protobuf 7.

    The converter records each tree node's ``nodes_missing_value_tracks_true`` flag
    as a Python or NumPy boolean; protobuf 7 refuses booleans in an integer list
    ("Expected an int, got a boolean"). The flag is passed through one helper,
    ``tree_ensemble.add_node``, which is wrapped here to pass it as 0 or 1.
    """
    add_node = tree_ensemble.add_node
    if getattr(add_node, "integer_missing_flags", False):
        return

    def add_node_with_integer_flag(*args, nodes_missing_value_tracks_true=0, **kwargs):
        return add_node(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)

    add_node_with_integer_flag.integer_missing_flags = True
    tree_ensemble.add_node = add_node_with_integer_flag


def export(pipeline: Pipeline) -> onnx.ModelProto:
    _integer_missing_flags()
    initial_types = [
        (name, StringTensorType([None, 1]) if name in CATEGORICAL else FloatTensorType([None, 1])) for name in INPUTS
    ]
    model = convert_sklearn(
        pipeline,
        name=MODEL_NAME,
        initial_types=initial_types,
        final_types=[
            ("label", Int64TensorType([None])),
            ("probabilities", FloatTensorType([None, 2])),
        ],
        options={HistGradientBoostingClassifier: {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    # Everything that varies between runs or machines is fixed here so that
    # retraining with the pinned requirements reproduces the file byte for byte.
    model.producer_name = "skl2onnx"
    model.producer_version = skl2onnx.__version__
    model.domain = ""
    model.model_version = 1
    model.doc_string = DESCRIPTION
    model.graph.doc_string = ""
    # skl2onnx emits opset imports in set order, which follows string hashing.
    imports = sorted(model.opset_import, key=lambda entry: entry.domain)
    del model.opset_import[:]
    model.opset_import.extend(imports)
    return model


def onnx_inputs(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Feed a frame to the ONNX graph: one [N, 1] tensor per column."""
    feeds = {}
    for name in INPUTS:
        column = features[name].to_numpy()
        if name in CATEGORICAL:
            feeds[name] = column.astype(object).reshape(-1, 1)
        else:
            feeds[name] = column.astype(np.float32).reshape(-1, 1)
    return feeds


def run_onnx(model_bytes: bytes, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], onnx_inputs(features))
    return label, probabilities


def verify(pipeline: Pipeline, model_bytes: bytes, features: pd.DataFrame) -> float:
    """Refuse to publish an export that disagrees with scikit-learn on any of these rows."""
    label, probabilities = run_onnx(model_bytes, features)
    expected = pipeline.predict_proba(features)
    differences = np.max(np.abs(probabilities - expected), axis=1)
    worst = float(np.max(differences))
    if worst > TOLERANCE:
        row = int(np.argmax(differences))
        raise SystemExit(
            f"ONNX probabilities differ from scikit-learn by {worst:.3g} (row {row}); not writing the model"
        )
    # Where the delay probability sits within the tolerance of 0.5, float32 and float64
    # may fall on either side of it; everywhere else the labels must be the same.
    decided = np.abs(expected[:, 1] - 0.5) > TOLERANCE
    mismatched = np.flatnonzero((label != pipeline.predict(features)) & decided)
    if mismatched.size:
        raise SystemExit(f"ONNX labels differ from scikit-learn on rows {mismatched[:20].tolist()}")
    return worst


def json_value(value):
    return value if isinstance(value, str) else float(value)


def sample_rows(x_test: pd.DataFrame, y_test: pd.Series, known_origins: set[str]) -> list[dict]:
    """Five real held-out flights: on time and delayed, early and late in the day, and
    one from an airport that is not in the training data."""
    picks = [
        x_test.index[(y_test == 0) & (x_test["hour"] == 7)][0],
        x_test.index[(y_test == 1) & (x_test["hour"] == 18)][0],
        x_test.index[(y_test == 0) & (x_test["hour"] == 12) & (x_test["distance"] > 2000)][0],
        x_test.index[(y_test == 1) & (x_test["hour"] == 22)][0],
        x_test.index[~x_test["origin"].isin(known_origins)][0],
    ]
    return [{name: json_value(x_test.at[row, name]) for name in INPUTS} for row in picks]


def build_manifest(pipeline: Pipeline, metrics: dict, sample: list[dict]) -> dict:
    return {
        "model": MODEL_NAME,
        "description": DESCRIPTION,
        "task": "classification",
        "labels": [int(label) for label in pipeline.classes_],
        "metrics": metrics,
        "tags": {
            "framework": "scikit-learn",
            "exporter": "skl2onnx",
            "sklearn_version": sklearn.__version__,
            "skl2onnx_version": skl2onnx.__version__,
            "holdout": f"trained on the flights before {HOLDOUT_FROM.date()}, measured on the flights from then on",
        },
        "lineage": {"dataset": DATASET, "git_commit": None, "run_id": None},
        "inputs": [
            {"name": name, "type": kind, "nullable": False, "description": text}
            for name, (kind, text) in INPUT_DOCS.items()
        ],
        "sample": sample,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="flights-3m.parquet (vega-datasets)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for model.onnx and manifest.json")
    args = parser.parse_args(argv)

    if not args.data.is_file():
        parser.error(f"{args.data} not found; run `npm ci` first or pass --data")

    started = time.perf_counter()
    features, labels, dates = load_flights(args.data)
    pipeline, metrics = train(features, labels, dates)
    seconds = time.perf_counter() - started
    model_bytes = export(pipeline).SerializeToString()
    x_train, x_test, _, y_test = split(features, labels, dates)
    worst = verify(pipeline, model_bytes, x_test)
    manifest = build_manifest(pipeline, metrics, sample_rows(x_test, y_test, set(x_train["origin"])))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(model_bytes)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    print(f"trained on {len(x_train)} flights in {seconds:.0f} s; holdout metrics: {json.dumps(metrics)}")
    print(f"onnxruntime agrees with scikit-learn on all {len(x_test)} held-out rows (max |diff| {worst:.2g})")
    print(f"wrote {args.out / 'model.onnx'} ({len(model_bytes)} bytes) and {args.out / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
