"""Apache Airflow operators for Slipway: run a batch scoring job for the DAG run's date, promote a version.

Install with the ``airflow`` extra (``pip install "slipway[airflow]"``). The operators reach Slipway through
an Airflow Connection (``slipway_default`` unless told otherwise): its host (with scheme and port, or
``schema`` for the scheme) is the server, its password the API token. They are thin: the work is
:class:`slipway.Client`'s, so errors carry Slipway's code, message and request id.

.. code-block:: python

    from slipway.airflow import SlipwayPromoteOperator, SlipwayRunJobOperator

    score = SlipwayRunJobOperator(task_id="score", job="flight-delay-prod")
    promote = SlipwayPromoteOperator(
        task_id="promote", model="flight-delay", version="{{ params.version }}", environment="staging"
    )
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from airflow.exceptions import AirflowException
    from airflow.sdk import BaseHook, BaseOperator
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        'slipway.airflow needs Apache Airflow 3: pip install "slipway[airflow]"'
    ) from missing

from .client import Client

# Promotion statuses that end a promotion without its version serving as asked.
_PROMOTION_FAILED = {"FAILED", "ROLLED_BACK", "ABORTED", "REJECTED"}


class SlipwayHook(BaseHook):
    """A :class:`slipway.Client` for the server an Airflow Connection names."""

    conn_name_attr = "slipway_conn_id"
    default_conn_name = "slipway_default"
    conn_type = "http"
    hook_name = "Slipway"

    def __init__(self, slipway_conn_id: str = default_conn_name, timeout: float = 30.0) -> None:
        super().__init__()
        self.slipway_conn_id = slipway_conn_id
        self.timeout = timeout

    def get_conn(self) -> Client:
        connection = self.get_connection(self.slipway_conn_id)
        host = connection.host or "127.0.0.1"
        if "://" not in host:
            host = f"{connection.schema or 'http'}://{host}"
        if connection.port:
            host = f"{host.rstrip('/')}:{connection.port}"
        return Client(url=host, token=connection.password or None, timeout=self.timeout)


class SlipwayRunJobOperator(BaseOperator):
    """Runs a Slipway batch job for the DAG run's logical date, and (by default) waits for the run.

    The run's date is ``logical_date`` (``ds``, YYYY-MM-DD) unless ``date`` is given (templated). The task
    fails when the run fails or is cancelled, with the run's error; it returns the run (its id, number,
    rows read and written, the model version it scored with), which goes to XCom.
    """

    template_fields: Sequence[str] = ("job", "date")

    def __init__(
        self,
        *,
        job: str,
        date: str | None = None,
        slipway_conn_id: str = SlipwayHook.default_conn_name,
        wait: bool = True,
        timeout: float = 3600.0,
        poll_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.date = date
        self.slipway_conn_id = slipway_conn_id
        self.wait = wait
        self.timeout = timeout
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> dict:
        client = SlipwayHook(self.slipway_conn_id).get_conn()
        date = self.date or context["ds"]
        run = client.run_job(self.job, date)
        self.log.info("Slipway queued run %s of job %s for %s", run["id"], self.job, date)
        if not self.wait:
            return run
        run = client.wait_run(self.job, run["id"], timeout=self.timeout, poll=self.poll_interval)
        if run["status"] != "succeeded":
            raise AirflowException(
                f"Slipway run {run['id']} of job {self.job} for {date} ended {run['status']}: {run.get('error')}"
            )
        self.log.info(
            "Slipway run %s succeeded: %s rows written with version %s",
            run["id"],
            run.get("rows_written"),
            run.get("model_version"),
        )
        return run


class SlipwayPromoteOperator(BaseOperator):
    """Promotes a version of a model into an environment, through the environment's gates.

    ``version`` is templated (pass ``"{{ ti.xcom_pull(...) }}"`` or a param). With ``approve=True`` a
    promotion that waits for approval is approved with this connection's token (which needs the
    approver role, and must not be the requester's where the policy forbids self-approval). With
    ``wait`` (the default) the task waits until the promotion ends (a canary: until its last step), and
    fails unless it SUCCEEDED; it returns the promotion.
    """

    template_fields: Sequence[str] = ("model", "version", "environment", "reason")

    def __init__(
        self,
        *,
        model: str,
        version: int | str,
        environment: str,
        confirm: str | None = None,
        canary: bool | None = None,
        reason: str | None = None,
        approve: bool = False,
        wait: bool = True,
        slipway_conn_id: str = SlipwayHook.default_conn_name,
        timeout: float = 3600.0,
        poll_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.version = version
        self.environment = environment
        self.confirm = confirm
        self.canary = canary
        self.reason = reason
        self.approve = approve
        self.wait = wait
        self.slipway_conn_id = slipway_conn_id
        self.timeout = timeout
        self.poll_interval = poll_interval

    def execute(self, context: Any) -> dict:
        client = SlipwayHook(self.slipway_conn_id).get_conn()
        promotion = client.promote(
            self.model,
            int(self.version),
            self.environment,
            canary=self.canary,
            confirm=self.confirm,
            reason=self.reason or f"Airflow {context['dag'].dag_id} {context['run_id']}",
        )
        self.log.info("Slipway promotion %s is %s", promotion["id"], promotion["status"])
        if not self.wait:
            return promotion
        if promotion["status"] == "AWAITING_APPROVAL" and self.approve:
            promotion = client.approve(promotion["id"], reason=f"approved by Airflow {context['run_id']}")
        promotion = client.wait_promotion(promotion["id"], timeout=self.timeout, poll=self.poll_interval)
        status = promotion["status"]
        if status == "AWAITING_APPROVAL":
            raise AirflowException(
                f"Slipway promotion {promotion['id']} waits for an approval; approve it "
                "(slipway approve, or approve=True with an approver's token)"
            )
        if status in _PROMOTION_FAILED:
            raise AirflowException(
                f"Slipway promotion {promotion['id']} of {self.model}/{self.version} to "
                f"{self.environment} ended {status}: {promotion.get('failure')}"
            )
        self.log.info("Slipway promotion %s succeeded", promotion["id"])
        return promotion
