"""Prepare the Python peers' model files for `make bench`.

Retrains the penguin-species scikit-learn pipeline with the example's own training code
(examples/penguin-species/train.py), checks that it is the model the committed model.onnx was
exported from (same probabilities on every row, within train.py's tolerance), and writes into --out:

- ``mlserver/settings.json``: MLServer's server settings (2 parallel workers, no access log);
- ``mlserver/penguin-species/model-settings.json`` and ``model.joblib``: the model for MLServer's
  scikit-learn runtime; the FastAPI + scikit-learn peer loads the same ``model.joblib``.

Ports are not written here: the bench passes them as MLSERVER_HTTP_PORT and friends.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "penguin-species"
sys.path.insert(0, str(EXAMPLE))

import train  # noqa: E402  (examples/penguin-species is not a package)

PARALLEL_WORKERS = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the joblib file and MLServer's repository")
    args = parser.parse_args(argv)

    features, labels = train.load_penguins(train.DEFAULT_DATA)
    pipeline, _ = train.train(features, labels)
    # Exits non-zero when the retrained pipeline and the committed ONNX export disagree anywhere.
    worst = train.verify(pipeline, (EXAMPLE / "model.onnx").read_bytes(), features)

    repository = args.out / "mlserver"
    model_dir = repository / train.MODEL_NAME
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / "model.joblib")
    server_settings = {
        "host": "127.0.0.1",
        "parallel_workers": PARALLEL_WORKERS,
        # debug=true (MLServer's default) turns on uvicorn's access log; a production server runs without.
        "debug": False,
    }
    (repository / "settings.json").write_text(json.dumps(server_settings, indent=2) + "\n", encoding="utf-8")
    model_settings = {
        "name": train.MODEL_NAME,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "1"},
    }
    (model_dir / "model-settings.json").write_text(json.dumps(model_settings, indent=2) + "\n", encoding="utf-8")
    print(f"model.joblib matches model.onnx on all {len(features)} rows (max |diff| {worst:.2g}); wrote {repository}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
