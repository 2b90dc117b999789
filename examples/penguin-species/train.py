"""Train Slipway's demo model, a penguin species classifier, and export it to ONNX.

The model is a scikit-learn pipeline (impute + scale the measurements, one-hot the
island and sex, multinomial logistic regression) exported with skl2onnx so that the
ONNX graph takes one input per column. That lets Slipway accept a JSON row such as
``{"island": "Biscoe", "sex": null, "bill_length_mm": 39.1, ...}`` without any
client-side feature engineering.

Usage::

    .venv/bin/python examples/penguin-species/train.py [--data PATH] [--out DIR]

Writes ``model.onnx`` and ``manifest.json`` into ``--out`` (by default this folder),
but only after checking that onnxruntime reproduces scikit-learn's probabilities on
every row of the data set, missing values included.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import skl2onnx
import sklearn
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_DATA = REPO_ROOT / "node_modules" / "vega-datasets" / "data" / "penguins.json"

MODEL_NAME = "penguin-species"
DESCRIPTION = (
    "Predicts a penguin's species (Adelie, Chinstrap or Gentoo) from its island, "
    "sex and four body measurements."
)
DATASET = "vega-datasets:data/penguins.json"
RANDOM_STATE = 42
TEST_SIZE = 0.25
# Agreement required between onnxruntime (float32) and scikit-learn (float64).
TOLERANCE = 1e-5
# Upper bound on the opsets the exporter may use, so upgrading the onnx package does
# not change the graph; skl2onnx lowers each domain to the oldest opset it needs.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}

# Source column in penguins.json -> model input name.
SOURCE_COLUMNS = {
    "Island": "island",
    "Sex": "sex",
    "Beak Length (mm)": "bill_length_mm",
    "Beak Depth (mm)": "bill_depth_mm",
    "Flipper Length (mm)": "flipper_length_mm",
    "Body Mass (g)": "body_mass_g",
}
TARGET = "Species"
CATEGORICAL = ["island", "sex"]
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
INPUTS = CATEGORICAL + NUMERIC
ISLANDS = ["Biscoe", "Dream", "Torgersen"]
# Only these are encoded; "" (Slipway's rendering of a null string) and anything else
# one-hot encode to all zeros, i.e. "sex unknown".
SEXES = ["female", "male"]

INPUT_DOCS = {
    "island": (
        "string",
        False,
        "Island in the Palmer Archipelago where the bird was observed: Biscoe, Dream or Torgersen.",
    ),
    "sex": (
        "string",
        True,
        'Sex of the bird, "female" or "male"; null or any other value means unknown.',
    ),
    "bill_length_mm": ("float", True, "Bill (culmen) length in millimetres; null if not measured."),
    "bill_depth_mm": ("float", True, "Bill (culmen) depth in millimetres; null if not measured."),
    "flipper_length_mm": ("float", True, "Flipper length in millimetres; null if not measured."),
    "body_mass_g": ("float", True, "Body mass in grams; null if not measured."),
}


def load_penguins(path: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Return the features (one column per model input) and the species labels.

    Missing measurements become NaN. Sex is lower-cased, and missing or invalid
    entries (the raw data has nulls and a ".") become "", exactly what Slipway
    passes to the model for a null string.
    """
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    raw = pd.DataFrame.from_records(records)
    features = raw[list(SOURCE_COLUMNS)].rename(columns=SOURCE_COLUMNS)
    for column in NUMERIC:
        features[column] = pd.to_numeric(features[column]).astype("float64")
    features["island"] = features["island"].astype(str)
    sex = features["sex"].fillna("").astype(str).str.lower()
    features["sex"] = sex.where(sex.isin(SEXES), "")
    return features[INPUTS], raw[TARGET].astype(str)


def build_pipeline() -> Pipeline:
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
        ]
    )
    categorical = OneHotEncoder(categories=[ISLANDS, SEXES], handle_unknown="ignore", sparse_output=False)
    features = ColumnTransformer([("numeric", numeric, NUMERIC), ("categorical", categorical, CATEGORICAL)])
    classifier = LogisticRegression(C=1.0, max_iter=1000, random_state=RANDOM_STATE)
    return Pipeline([("features", features), ("classifier", classifier)])


def split(features: pd.DataFrame, labels: pd.Series):
    """The fixed, stratified train/test split the published metrics refer to."""
    return train_test_split(features, labels, test_size=TEST_SIZE, stratify=labels, random_state=RANDOM_STATE)


