"""DataFrame columns as model inputs, and model outputs as DataFrame columns.

Every way a frame reaches a model goes through :func:`input_arrays`: ``Client.predict`` (as V2 JSON
tensors), ``Client.push`` (as onnxruntime feeds for the conversion check, and as the manifest's sample
rows). So a frame that ``push`` checked is read exactly as ``predict`` will send it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import SlipwayError

FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
INT_TYPES = frozenset({"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"})


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model signature: V2 datatype, and shape with -1 for any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @classmethod
    def from_wire(cls, value: Mapping[str, Any]) -> TensorSpec:
        """A ``{name, datatype, shape}`` object of a V2 metadata or version signature."""
        return cls(str(value["name"]), str(value["datatype"]), tuple(int(d) for d in value["shape"]))

    @property
    def width(self) -> int:
        """Values per row: the product of the dimensions after the first (1 for ``[N]``)."""
        width = 1
        for dimension in self.shape[1:]:
            if dimension < 0:
                raise SlipwayError(
                    "INVALID_ARGUMENT",
                    f"input {self.name!r} has shape {list(self.shape)}: only the first dimension may vary "
                    "for rows of a DataFrame",
                )
            width *= dimension
        return width


def is_missing(value: Any) -> bool:
    """None, NaN, pandas' NA and NaT: a value the frame does not have."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _require_frame(frame: Any) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise SlipwayError(
            "INVALID_ARGUMENT", f"expected a pandas DataFrame of rows, got {type(frame).__name__}"
        )
    if len(frame) == 0:
        raise SlipwayError("INVALID_ARGUMENT", "the DataFrame has no rows; expected at least one")
    return frame


def _column_matrix(frame: pd.DataFrame, spec: TensorSpec) -> np.ndarray:
    """The [N, width] object matrix of one input taken from the column of its name."""
    column = frame[spec.name]
    if isinstance(column, pd.DataFrame):
        raise SlipwayError("INVALID_ARGUMENT", f"the DataFrame has more than one column named {spec.name!r}")
    width = spec.width
    values = column.to_numpy(dtype=object)
    if width == 1:
        return values.reshape(-1, 1)
    rows = []
    for index, cell in enumerate(values):
        cell_values = np.asarray(cell, dtype=object).reshape(-1) if not is_missing(cell) else None
        if cell_values is None or cell_values.size != width:
            raise SlipwayError(
                "INVALID_ARGUMENT",
                f"row {index} of column {spec.name!r} must hold {width} values for shape {list(spec.shape)}",
            )
        rows.append(cell_values)
    return np.stack(rows)


