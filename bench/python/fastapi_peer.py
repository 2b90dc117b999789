"""The prediction service teams hand-roll: FastAPI + pydantic, served by uvicorn.

One app, two backends, chosen by BENCH_BACKEND:

- ``sklearn``: the pickled scikit-learn Pipeline (BENCH_MODEL, a joblib file), called as
  ``pipeline.predict_proba(pd.DataFrame(rows))``;
- ``onnx``: onnxruntime's InferenceSession on model.onnx (BENCH_MODEL) with one intra-op thread,
  fed one [N, 1] array per input.

It speaks Slipway's V1 shape so the load generator sends both the same body:
``POST /v1/models/penguin-species:predict`` ``{"instances": [row, ...]}`` answers
``{"predictions": [{"label": ..., "probabilities": [...]}, ...]}``. Run it with
``uvicorn fastapi_peer:app --workers 2``.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

Predict = Callable[[list["Row"]], tuple[list[str], np.ndarray]]


class Row(BaseModel):
    """One penguin, declared by hand as a team would (the model's inputs; null where the manifest allows it)."""

    island: str
    sex: str | None = None
    bill_length_mm: float | None = None
    bill_depth_mm: float | None = None
    flipper_length_mm: float | None = None
    body_mass_g: float | None = None


class PredictRequest(BaseModel):
    instances: list[Row]


CATEGORICAL = ["island", "sex"]
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def sklearn_backend(path: str) -> Predict:
    import joblib
    import pandas as pd

    pipeline = joblib.load(path)
    classes = pipeline.classes_

    def predict(rows: list[Row]) -> tuple[list[str], np.ndarray]:
        frame = pd.DataFrame([row.model_dump() for row in rows])
        # The model was trained with "" for an unknown sex and NaN for a missing measurement.
        frame["sex"] = frame["sex"].fillna("")
        frame[NUMERIC] = frame[NUMERIC].astype("float64")
        probabilities = pipeline.predict_proba(frame)
        return classes[probabilities.argmax(axis=1)].tolist(), probabilities

    return predict


def onnx_backend(path: str) -> Predict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def predict(rows: list[Row]) -> tuple[list[str], np.ndarray]:
        feeds = {name: np.array([[getattr(row, name) or ""] for row in rows], dtype=object) for name in CATEGORICAL}
        for name in NUMERIC:
            values = [[np.nan if getattr(row, name) is None else getattr(row, name)] for row in rows]
            feeds[name] = np.array(values, dtype=np.float32)
        labels, probabilities = session.run(["label", "probabilities"], feeds)
        return labels.tolist(), probabilities

    return predict


BACKENDS = {"sklearn": sklearn_backend, "onnx": onnx_backend}
predict_rows = BACKENDS[os.environ["BENCH_BACKEND"]](os.environ["BENCH_MODEL"])
app = FastAPI()


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


# A plain `def`: FastAPI runs it in its thread pool, as its docs advise for blocking work.
@app.post("/v1/models/penguin-species:predict")
def predict(request: PredictRequest) -> dict:
    labels, probabilities = predict_rows(request.instances)
    return {
        "predictions": [
            {"label": label, "probabilities": row.tolist()} for label, row in zip(labels, probabilities, strict=True)
        ]
    }