def train(features: pd.DataFrame, labels: pd.Series) -> tuple[Pipeline, dict]:
    """Fit on the training split; return the pipeline and its held-out metrics."""
    x_train, x_test, y_train, y_test = split(features, labels)
    pipeline = build_pipeline().fit(x_train, y_train)
    classes = list(pipeline.classes_)
    predicted = pipeline.predict(x_test)
    metrics = {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 4),
        "log_loss": round(float(log_loss(y_test, pipeline.predict_proba(x_test), labels=classes)), 4),
        "f1_macro": round(float(f1_score(y_test, predicted, average="macro")), 4),
    }
    return pipeline, metrics


def export(pipeline: Pipeline) -> onnx.ModelProto:
    initial_types = [
        (name, StringTensorType([None, 1]) if name in CATEGORICAL else FloatTensorType([None, 1]))
        for name in INPUTS
    ]
    n_classes = len(pipeline.classes_)
    model = convert_sklearn(
        pipeline,
        name=MODEL_NAME,
        initial_types=initial_types,
        final_types=[
            ("label", StringTensorType([None])),
            ("probabilities", FloatTensorType([None, n_classes])),
        ],
        options={LogisticRegression: {"zipmap": False}},
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
    """Refuse to publish an export that disagrees with scikit-learn on any row."""
    label, probabilities = run_onnx(model_bytes, features)
    expected = pipeline.predict_proba(features)
    worst = float(np.max(np.abs(probabilities - expected)))
    if worst > TOLERANCE:
        row = int(np.argmax(np.max(np.abs(probabilities - expected), axis=1)))
        raise SystemExit(
            f"ONNX probabilities differ from scikit-learn by {worst:.3g} (row {row}); not writing the model"
        )
    mismatched = np.flatnonzero(label != pipeline.predict(features))
    if mismatched.size:
        raise SystemExit(f"ONNX labels differ from scikit-learn on rows {mismatched.tolist()}")
    return worst


def json_value(value):
    """Render a feature for JSON: NaN and "" (missing) become null."""
    if isinstance(value, str):
        return value or None
    value = float(value)
    return None if math.isnan(value) else value


def sample_rows(features: pd.DataFrame, labels: pd.Series) -> list[dict]:
    """Five real rows: one complete row per species, one without sex, one with no measurements."""
    complete = features.notna().all(axis=1) & (features["sex"] != "")
    picks = [int(features.index[complete & (labels == species)][0]) for species in sorted(labels.unique())]
    picks.append(int(features.index[(features["sex"] == "") & features[NUMERIC].notna().all(axis=1)][0]))
    picks.append(int(features.index[features[NUMERIC].isna().all(axis=1)][0]))
    return [{name: json_value(features.at[row, name]) for name in INPUTS} for row in picks]


def build_manifest(pipeline: Pipeline, metrics: dict, sample: list[dict]) -> dict:
    return {
        "model": MODEL_NAME,
        "description": DESCRIPTION,
        "task": "classification",
        "labels": [str(label) for label in pipeline.classes_],
        "metrics": metrics,
        "tags": {
            "framework": "scikit-learn",
            "exporter": "skl2onnx",
            "sklearn_version": sklearn.__version__,
            "skl2onnx_version": skl2onnx.__version__,
        },
        "lineage": {"dataset": DATASET, "git_commit": None, "run_id": None},
        "inputs": [
            {"name": name, "type": kind, "nullable": nullable, "description": text}
            for name, (kind, nullable, text) in INPUT_DOCS.items()
        ],
        "sample": sample,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="penguins.json (vega-datasets)")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for model.onnx and manifest.json")
    args = parser.parse_args(argv)

    if not args.data.is_file():
        parser.error(f"{args.data} not found; run `npm ci` first or pass --data")

    features, labels = load_penguins(args.data)
    pipeline, metrics = train(features, labels)
    model_bytes = export(pipeline).SerializeToString()
    worst = verify(pipeline, model_bytes, features)
    manifest = build_manifest(pipeline, metrics, sample_rows(features, labels))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "model.onnx").write_bytes(model_bytes)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    print(f"trained on {len(features)} rows; held-out metrics: {json.dumps(metrics)}")
    print(f"onnxruntime agrees with scikit-learn on every row (max |diff| {worst:.2g})")
    print(f"wrote {args.out / 'model.onnx'} ({len(model_bytes)} bytes) and {args.out / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
