"""The Slipway client: the registry, inference, promotions, traffic and batch jobs over HTTP."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import pandas as pd
import requests

from .errors import SlipwayError
from .tensors import TensorSpec, input_arrays, outputs_frame, v2_inputs

DEFAULT_URL = "http://127.0.0.1:8080"
CLIENT_NAME = "slipway-python"
#: Promotion statuses after which nothing more happens on their own.
PROMOTION_FINAL = frozenset({"FAILED", "REJECTED", "SUCCEEDED", "ROLLED_BACK", "ABORTED"})
#: Run statuses after which a run does not change.
RUN_FINAL = frozenset({"succeeded", "failed", "cancelled"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAGE_SIZE = 1000


def _segment(value: str | int) -> str:
    """One path segment, percent-encoded; the only way a caller's value enters a URL path.

    A name that is empty, ``.`` or ``..``, or not a string or integer, is refused before a request is
    sent, so no value can step out of the route it was meant for.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SlipwayError("INVALID_ARGUMENT", f"expected a name or number, got {type(value).__name__}")
    text = str(value)
    if text in ("", ".", ".."):
        raise SlipwayError("INVALID_ARGUMENT", f"{text!r} is not a name; expected a non-empty name")
    return quote(text, safe="")


def _path(*parts: str | int) -> str:
    """``/api/v1/models/{name}/...``: literal parts are strings starting with ``/``, others are segments."""
    out = []
    for part in parts:
        out.append(part if isinstance(part, str) and part.startswith("/") else "/" + _segment(part))
    return "".join(out)


def _date(value: str | datetime.date, field: str) -> str:
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.match(value):
        return value
    raise SlipwayError("INVALID_ARGUMENT", f"{field} must be a date or a 'YYYY-MM-DD' string, got {value!r}")


def _drop_none(body: Mapping[str, Any]) -> dict[str, Any]:
    """Leave out arguments left at None: the server refuses nulls; an absent field gets its default."""
    return {key: value for key, value in body.items() if value is not None}


