"""The one exception the Slipway client raises."""

from __future__ import annotations

from typing import Any

#: Codes the client raises on its own, without an answer from the server. Every other code is the
#: server's (docs/errors.md).
#: ``UNAVAILABLE``: the server could not be reached, or answered with something that is not Slipway's
#: error envelope (a proxy's 502 page, a connection reset). ``INVALID_ARGUMENT``: a call's argument was
#: refused before any request was sent. ``CONVERSION_MISMATCH``: the ONNX export of a model disagrees
#: with the model on the sample. ``DEADLINE_EXCEEDED``: a ``wait_*`` call ran out of time.
CLIENT_CODES = frozenset({"UNAVAILABLE", "INVALID_ARGUMENT", "CONVERSION_MISMATCH", "DEADLINE_EXCEEDED"})


class SlipwayError(Exception):
    """An error from Slipway, or from the client on its behalf.

    Attributes:
        code: The stable error code (``MODEL_NOT_FOUND``, ``GATE_FAILED``, ``UNAVAILABLE``...). Branch
            on it, never on the message.
        message: What was wrong and what was expected, as the server (or the client) wrote it.
        request_id: The server's request id (its log lines and audit events carry it); ``None`` when no
            request reached the server.
        status: The HTTP status of the answer; ``None`` for errors raised before or without an answer.
        details: The error's ``details`` object (for ``GATE_FAILED``: every gate result); ``{}`` if none.
    """

    def __init__(
        self,
        code: str,
        message: str,
        request_id: str | None = None,
        status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status = status
        self.details: dict[str, Any] = dict(details) if details else {}

    def __str__(self) -> str:
        where = f", request {self.request_id}" if self.request_id else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"SlipwayError(code={self.code!r}, message={self.message!r}, request_id={self.request_id!r}, "
            f"status={self.status!r}, details={self.details!r})"
        )

    def __reduce__(self):  # keeps the fields when pickled (Airflow and multiprocessing pickle errors)
        return (type(self), (self.code, self.message, self.request_id, self.status, self.details))