def input_arrays(frame: Any, inputs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Each input's values as an [N, width] object matrix, missing values as ``None``.

    A frame gives an input either as the column of the same name (a list-like per row when the input
    has several values per row), or, for a model with one input of shape ``[N, k]``, as exactly ``k``
    columns in order. Other columns are not read.
    """
    frame = _require_frame(frame)
    names = {str(column) for column in frame.columns}
    if all(spec.name in names for spec in inputs):
        matrices = {spec.name: _column_matrix(frame, spec) for spec in inputs}
    elif len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].width == frame.shape[1] > 1:
        matrices = {inputs[0].name: frame.to_numpy(dtype=object)}
    else:
        missing = [spec.name for spec in inputs if spec.name not in names]
        raise SlipwayError(
            "INVALID_ARGUMENT",
            f"the DataFrame lacks the model inputs {missing}; expected one column per input "
            f"({[spec.name for spec in inputs]})",
            details={"missing": missing},
        )
    return {spec.name: _typed(matrices[spec.name], spec) for spec in inputs}


def _typed(matrix: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Values as the Python types JSON and onnxruntime take for the datatype; refuses what cannot be."""
    out = np.empty(matrix.shape, dtype=object)
    for position, value in np.ndenumerate(matrix):
        out[position] = _value(value, spec)
    return out


def _value(value: Any, spec: TensorSpec) -> Any:
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    datatype = spec.datatype
    if datatype == "BYTES":
        if isinstance(value, bytes):
            return value.decode("utf-8")
        return str(value)
    if datatype == "BOOL":
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass
    elif datatype in FLOAT_TYPES and isinstance(value, (int, float)):
        if math.isinf(value):
            raise SlipwayError(
                "INVALID_ARGUMENT", f"input {spec.name!r} holds {value}; expected a finite number"
            )
        return float(value)
    elif datatype in INT_TYPES:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    raise SlipwayError(
        "INVALID_ARGUMENT",
        f"input {spec.name!r} holds {value!r} ({type(value).__name__}); "
        f"expected a value of datatype {datatype}",
    )


def v2_inputs(arrays: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
    """Open Inference Protocol input tensors, flat and row-major, missing values as JSON null."""
    tensors = []
    for spec in inputs:
        matrix = arrays[spec.name]
        rows = matrix.shape[0]
        shape = [rows] if len(spec.shape) == 1 else [rows, *spec.shape[1:]]
        tensors.append(
            {
                "name": spec.name,
                "datatype": spec.datatype,
                "shape": shape,
                "data": matrix.reshape(-1).tolist(),
            }
        )
    return tensors


_NUMPY_TYPES = {
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "BOOL": np.bool_,
}


def ort_feeds(arrays: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """onnxruntime feeds holding what the server passes the model: null is NaN for floats, "" for strings."""
    feeds = {}
    for spec in inputs:
        matrix = arrays[spec.name]
        rows = matrix.shape[0]
        shape = (rows,) if len(spec.shape) == 1 else (rows, *spec.shape[1:])
        if spec.datatype == "BYTES":
            feeds[spec.name] = np.array(
                ["" if v is None else v for v in matrix.reshape(-1)], dtype=object
            ).reshape(shape)
        elif spec.datatype in FLOAT_TYPES:
            flat = [math.nan if v is None else v for v in matrix.reshape(-1)]
            feeds[spec.name] = np.array(flat, dtype=_NUMPY_TYPES[spec.datatype]).reshape(shape)
        else:
            if any(v is None for v in matrix.reshape(-1)):
                raise SlipwayError(
                    "INVALID_ARGUMENT", f"input {spec.name!r} ({spec.datatype}) has missing values"
                )
            feeds[spec.name] = np.array(
                matrix.reshape(-1).tolist(), dtype=_NUMPY_TYPES[spec.datatype]
            ).reshape(shape)
    return feeds


def json_rows(
    arrays: Mapping[str, np.ndarray], inputs: Sequence[TensorSpec], limit: int
) -> list[dict[str, Any]]:
    """The first ``limit`` rows as V1 row objects keyed by input name (a list for several values per row)."""
    rows = next(iter(arrays.values())).shape[0] if arrays else 0
    out = []
    for row in range(min(rows, limit)):
        record = {}
        for spec in inputs:
            values = arrays[spec.name][row].tolist()
            record[spec.name] = values[0] if spec.width == 1 else values
        out.append(record)
    return out


def outputs_frame(outputs: Sequence[Mapping[str, Any]], rows: int, index: pd.Index) -> pd.DataFrame:
    """One column per output, split into rows as V1 does.

    An output of shape ``[N]`` or ``[N, 1]`` gives one value per row; ``[N, k...]`` gives each row its
    values as a list; an output without a per-row first dimension is repeated whole on every row.
    """
    columns: dict[str, list[Any]] = {}
    for output in outputs:
        shape = [int(d) for d in output.get("shape", [])]
        data = list(output.get("data", []))
        if len(shape) >= 1 and shape[0] == rows and rows > 0:
            width = len(data) // rows
            if width == 1 and (len(shape) == 1 or math.prod(shape[1:]) == 1):
                columns[output["name"]] = data
            else:
                columns[output["name"]] = [data[row * width : (row + 1) * width] for row in range(rows)]
        else:
            columns[output["name"]] = [list(data) for _ in range(rows)]
    return pd.DataFrame(columns, index=index)
