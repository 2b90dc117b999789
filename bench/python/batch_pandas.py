"""The batch scoring teams hand-roll: pandas reads the file, scikit-learn predicts, pandas writes a table.

Two steps, run by bench/batch-scoring.ts with the bench venv's Python:

``prepare --out model.joblib``
    Retrains the flight-delay pipeline with the example's own training code
    (examples/flight-delay/train.py), checks with ``train.verify`` that it is the model
    the committed model.onnx was exported from (same probabilities on every held-out
    flight), and pickles it with joblib. Not timed.

``score --model model.joblib --data flights-3m.parquet --database scores.duckdb [--rows N] [--writer duckdb|to_sql]``
    The measured part: ``pd.read_parquet`` the file (its first N rows with ``--rows``),
    derive the model inputs in pandas, ``predict_proba``, add the metadata columns and
    write the table into a DuckDB file, one of two ways (``--writer``):

    - ``duckdb`` (the default): DuckDB's Python package scans the frame natively,
      ``CREATE TABLE ... AS SELECT * FROM`` the frame;
    - ``to_sql``: pandas writes it, ``DataFrame.to_sql`` through SQLAlchemy and the
      ``duckdb_engine`` dialect, as an Airflow task that writes with pandas does.

    Prints one JSON line: rows, seconds (read to write, without loading the pickle), the
    process's peak resident memory in MB and how the table was written.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flight-delay"
sys.path.insert(0, str(EXAMPLE))

import train  # noqa: E402  (examples/flight-delay is not a package)

TABLE = "flight_delay_scores"
MODEL_VERSION = 1
WRITERS = ("duckdb", "to_sql")
# to_sql's settings, the faster of the two a team would reach for: the default method (None, one
# executemany of the INSERT per chunk) in chunks of 10,000 rows. On 100,000 flights it wrote about
# 11,600 rows/s (9,400 in one chunk of all rows), method="multi" (one multi-row INSERT per chunk, with
# thousands of bound parameters to compile and bind) about 3,000 rows/s at 100 and at 1,000 rows a chunk.
TO_SQL_CHUNKSIZE = 10_000
TO_SQL_METHOD = None
# How each writer writes, for the bench's report.
WRITER_NOTES = {
    "duckdb": "CREATE TABLE AS SELECT * FROM the frame in DuckDB (Python, native DataFrame scan)",
    "to_sql": (
        f"DataFrame.to_sql(if_exists='replace', index=False, chunksize={TO_SQL_CHUNKSIZE}, "
        f"method={TO_SQL_METHOD!r}) through SQLAlchemy {sqlalchemy.__version__} (duckdb_engine)"
    ),
}


def prepare(out: Path) -> None:
    features, labels, dates = train.load_flights(train.DEFAULT_DATA)
    pipeline, _ = train.train(features, labels, dates)
    _, x_test, _, _ = train.split(features, labels, dates)
    # Exits non-zero when the retrained pipeline and the committed ONNX export disagree.
    worst = train.verify(pipeline, (EXAMPLE / "model.onnx").read_bytes(), x_test)
    out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, out)
    print(f"model.joblib matches model.onnx on all {len(x_test)} held-out flights (max |diff| {worst:.2g}); wrote {out}")


def read_flights(data: Path, rows: int | None) -> pd.DataFrame:
    """The whole file, as a team would read it; with ``rows``, only the first rows (like SQL's LIMIT)."""
    if rows is None:
        return pd.read_parquet(data)
    batches, read = [], 0
    for batch in pq.ParquetFile(data).iter_batches(batch_size=min(rows, 65_536)):
        batches.append(batch)
        read += batch.num_rows
        if read >= rows:
            break
    return pa.Table.from_batches(batches).slice(0, rows).to_pandas()


def write_duckdb(scores: pd.DataFrame, database: Path) -> int:
    """DuckDB's Python package reads the frame in place and creates the table from it."""
    with duckdb.connect(str(database)) as connection:
        connection.register("scores", scores)
        connection.execute(f"CREATE OR REPLACE TABLE {TABLE} AS SELECT * FROM scores")
        return connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]


def write_to_sql(scores: pd.DataFrame, database: Path) -> int:
    """pandas writes the table: ``DataFrame.to_sql`` through a SQLAlchemy engine (duckdb_engine)."""
    engine = sqlalchemy.create_engine(f"duckdb:///{database}")
    try:
        scores.to_sql(
            TABLE,
            engine,
            if_exists="replace",
            index=False,
            chunksize=TO_SQL_CHUNKSIZE,
            method=TO_SQL_METHOD,
        )
        with engine.connect() as connection:
            return connection.execute(sqlalchemy.text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
    finally:
        engine.dispose()


def score(model: Path, data: Path, database: Path, rows: int | None, writer: str = "duckdb") -> dict:
    pipeline = joblib.load(model)
    started = time.perf_counter()

    flights = read_flights(data, rows)
    scores = train.derive_features(flights)
    scores["date"] = flights["date"]
    probabilities = pipeline.predict_proba(scores[train.INPUTS])
    scores["label"] = pipeline.classes_[np.argmax(probabilities, axis=1)]
    # One column per class, as a Slipway job writes the probabilities output.
    scores["probabilities_0"] = probabilities[:, 0]
    scores["probabilities_1"] = probabilities[:, 1]
    scores["prediction_timestamp"] = datetime.now(timezone.utc)
    scores["model_name"] = train.MODEL_NAME
    scores["model_version"] = MODEL_VERSION
    scores["logical_date"] = date.today()

    written = write_to_sql(scores, database) if writer == "to_sql" else write_duckdb(scores, database)

    seconds = time.perf_counter() - started
    # Linux reports ru_maxrss in kilobytes.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": int(written), "seconds": seconds, "peak_rss_mb": peak_mb, "writer": WRITER_NOTES[writer]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    prepare_step = steps.add_parser("prepare", help="retrain, check against model.onnx, pickle")
    prepare_step.add_argument("--out", type=Path, required=True, help="the joblib file to write")
    score_step = steps.add_parser("score", help="read, predict, write; prints one JSON line")
    score_step.add_argument("--model", type=Path, required=True, help="the joblib file from prepare")
    score_step.add_argument("--data", type=Path, default=train.DEFAULT_DATA, help="flights-3m.parquet")
    score_step.add_argument("--database", type=Path, required=True, help="the DuckDB file to write the table into")
    score_step.add_argument("--rows", type=int, help="score only the first ROWS flights")
    score_step.add_argument(
        "--writer",
        choices=WRITERS,
        default="duckdb",
        help="who writes the table: DuckDB scanning the frame (duckdb) or pandas' DataFrame.to_sql (to_sql)",
    )
    args = parser.parse_args(argv)

    if args.step == "prepare":
        prepare(args.out)
    else:
        print(json.dumps(score(args.model, args.data, args.database, args.rows, args.writer)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
