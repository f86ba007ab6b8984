"""Replies checked against their batch's output schema as they are downloaded.

A provider that reports a request as succeeded has only said that the model answered; whether the
answer is the structured output that was asked for is checked here, for every provider alike:
the reply must be JSON and conform to the schema (:mod:`jsonschema`). One that does not becomes
an ERRORED result (``error.code`` ``output_invalid``, the reply kept in ``text``), is counted as
errored in its job's summary, and is never passed on as a success.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import orjson

from batch_router_core.models.enums import ResultStatus
from batch_router_core.models.results import RequestError, RequestResult
from batch_router_core.models.schema import OutputSchema

__all__ = ["INVALID_OUTPUT", "OutputCheck"]

#: ``RequestError.code`` of a reply that is not JSON or does not conform to the schema.
INVALID_OUTPUT = "output_invalid"


class OutputCheck:
    """Checks each result against ``schema``; counts the checked and the invalid ones."""

    def __init__(self, schema: OutputSchema) -> None:
        import jsonschema

        cls = jsonschema.validators.validator_for(schema.schema)
        self._validator = cls(schema.schema)
        #: succeeded replies checked, and those that failed
        self.checked = 0
        self.invalid = 0

    def result(self, result: RequestResult) -> RequestResult:
        """``result`` with ``parsed`` set, or turned ERRORED with the reason; results that did
        not succeed pass unchanged."""
        if result.status is not ResultStatus.SUCCEEDED:
            return result
        self.checked += 1
        if result.text is None:
            return self._invalid(result, "the reply has no text to parse")
        try:
            value: Any = orjson.loads(result.text)
        except orjson.JSONDecodeError as exc:
            return self._invalid(result, f"the reply is not JSON: {exc}")
        error = next(iter(sorted(self._validator.iter_errors(value), key=_path)), None)
        if error is not None:
            where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.path)
            return self._invalid(
                result, f"the reply does not match the schema at ${where}: {error.message}"
            )
        return attrs.evolve(result, parsed=value)

    async def results(self, results: AsyncIterator[RequestResult]) -> AsyncIterator[RequestResult]:
        """:meth:`result` over a stream."""
        async for r in results:
            yield self.result(r)

    def _invalid(self, result: RequestResult, message: str) -> RequestResult:
        self.invalid += 1
        return attrs.evolve(
            result,
            status=ResultStatus.ERRORED,
            error=RequestError(message=message, code=INVALID_OUTPUT, type="invalid_output"),
        )


def _path(error: Any) -> tuple[str, ...]:
    return tuple(str(p) for p in error.path)
