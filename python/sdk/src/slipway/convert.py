"""What ``Client.push`` does before uploading: convert a model to ONNX and check the conversion.

A model reaches the server only through :func:`prepare`: it is exported to ONNX (skl2onnx for
scikit-learn, onnxmltools for LightGBM and XGBoost; ONNX files and bytes as they are), then the ONNX
graph is run with onnxruntime on every row of the sample, fed exactly as ``Client.predict`` feeds the
server (:mod:`slipway.tensors`), and compared with the original model. An export that disagrees by
more than the tolerance is refused with ``CONVERSION_MISMATCH`` and never uploaded.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import SlipwayError
from .tensors import FLOAT_TYPES, TensorSpec, input_arrays, json_rows, ort_feeds

#: Upper bound on the operator sets exporters may use: inside what the server's onnxruntime runs, and
#: fixed so that upgrading the onnx package does not change the graph.
SKLEARN_OPSET = {"": 17, "ai.onnx.ml": 3}
#: The newest opset onnxmltools' tree converters support.
TREES_OPSET = 15
#: Rows of the sample stored in the manifest: the server's warm-up, smoke gate and latency gate rows.
MANIFEST_SAMPLE_ROWS = 10
#: The input of a model that takes all its features as one [N, k] matrix.
MATRIX_INPUT = "input"

_ORT_TYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(string)": "BYTES",
    "tensor(bool)": "BOOL",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
}
_MANIFEST_TYPES = {"BYTES": "string", "BOOL": "boolean"}


@dataclass
class Prepared:
    """An ONNX model checked on a sample, with what the manifest says about it."""

    onnx: bytes
    inputs: list[TensorSpec]
    arrays: dict[str, np.ndarray]
    tags: dict[str, str]
    task: str | None = None
    labels: list[Any] | None = None
    max_difference: float | None = None
    nullable: set[str] = field(default_factory=set)

    def manifest(
        self,
        *,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """The upload's manifest: task, labels, metrics, tags, per-input null policy, sample rows."""
        manifest: dict[str, Any] = {
            "inputs": [
                {
                    "name": spec.name,
                    "type": "float"
                    if spec.datatype in FLOAT_TYPES
                    else _MANIFEST_TYPES.get(spec.datatype, "integer"),
                    "nullable": spec.name in self.nullable,
                }
                for spec in self.inputs
            ],
            "sample": json_rows(self.arrays, self.inputs, MANIFEST_SAMPLE_ROWS),
            "tags": {**self.tags, **{str(k): str(v) for k, v in (tags or {}).items()}},
        }
        if self.task is not None:
            manifest["task"] = self.task
        if self.labels is not None:
            manifest["labels"] = self.labels
        if metrics is not None:
            manifest["metrics"] = {str(name): _number(name, value) for name, value in metrics.items()}
        if description is not None:
            manifest["description"] = description
        return manifest


def _number(name: Any, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
    ):
        raise SlipwayError("INVALID_ARGUMENT", f"metric {name!r} is {value!r}; expected a finite number")
    return float(value)


def prepare(model: Any, *, sample: Any, tolerance: float) -> Prepared:
    """Convert ``model`` to ONNX and check it on ``sample``; ``CONVERSION_MISMATCH`` if they disagree."""
    if not isinstance(sample, pd.DataFrame) or len(sample) == 0:
        raise SlipwayError("INVALID_ARGUMENT", "sample must be a pandas DataFrame with at least one row")
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, (int, float))
        or not (0 <= tolerance < math.inf)
    ):
        raise SlipwayError("INVALID_ARGUMENT", f"tolerance must be a finite number >= 0, got {tolerance!r}")
    module = type(model).__module__.split(".")[0]
    if isinstance(model, (bytes, bytearray)):
        return _check(bytes(model), sample, None, tolerance, {"framework": "onnx"})
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise SlipwayError(
                "INVALID_ARGUMENT", f"{str(path)!r} is not a file; expected the path of an ONNX model"
            )
        return _check(path.read_bytes(), sample, None, tolerance, {"framework": "onnx"})
    if module == "lightgbm":
        return _lightgbm(model, sample, tolerance)
    if module == "xgboost":
        return _xgboost(model, sample, tolerance)
    if module == "sklearn" or _is_sklearn_estimator(model):
        return _sklearn(model, sample, tolerance)
    raise SlipwayError(
        "INVALID_ARGUMENT",
        f"cannot push a {type(model).__module__}.{type(model).__name__}; "
        "expected a scikit-learn estimator or "
        "pipeline, a LightGBM or XGBoost model, an ONNX file's path, or ONNX bytes",
    )


