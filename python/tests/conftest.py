"""Session fixtures: one real Slipway server for all interop tests, plus reference models.

The server runs exactly as a user would start it (``node bin/slipway.js serve``) on a
free loopback port with a throwaway data directory. Its stderr is attached to the
report of any failing test that used it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from support import PENGUIN_TRAIN_SCRIPT, REPO_ROOT, SlipwayClient, load_script

SERVER_SCRIPT = REPO_ROOT / "bin" / "slipway.js"
STARTUP_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 15.0
LOG_TAIL_BYTES = 8_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    if not path.exists():
        return ""
    data = path.read_bytes()
    text = data[-limit:].decode("utf-8", errors="replace")
    return ("[...]\n" if len(data) > limit else "") + text


@dataclass
class SlipwayServer:
    host: str
    port: int
    grpc_port: int
    data_dir: Path
    stdout_path: Path
    stderr_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client(self) -> SlipwayClient:
        return SlipwayClient(self.base_url)

    def logs(self) -> str:
        return f"--- stderr ---\n{tail(self.stderr_path)}\n--- stdout ---\n{tail(self.stdout_path)}"


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (Slipway drains and exits), then SIGKILL the process group if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=SHUTDOWN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running_server(root: Path, env: str | None) -> Iterator[SlipwayServer]:
    """``slipway serve`` in local mode (no tokens) on a free loopback port, data in ``root``.

    ``env`` names the one environment it serves (its plain inference paths); ``None`` starts the
    all-in-one server, which serves every environment and runs the jobs scheduler.
    """
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; Slipway needs Node 20")
    if not SERVER_SCRIPT.is_file():
        pytest.fail(f"{SERVER_SCRIPT} is missing; run `make build` first")

    server = SlipwayServer(
        host="127.0.0.1",
        port=free_port(),
        grpc_port=free_port(),
        data_dir=root / "data",
        stdout_path=root / "server.stdout.log",
        stderr_path=root / "server.stderr.log",
    )
    server.data_dir.mkdir()
    env_vars = {
        **os.environ,
        "SLIPWAY_HOST": server.host,
        "SLIPWAY_PORT": str(server.port),
        # The Open Inference Protocol over gRPC too, for tritonclient.grpc.
        "SLIPWAY_GRPC_PORT": str(server.grpc_port),
        "SLIPWAY_DATA_DIR": str(server.data_dir),
        "SLIPWAY_AUTH": "off",
        "SLIPWAY_CONFIG_FILE": str(server.data_dir / "slipway.yaml"),
    }
    env_vars.pop("SLIPWAY_ENV", None)
    if env is not None:
        env_vars["SLIPWAY_ENV"] = env
    with open(server.stdout_path, "wb") as stdout, open(server.stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            [node, str(SERVER_SCRIPT), "serve"],
            cwd=REPO_ROOT,
            env=env_vars,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group, so teardown reaches any children
        )
    try:
        wait_until_healthy(server, process)
        yield server
    finally:
        stop(process)


@pytest.fixture(scope="session")
def slipway(tmp_path_factory) -> Iterator[SlipwayServer]:
    """The server most interop tests share: serving dev, where every push is deployed at once."""
    with running_server(tmp_path_factory.mktemp("slipway"), "dev") as server:
        yield server


@pytest.fixture(scope="session")
def slipway_all(tmp_path_factory) -> Iterator[SlipwayServer]:
    """An all-in-one server: every environment (dev, staging, prod) and the jobs scheduler."""
    with running_server(tmp_path_factory.mktemp("slipway-all"), None) as server:
        yield server


def wait_until_healthy(server: SlipwayServer, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Slipway exited with code {process.returncode} during startup\n{server.logs()}")
        try:
            response = requests.get(f"{server.base_url}/health", timeout=2)
            if response.status_code == 200:
                return
            last_problem = f"GET /health answered {response.status_code}: {response.text[:200]}"
        except requests.RequestException as error:
            last_problem = f"GET /health failed: {error}"
        time.sleep(0.25)
    stop(process)
    pytest.fail(f"Slipway was not healthy within {STARTUP_TIMEOUT:.0f} s ({last_problem})\n{server.logs()}")


@pytest.fixture(scope="session")
def client(slipway: SlipwayServer) -> SlipwayClient:
    return slipway.client


@dataclass
class PenguinExample:
    """The demo model retrained from scratch, with the scikit-learn pipeline it came from."""

    model_bytes: bytes
    manifest: dict
    pipeline: object
    features: object  # pandas.DataFrame, one column per model input
    labels: object  # pandas.Series
    inputs: list[str]


@pytest.fixture(scope="session")
def penguin_example(tmp_path_factory) -> PenguinExample:
    out = tmp_path_factory.mktemp("penguin-species")
    subprocess.run([sys.executable, str(PENGUIN_TRAIN_SCRIPT), "--out", str(out)], check=True, cwd=REPO_ROOT)
    train = load_script(PENGUIN_TRAIN_SCRIPT)
    features, labels = train.load_penguins(train.DEFAULT_DATA)
    pipeline, _ = train.train(features, labels)
    return PenguinExample(
        model_bytes=(out / "model.onnx").read_bytes(),
        manifest=json.loads((out / "manifest.json").read_text(encoding="utf-8")),
        pipeline=pipeline,
        features=features,
        labels=labels,
        inputs=list(train.INPUTS),
    )


@pytest.fixture(scope="session")
def penguin_species(client: SlipwayClient, penguin_example: PenguinExample) -> dict:
    """penguin-species registered and served; returns the push response."""
    client.ensure_model("penguin-species", penguin_example.manifest["description"])
    response = client.push_version("penguin-species", penguin_example.model_bytes, penguin_example.manifest)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the server's logs to the report of any failing test that talked to it."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name in ("slipway", "slipway_all"):
            server = item.funcargs.get(name) if name in item.fixturenames else None
            if isinstance(server, SlipwayServer):
                report.sections.append((f"Slipway server logs ({name})", server.logs()))