class Client:
    """A client for one Slipway server.

    Args:
        url: The server, e.g. ``http://127.0.0.1:8080``. Default: ``SLIPWAY_SERVER``, else
            ``http://127.0.0.1:8080``.
        token: An API token, sent as ``Authorization: Bearer``. Default: ``SLIPWAY_TOKEN``, else none
            (a server in local mode needs none).
        timeout: Seconds to wait for each HTTP answer (uploads and promotions included).

    Every method raises :class:`SlipwayError`: with the server's code, message and request id when the
    server refused; with code ``UNAVAILABLE`` when it could not be reached.
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        url = url if url is not None else os.environ.get("SLIPWAY_SERVER") or DEFAULT_URL
        token = token if token is not None else os.environ.get("SLIPWAY_TOKEN") or None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise SlipwayError(
                "INVALID_ARGUMENT",
                f"server URL {url!r} must be http(s)://host[:port][/prefix] without a query",
            )
        if parts.username or parts.password:
            raise SlipwayError(
                "INVALID_ARGUMENT", "the server URL must not carry credentials; pass token= instead"
            )
        if token is not None and (not token or any(ch.isspace() for ch in token) or not token.isprintable()):
            raise SlipwayError("INVALID_ARGUMENT", "the token must be one word of printable characters")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise SlipwayError(
                "INVALID_ARGUMENT", f"timeout must be a positive number of seconds, got {timeout!r}"
            )
        self.url = url.rstrip("/")
        self.timeout = float(timeout)
        self._session = requests.Session()
        # Names the caller as a program: the server takes multipart uploads only from requests that a
        # browser could not send without asking first.
        self._session.headers["X-Slipway-Client"] = CLIENT_NAME
        self._session.headers["Accept"] = "application/json"
        if token is not None:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:  # never shows the token
        return f"Client(url={self.url!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the one way a request is sent -----------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        files: list[tuple[str, tuple[Any, ...]]] | None = None,
    ) -> Any:
        """Send one request; answer its JSON body (``None`` for 204), or raise :class:`SlipwayError`."""
        headers = {}
        data = None
        if body is not None:
            try:
                data = json.dumps(body, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as error:
                raise SlipwayError(
                    "INVALID_ARGUMENT", f"the request body cannot be sent as JSON: {error}"
                ) from None
            headers["Content-Type"] = "application/json"
        query = {key: value for key, value in (params or {}).items() if value is not None}
        try:
            response = self._session.request(
                method,
                self.url + path,
                data=data,
                params=query or None,
                files=files,
                headers=headers,
                timeout=self.timeout,
            )
        except requests.RequestException as error:
            raise SlipwayError(
                "UNAVAILABLE",
                f"cannot reach the Slipway server at {self.url} ({type(error).__name__}: {error}); "
                "is it running? "
                "Set url= or SLIPWAY_SERVER.",
            ) from None
        request_id = response.headers.get("x-request-id")
        if response.status_code == 204:
            return None
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if response.ok:
            if parsed is None:
                raise SlipwayError(
                    "UNAVAILABLE",
                    f"{method} {path} answered {response.status_code} without a JSON body; "
                    f"is {self.url} a Slipway server?",
                    request_id,
                    response.status_code,
                )
            return parsed
        if (
            isinstance(parsed, dict)
            and isinstance(parsed.get("code"), str)
            and isinstance(parsed.get("error"), str)
        ):
            details = parsed.get("details")
            raise SlipwayError(
                parsed["code"],
                parsed["error"],
                parsed.get("request_id") if isinstance(parsed.get("request_id"), str) else request_id,
                response.status_code,
                details if isinstance(details, dict) else None,
            )
        raise SlipwayError(
            "UNAVAILABLE",
            f"{method} {path} answered {response.status_code} without Slipway's error body: "
            f"{response.text[:200]!r}",
            request_id,
            response.status_code,
        )

    def _pages(
        self, path: str, key: str, params: Mapping[str, Any] | None = None, limit: int | None = None
    ) -> list[dict]:
        """Every item of a paged list, following ``next_page_token``; at most ``limit`` items when given."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise SlipwayError("INVALID_ARGUMENT", f"limit must be a positive integer, got {limit!r}")
        items: list[dict] = []
        token = None
        while True:
            size = _PAGE_SIZE if limit is None else min(_PAGE_SIZE, limit - len(items))
            page = self._request("GET", path, params={**(params or {}), "limit": size, "page_token": token})
            items.extend(page[key])
            token = page.get("next_page_token")
            if not token or (limit is not None and len(items) >= limit):
                return items

    # --- models, versions, aliases ---------------------------------------------------------------

    def models(self) -> list[dict]:
        """Every model, by name."""
        return self._pages("/api/v1/models", "models")

    def model(self, name: str) -> dict:
        """One model: description, tags, ``latest_version``, aliases."""
        return self._request("GET", _path("/api/v1/models", name))

    def create_model(self, name: str, description: str | None = None) -> dict:
        """Create a model; ``ALREADY_EXISTS`` if the name is taken."""
        return self._request(
            "POST", "/api/v1/models", body=_drop_none({"name": name, "description": description})
        )

    def versions(self, name: str) -> list[dict]:
        """Every version of a model, newest first."""
        return self._pages(_path("/api/v1/models", name, "/versions"), "versions")

    def version(self, name: str, version: int) -> dict:
        """One version: status, signature, inputs, metrics, tags, lineage, sample."""
        return self._request("GET", _path("/api/v1/models", name, "/versions", version))

    def set_alias(self, name: str, alias: str, version: int) -> dict:
        """Point ``alias`` at a READY version; the answer has ``previous_version``."""
        return self._request(
            "PUT", _path("/api/v1/models", name, "/aliases", alias), body={"version": version}
        )

    def delete_alias(self, name: str, alias: str) -> None:
        """Delete an alias; ``ALIAS_NOT_FOUND`` if there is none."""
        self._request("DELETE", _path("/api/v1/models", name, "/aliases", alias))

    def upload(
        self,
        name: str,
        model: bytes,
        manifest: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> dict:
        """Upload ONNX bytes as a new version of an existing model, as they are; answers the READY version.

        :meth:`push` converts and checks a model first, then calls this.
        """
        if not isinstance(model, (bytes, bytearray)):
            raise SlipwayError("INVALID_ARGUMENT", f"model must be ONNX bytes, got {type(model).__name__}")
        parts: list[tuple[str, tuple[Any, ...]]] = []
        if manifest is not None:
            try:
                text = json.dumps(manifest, allow_nan=False)
            except (TypeError, ValueError) as error:
                raise SlipwayError(
                    "INVALID_ARGUMENT", f"the manifest cannot be sent as JSON: {error}"
                ) from None
            parts.append(("manifest", (None, text)))
        if description is not None:
            parts.append(("description", (None, description)))
        # The server refuses the upload unless the bytes it stored hash to this.
        parts.append(("sha256", (None, hashlib.sha256(model).hexdigest())))
        parts.append(("model", ("model.onnx", bytes(model), "application/octet-stream")))
        return self._request("POST", _path("/api/v1/models", name, "/versions"), files=parts)

    def push(
        self,
        model: Any,
        *,
        name: str,
        sample: pd.DataFrame,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        tolerance: float = 1e-5,
    ) -> dict:
        """Convert a model to ONNX, check the conversion on ``sample``, and upload it as a new version.

        ``model`` is a fitted scikit-learn estimator or pipeline, a LightGBM model, an XGBoost model, an
        ONNX file's path, or ONNX bytes. The ONNX graph is run with onnxruntime on every row of ``sample``
        and compared with the model's own ``predict_proba`` (classifiers) or ``predict``; a difference
        above ``tolerance`` raises ``CONVERSION_MISMATCH`` and nothing is uploaded. The manifest carries
        the sample's first rows, ``metrics``, ``tags`` and, for each input whose sample column has
        missing values the model was checked on, ``nullable: true``. The model is created if it does
        not exist. Answers the READY version (dev deploys it at once where ``auto_deploy`` is on).
        Needs the ``convert`` extra (``pip install 'slipway[convert]'``).
        """
        from .convert import prepare

        prepared = prepare(model, sample=sample, tolerance=tolerance)
        manifest = prepared.manifest(metrics=metrics, tags=tags, description=description)
        try:
            self.create_model(name)
        except SlipwayError as error:
            if error.code != "ALREADY_EXISTS":
                raise
        return self.upload(name, prepared.onnx, manifest)

    # --- inference -------------------------------------------------------------------------------

    def _inference_prefix(self, env: str | None) -> str:
        return "" if env is None else _path("/envs", env)

    def signature(self, name: str, env: str | None = None, version: int | str | None = None) -> dict:
        """The V2 metadata (inputs, outputs) of the version that answers, as ``predict`` would reach it."""
        path = self._inference_prefix(env) + _path("/v2/models", name)
        if version is not None:
            path += _path("/versions", version)
        return self._request("GET", path)

    def predict(
        self, name: str, rows: pd.DataFrame, env: str | None = None, version: int | str | None = None
    ) -> pd.DataFrame:
        """Predict a DataFrame's rows with the Open Inference Protocol (V2).

        Each model input is read from the column of its name (missing values become null, which the
        server accepts for inputs the version marks nullable); a model with a single ``[N, k]`` input
        also takes a frame of exactly ``k`` columns. ``env`` selects ``/envs/{env}`` (default: the
        server's own environment); ``version`` a version number or tag (default: the traffic split).
        Answers one column per output, indexed like ``rows``: a value per row for ``[N]`` outputs, a
        list per row for ``[N, k]`` ones (a classifier's ``probabilities``).
        """
        metadata = self.signature(name, env, version)
        inputs = [TensorSpec.from_wire(spec) for spec in metadata["inputs"]]
        arrays = input_arrays(rows, inputs)
        path = self._inference_prefix(env) + _path("/v2/models", name)
        if version is not None:
            path += _path("/versions", version)
        answer = self._request("POST", path + "/infer", body={"inputs": v2_inputs(arrays, inputs)})
        return outputs_frame(answer["outputs"], len(rows), rows.index)

    # --- promotions, traffic, rollback -----------------------------------------------------------

    def promote(
        self,
        name: str,
        version: int,
        env: str,
        *,
        canary: bool | None = None,
        confirm: str | None = None,
        reason: str | None = None,
        allow_schema_change: bool = False,
    ) -> dict:
        """Promote (or deploy) a version into ``env`` through its gates; answers the promotion.

        Its ``status`` is ``SUCCEEDED``, ``ROLLING_OUT`` (a canary) or ``AWAITING_APPROVAL``. A failed
        gate raises ``GATE_FAILED`` with every gate result in ``details``. ``confirm`` is the
        environment's name, where its policy asks for it.
        """
        body = _drop_none(
            {"model": name, "version": version, "canary": canary, "confirm": confirm, "reason": reason}
        )
        if allow_schema_change:
            body["allow_schema_change"] = True
        return self._request("POST", _path("/api/v1/environments", env, "/promotions"), body=body)

    def _promotion_action(self, promotion_id: str, action: str, reason: str | None) -> dict:
        return self._request(
            "POST",
            _path("/api/v1/promotions", promotion_id, "/" + action),
            body=_drop_none({"reason": reason}),
        )

    def approve(self, promotion_id: str, reason: str | None = None) -> dict:
        """Approve a promotion that is ``AWAITING_APPROVAL``; it then deploys as planned."""
        return self._promotion_action(promotion_id, "approve", reason)

    def reject(self, promotion_id: str, reason: str | None = None) -> dict:
        """Reject a promotion that is ``AWAITING_APPROVAL``; nothing changes in service."""
        return self._promotion_action(promotion_id, "reject", reason)

    def promotion(self, promotion_id: str) -> dict:
        """A promotion with its gate results."""
        return self._request("GET", _path("/api/v1/promotions", promotion_id))

    def wait_promotion(self, promotion_id: str, timeout: float = 600.0, poll: float = 1.0) -> dict:
        """Poll a promotion until it is final or ``AWAITING_APPROVAL``; answers it.

        Raises ``DEADLINE_EXCEEDED`` when ``timeout`` seconds pass first. A ``FAILED`` or ``ROLLED_BACK``
        promotion is returned, not raised: its ``failure`` says why.
        """
        return self._wait(
            lambda: self.promotion(promotion_id),
            lambda p: p["status"] in PROMOTION_FINAL or p["status"] == "AWAITING_APPROVAL",
            f"promotion {promotion_id}",
            timeout,
            poll,
        )

    def traffic(
        self,
        name: str,
        env: str,
        split: Mapping[int, int],
        tags: Mapping[str, int] | None = None,
        shadow: Mapping[str, int] | bool | None = None,
        reason: str | None = None,
    ) -> dict:
        """Set the traffic split ``{version: percent}`` (in routing order) as a new revision.

        ``tags`` (name → version) replace the revision's tags when given; ``shadow``
        (``{"version": v, "percent": p}``) replaces its mirroring, ``False`` stops it, ``None`` keeps
        it. Answers the new revision.
        """
        if not isinstance(split, Mapping) or not split:
            raise SlipwayError("INVALID_ARGUMENT", "split must be a non-empty mapping of version to percent")
        body: dict[str, Any] = {
            "traffic": [{"version": version, "percent": percent} for version, percent in split.items()]
        }
        if tags is not None:
            body["tags"] = dict(tags)
        if shadow is False:
            body["shadow"] = None
        elif shadow is not None and shadow is not True:
            body["shadow"] = dict(shadow)
        elif shadow is True:
            raise SlipwayError(
                "INVALID_ARGUMENT", 'shadow must be {"version": v, "percent": p}, False or None'
            )
        if reason is not None:
            body["reason"] = reason
        return self._request(
            "PUT", _path("/api/v1/environments", env, "/deployments", name, "/traffic"), body=body
        )

    def rollback(
        self, name: str, env: str, to_revision: int | None = None, reason: str | None = None
    ) -> dict:
        """Restore an earlier revision's routing (default: the newest whose traffic differs).

        Answers the new revision.
        """
        return self._request(
            "POST",
            _path("/api/v1/environments", env, "/deployments", name, "/rollback"),
            body=_drop_none({"to_revision": to_revision, "reason": reason}),
        )

    def status(self, env: str | None = None) -> dict:
        """Every deployment's revision in force, health and promotions in progress (``deployments``)."""
        return self._request("GET", "/api/v1/deployments", params={"environment": env})

    def history(self, name: str, env: str, limit: int | None = None) -> list[dict]:
        """A deployment's revisions, newest first; at most ``limit`` of them."""
        return self._pages(
            _path("/api/v1/environments", env, "/deployments", name, "/revisions"), "revisions", limit=limit
        )

    # --- batch jobs ------------------------------------------------------------------------------

    def run_job(self, job: str, date: str | datetime.date) -> dict:
        """Queue a run of ``job`` for the logical date ``date``; answers the queued run."""
        return self._request(
            "POST", _path("/api/v1/jobs", job, "/runs"), body={"logical_date": _date(date, "date")}
        )

    def run(self, job: str, run_id: str | int) -> dict:
        """One run, by id or number."""
        return self._request("GET", _path("/api/v1/jobs", job, "/runs", run_id))

    def wait_run(self, job: str, run_id: str | int, timeout: float = 3600.0, poll: float = 1.0) -> dict:
        """Poll a run until it is ``succeeded``, ``failed`` or ``cancelled``; answers it.

        A failed run is returned, not raised (its ``error`` says why); ``DEADLINE_EXCEEDED`` is raised
        when ``timeout`` seconds pass first.
        """
        return self._wait(
            lambda: self.run(job, run_id),
            lambda r: r["status"] in RUN_FINAL,
            f"run {run_id} of job {job}",
            timeout,
            poll,
        )

    def backfill(
        self,
        job: str,
        start: str | datetime.date,
        end: str | datetime.date,
        reprocess: str = "none",
        backwards: bool = False,
    ) -> dict:
        """Queue one run per date from ``start`` to ``end``, included: ``{"queued": [...], "skipped": [...]}``

        ``reprocess``: ``none``, ``failed`` or ``completed`` (which dates with a finished run run again).
        """
        body = {
            "from": _date(start, "start"),
            "to": _date(end, "end"),
            "reprocess": reprocess,
            "backwards": backwards,
        }
        return self._request("POST", _path("/api/v1/jobs", job, "/backfill"), body=body)

    def runs(self, job: str, status: str | None = None, limit: int | None = None) -> list[dict]:
        """A job's runs, newest first, optionally of one ``status``; at most ``limit`` of them."""
        return self._pages(_path("/api/v1/jobs", job, "/runs"), "runs", {"status": status}, limit)

    # --- waiting ---------------------------------------------------------------------------------

    def _wait(
        self,
        fetch: Callable[[], dict],
        done: Callable[[dict], bool],
        what: str,
        timeout: float,
        poll: float,
    ) -> dict:
        if not (
            isinstance(timeout, (int, float)) and timeout >= 0 and isinstance(poll, (int, float)) and poll > 0
        ):
            raise SlipwayError("INVALID_ARGUMENT", "timeout must be >= 0 and poll > 0 seconds")
        deadline = time.monotonic() + timeout
        while True:
            current = fetch()
            if done(current):
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                raise SlipwayError(
                    "DEADLINE_EXCEEDED",
                    f"{what} is still {current.get('status')} after {timeout:g} s",
                    details={"status": current.get("status")},
                )
            time.sleep(min(poll, left))
