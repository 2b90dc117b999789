"""slipway.airflow in a real Apache Airflow: a DAG scores its logical date with a Slipway job and promotes a
version, run with ``dag.test()`` (no scheduler, no webserver; Airflow's state in a temporary SQLite).

Runs in .venv-airflow (Airflow pins much of its own world), with the Python client installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from support import REPO_ROOT, SlipwayClient

EXAMPLE = REPO_ROOT / "examples" / "penguin-species"
MODEL = "af-penguins"
ROW_SQL = (
    "SELECT 'Biscoe' AS island, 'female' AS sex, CAST(46.1 AS DOUBLE) AS bill_length_mm, "
    "CAST(13.2 AS DOUBLE) AS bill_depth_mm, CAST(211 AS DOUBLE) AS flipper_length_mm, "
    "CAST(4500 AS DOUBLE) AS body_mass_g"
)
AIRFLOW = Path(sys.executable).with_name("airflow")


@pytest.fixture(scope="module")
def served(slipway_all):
    client = SlipwayClient(slipway_all.base_url)
    client.ensure_model(MODEL, "Airflow operators")
    manifest = json.loads((EXAMPLE / "manifest.json").read_text())
    response = client.push_version(MODEL, (EXAMPLE / "model.onnx").read_bytes(), manifest)
    assert response.status_code == 201, response.text
    for name, query in (("af-scores", ROW_SQL), ("af-broken", "SELECT * FROM af_no_such_table")):
        answer = requests.post(
            f"{slipway_all.base_url}/api/v1/jobs",
            json={"name": name, "model": f"{MODEL}/1", "source": {"query": query}, "sink": {"table": name.replace("-", "_")}, "retries": 0},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
    return slipway_all


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, served):
    home = tmp_path_factory.mktemp("airflow-home")
    dags = tmp_path_factory.mktemp("dags")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW_CONN_SLIPWAY_DEFAULT": json.dumps(
            {"conn_type": "http", "host": served.host, "port": served.port}
        ),
    }
    migrated = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    return env, dags


def run_dag(airflow_env, name: str, body: str) -> subprocess.CompletedProcess:
    """Writes a DAG file into the DAGs folder (dag.test() runs DAGs Airflow has parsed) and runs it."""
    env, dags = airflow_env
    path = dags / f"{name}.py"
    tasks = textwrap.indent(textwrap.dedent(body).strip(), "    ")
    path.write_text(
        "import datetime\n"
        "from airflow.sdk import DAG\n"
        "from slipway.airflow import SlipwayPromoteOperator, SlipwayRunJobOperator\n"
        "\n"
        f"with DAG({name!r}, start_date=datetime.datetime(2001, 6, 1), schedule=None, catchup=False) as dag:\n"
        f"{tasks}\n"
        "\n"
        'if __name__ == "__main__":\n'
        "    run = dag.test(logical_date=datetime.datetime(2001, 6, 30, tzinfo=datetime.timezone.utc))\n"
        '    print("DAG RUN STATE", run.state)\n'
    )
    return subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=300)


def test_a_dag_scores_its_logical_date_and_promotes(airflow_env, served):
    done = run_dag(
        airflow_env,
        "slipway_nightly",
        """
        score = SlipwayRunJobOperator(task_id="score", job="af-scores", timeout=120, poll_interval=0.2)
        promote = SlipwayPromoteOperator(
            task_id="promote", model="af-penguins", version="{{ params.version }}", environment="staging",
            params={"version": 1}, timeout=120, poll_interval=0.2,
        )
        score >> promote
        """,
    )
    assert "DAG RUN STATE success" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    runs = requests.get(f"{served.base_url}/api/v1/jobs/af-scores/runs", timeout=30).json()["runs"]
    assert [(r["logical_date"], r["status"], r["rows_written"]) for r in runs] == [("2001-06-30", "succeeded", 1)]
    staging = requests.get(f"{served.base_url}/api/v1/environments/staging/deployments/{MODEL}", timeout=30).json()
    assert staging["revision"]["traffic"] == [{"version": 1, "percent": 100}]


def test_a_failed_run_fails_the_task(airflow_env, served):
    done = run_dag(
        airflow_env,
        "slipway_broken",
        """
        SlipwayRunJobOperator(task_id="score", job="af-broken", timeout=120, poll_interval=0.2)
        """,
    )
    assert "DAG RUN STATE failed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    runs = requests.get(f"{served.base_url}/api/v1/jobs/af-broken/runs", timeout=30).json()["runs"]
    assert [(r["logical_date"], r["status"]) for r in runs] == [("2001-06-30", "failed")]