def _is_sklearn_estimator(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(model, BaseEstimator)


def _is_classifier(model: Any) -> bool:
    return hasattr(model, "predict_proba") and hasattr(model, "classes_")


def _columns(model: Any, sample: pd.DataFrame, expected: int | None) -> pd.DataFrame:
    """The sample's columns the model was fitted on, in the fitted order."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        names = [str(name) for name in names]
        missing = [name for name in names if name not in {str(c) for c in sample.columns}]
        if missing:
            raise SlipwayError(
                "INVALID_ARGUMENT",
                f"the sample lacks the columns {missing} the model was fitted on",
                details={"missing": missing},
            )
        return sample[names]
    if expected is not None and sample.shape[1] != expected:
        raise SlipwayError(
            "INVALID_ARGUMENT",
            f"the model takes {expected} features and knows no column names; "
            f"the sample has {sample.shape[1]} columns",
        )
    return sample


def _versions(**modules: Any) -> dict[str, str]:
    return {
        f"{name}_version": str(getattr(module, "__version__", "unknown")) for name, module in modules.items()
    }


def _sklearn(model: Any, sample: pd.DataFrame, tolerance: float) -> Prepared:
    import skl2onnx
    import sklearn
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    frame = _columns(model, sample, getattr(model, "n_features_in_", None))
    steps = [step for _, step in model.steps] if isinstance(model, Pipeline) else [model]
    numeric = [
        pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]) for c in frame
    ]
    # A ColumnTransformer selects columns by name, and text needs a string tensor: one input per column.
    # Otherwise the features are one float matrix.
    if any(isinstance(step, ColumnTransformer) for step in steps) or not all(numeric):
        initial_types = [
            (str(column), FloatTensorType([None, 1]) if is_number else StringTensorType([None, 1]))
            for column, is_number in zip(frame.columns, numeric, strict=True)
        ]
    else:
        initial_types = [(MATRIX_INPUT, FloatTensorType([None, frame.shape[1]]))]
    classifier = _is_classifier(model)
    options = {id(steps[-1]): {"zipmap": False}} if classifier else None
    try:
        onnx_model = convert_sklearn(
            model, initial_types=initial_types, options=options, target_opset=SKLEARN_OPSET
        )
    except Exception as error:  # skl2onnx raises many types for models it has no converter for
        raise SlipwayError(
            "INVALID_ARGUMENT", f"skl2onnx cannot convert this model: {type(error).__name__}: {error}"
        ) from error
    tags = {
        "framework": "scikit-learn",
        "exporter": "skl2onnx",
        **_versions(sklearn=sklearn, skl2onnx=skl2onnx),
    }
    return _finish(onnx_model, model, frame, classifier, tolerance, tags)


def _lightgbm(model: Any, sample: pd.DataFrame, tolerance: float) -> Prepared:
    import lightgbm
    import onnxmltools
    from onnxmltools.convert import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    if not isinstance(model, lightgbm.LGBMModel):
        raise SlipwayError(
            "INVALID_ARGUMENT",
            "push takes LightGBM's scikit-learn models (LGBMClassifier, LGBMRegressor); "
            "wrap a Booster in one",
        )
    frame = _columns(model, sample, model.n_features_in_)
    classifier = _is_classifier(model)
    onnx_model = convert_lightgbm(
        model,
        initial_types=[(MATRIX_INPUT, FloatTensorType([None, frame.shape[1]]))],
        zipmap=False,
        target_opset=TREES_OPSET,
    )
    _round_lightgbm_thresholds(onnx_model, model.booster_)
    tags = {
        "framework": "lightgbm",
        "exporter": "onnxmltools",
        **_versions(lightgbm=lightgbm, onnxmltools=onnxmltools),
    }
    return _finish(onnx_model, model, frame, classifier, tolerance, tags)


def _xgboost(model: Any, sample: pd.DataFrame, tolerance: float) -> Prepared:
    import onnxmltools
    import xgboost
    from onnxmltools.convert import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    if not isinstance(model, xgboost.XGBModel):
        raise SlipwayError(
            "INVALID_ARGUMENT", "push takes XGBoost's scikit-learn models (XGBClassifier, XGBRegressor)"
        )
    frame = _columns(model, sample, model.n_features_in_)
    classifier = _is_classifier(model)
    # onnxmltools reads features by position and refuses boosters that name them: convert a copy
    # whose booster forgets the names (the column order is the fitted one, see _columns).
    unnamed = copy.deepcopy(model)
    unnamed.get_booster().feature_names = None
    try:
        onnx_model = convert_xgboost(
            unnamed,
            initial_types=[(MATRIX_INPUT, FloatTensorType([None, frame.shape[1]]))],
            target_opset=TREES_OPSET,
        )
    except Exception as error:
        raise SlipwayError(
            "INVALID_ARGUMENT", f"onnxmltools cannot convert this model: {type(error).__name__}: {error}"
        ) from error
    tags = {
        "framework": "xgboost",
        "exporter": "onnxmltools",
        **_versions(xgboost=xgboost, onnxmltools=onnxmltools),
    }
    return _finish(onnx_model, model, frame, classifier, tolerance, tags)


def _finish(
    onnx_model: Any, model: Any, frame: pd.DataFrame, classifier: bool, tolerance: float, tags: dict
) -> Prepared:
    """Name the outputs as Slipway's examples do, make them batchable, then check the export."""
    outputs = [output.name for output in onnx_model.graph.output]
    names = ["label", "probabilities"] if classifier else ["prediction"]
    if len(outputs) != len(names):
        raise SlipwayError(
            "INVALID_ARGUMENT", f"the exported graph has outputs {outputs}; expected {len(names)} ({names})"
        )
    _rename_outputs(onnx_model, dict(zip(outputs, names, strict=True)))
    for output in onnx_model.graph.output:
        # Some converters declare a fixed first dimension of 1 for outputs that have one value per row.
        dims = output.type.tensor_type.shape.dim
        if len(dims) >= 1 and dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "N"
    if classifier:
        expected = {
            "label": np.asarray(model.predict(frame)),
            "probabilities": np.asarray(model.predict_proba(frame)),
        }
        labels = [label.item() if isinstance(label, np.generic) else label for label in model.classes_]
    else:
        expected = {"prediction": np.asarray(model.predict(frame))}
        labels = None
    prepared = _check(onnx_model.SerializeToString(), frame, expected, tolerance, tags)
    prepared.task = "classification" if classifier else "regression"
    prepared.labels = labels
    return prepared


def _rename_outputs(onnx_model: Any, renames: Mapping[str, str]) -> None:
    for node in onnx_model.graph.node:
        for position, name in enumerate(node.output):
            if name in renames:
                node.output[position] = renames[name]
        for position, name in enumerate(node.input):
            if name in renames:
                node.input[position] = renames[name]
    for output in onnx_model.graph.output:
        output.name = renames.get(output.name, output.name)


def _round_lightgbm_thresholds(onnx_model: Any, booster: Any) -> None:
    """Make the graph's float32 split thresholds decide as LightGBM's float64 ones do.

    LightGBM splits on ``x <= t`` with ``t`` a double, often a hair below a data value; the converter
    stores the nearest float32, which can round up onto that value and send it down the other branch.
    For a float32 ``x``, ``x <= t`` holds exactly when ``x`` is at most the largest float32 not above
    ``t``, so the thresholds are rounded down instead. Where two doubles share a float32 but round
    down differently, the threshold is left as it is and the sample check has the last word.
    """
    thresholds: dict[tuple[int, np.float32], set[np.float32]] = {}

    def collect(node: dict) -> None:
        if "split_feature" in node and node.get("decision_type", "<=") == "<=":
            exact = float(node["threshold"])
            nearest = np.float32(exact)
            down = nearest if float(nearest) <= exact else np.nextafter(nearest, np.float32(-np.inf))
            thresholds.setdefault((int(node["split_feature"]), nearest), set()).add(down)
        for child in ("left_child", "right_child"):
            if child in node:
                collect(node[child])

    for tree in booster.dump_model()["tree_info"]:
        collect(tree["tree_structure"])
    for node in onnx_model.graph.node:
        if node.op_type not in ("TreeEnsembleClassifier", "TreeEnsembleRegressor"):
            continue
        attributes = {attribute.name: attribute for attribute in node.attribute}
        modes = [mode.decode() for mode in attributes["nodes_modes"].strings]
        features = list(attributes["nodes_featureids"].ints)
        values = attributes["nodes_values"].floats
        for position, mode in enumerate(modes):
            if mode != "BRANCH_LEQ":
                continue
            candidates = thresholds.get((features[position], np.float32(values[position])))
            if candidates is not None and len(candidates) == 1:
                values[position] = float(next(iter(candidates)))


def _session_inputs(session: Any) -> list[TensorSpec]:
    specs = []
    for value in session.get_inputs():
        datatype = _ORT_TYPES.get(value.type)
        if datatype is None:
            raise SlipwayError(
                "INVALID_ARGUMENT",
                f"ONNX input {value.name!r} has type {value.type}, which Slipway cannot serve",
            )
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in value.shape)
        specs.append(TensorSpec(value.name, datatype, shape))
    return specs


def _check(
    onnx_bytes: bytes,
    frame: pd.DataFrame,
    expected: Mapping[str, np.ndarray] | None,
    tolerance: float,
    tags: dict[str, str],
) -> Prepared:
    """Run the ONNX graph on every sample row; compare with ``expected`` (the original model's answers)."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    except Exception as error:
        raise SlipwayError("INVALID_ARGUMENT", f"onnxruntime cannot load the model: {error}") from None
    inputs = _session_inputs(session)
    arrays = input_arrays(frame, inputs)
    try:
        answers = dict(
            zip(
                [o.name for o in session.get_outputs()],
                session.run(None, ort_feeds(arrays, inputs)),
                strict=True,
            )
        )
    except Exception as error:
        raise SlipwayError(
            "INVALID_ARGUMENT", f"onnxruntime cannot run the model on the sample: {error}"
        ) from None
    nullable = {spec.name for spec in inputs if any(v is None for v in arrays[spec.name].reshape(-1))}
    worst = None
    if expected is not None:
        worst = _compare(expected, answers, frame.index, tolerance)
    return Prepared(
        onnx=onnx_bytes, inputs=inputs, arrays=arrays, tags=tags, max_difference=worst, nullable=nullable
    )


def _compare(
    expected: Mapping[str, np.ndarray], answers: Mapping[str, np.ndarray], index: pd.Index, tolerance: float
) -> float:
    """The largest difference over the numeric outputs; raises ``CONVERSION_MISMATCH`` past ``tolerance``.

    A difference is ``|onnx - model| / max(1, |model|)``; labels must be equal.
    """
    worst = 0.0
    for name, reference in expected.items():
        got = np.asarray(answers[name])
        rows = len(index)
        if reference.dtype.kind in "OUS" or name == "label":
            want = reference.reshape(rows, -1).astype(str)
            have = got.reshape(rows, -1).astype(str) if got.size == reference.size else None
            if have is None or not np.array_equal(want, have):
                wrong = [] if have is None else np.flatnonzero((want != have).any(axis=1)).tolist()
                raise SlipwayError(
                    "CONVERSION_MISMATCH",
                    f"the ONNX export's {name!r} differs from the model's on {len(wrong) or 'all'} of {rows} "
                    f"sample "
                    f"rows; nothing was uploaded",
                    details={
                        "output": name,
                        "rows": [_plain(index[i]) for i in wrong[:20]],
                        "max_difference": worst,
                    },
                )
            continue
        if got.size != reference.size:
            raise SlipwayError(
                "CONVERSION_MISMATCH",
                f"the ONNX export's {name!r} has shape {list(got.shape)}, "
                f"the model's {list(reference.shape)}",
                details={"output": name, "max_difference": None},
            )
        want = reference.astype(np.float64).reshape(rows, -1)
        have = got.astype(np.float64).reshape(rows, -1)
        both_nan = np.isnan(want) & np.isnan(have)
        # Relative above 1, absolute below: float32 cannot hold a regression's 4000.3 to within 1e-5,
        # while probabilities are compared to the digit.
        difference = np.where(both_nan, 0.0, np.abs(want - have) / np.maximum(1.0, np.abs(want)))
        difference = np.where(np.isnan(difference), np.inf, difference)
        per_row = difference.max(axis=1)
        row = int(np.argmax(per_row))
        largest = float(per_row[row])
        worst = max(worst, largest)
        if largest > tolerance:
            raise SlipwayError(
                "CONVERSION_MISMATCH",
                f"the ONNX export's {name!r} differs from the model's by {largest:.3g} on sample row "
                f"{_plain(index[row])!r}, more than the tolerance {tolerance:g}; nothing was uploaded",
                details={
                    "output": name,
                    "max_difference": largest,
                    "row": _plain(index[row]),
                    "rows_over": int((per_row > tolerance).sum()),
                    "tolerance": tolerance,
                },
            )
    return worst


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
