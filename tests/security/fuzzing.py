"""Schemathesis against /api/schema/ on the in-process WSGI app, with a valid key and real ids mixed in.

Shared by the bounded run in the test suite and the long run in bench/security.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, response_schema_conformance


@schemathesis.check
def no_server_error(ctx, response, case) -> bool | None:
    """``not_a_server_error``, except a 503 that says when to try again. The fuzzed connection runs in a
    live session host, so a session call's 502 (refused) or 504 (no answer in time) is a finding too."""
    if response.status_code == 503 and response.headers.get("retry-after"):  # lowercased names
        return True  # a dependency is briefly down, and the answer says when to try again
    if response.status_code >= 500:
        return not_a_server_error(ctx, response, case)
    return None


CHECKS = [no_server_error, response_schema_conformance, ignored_auth]
UNUSED_ID = 2_000_000_000


@dataclass
class FuzzReport:
    operations: int = 0
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    misses: Counter = field(default_factory=Counter)  # 404s by path, to see what the ids reached
    seconds: float = 0.0

    def summary(self) -> str:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        return (
            f"{self.operations} operations, {self.requests} requests in {self.seconds:.0f} s ({statuses}); "
            f"{len(self.failures)} failing operations"
        )


def load_schema():
    from wildcat.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


def _with_real_ids(case, real_ids: dict[str, int], use_real: bool) -> None:
    """Most examples aim at objects that exist, so the checks also see the 2xx paths.

    ``real_ids`` maps a path parameter to an id, or ``"<first path segment>:<parameter>"`` where one
    name means different objects (``id`` is a webhook under /webhooks and a delivery under
    /deliveries). Deletes and logouts keep their generated ids: deleting the shared objects or
    unlinking the shared connection early would turn the rest of the run into 404s and 409s.
    """
    if not case.path_parameters:
        return
    destroys = case.method.upper() == "DELETE" or case.operation.path.endswith("/logout")
    segment = case.operation.path.removeprefix("/api/v1/").split("/", 1)[0]
    for name in list(case.path_parameters):
        real = real_ids.get(f"{segment}:{name}", real_ids.get(name))
        if real is None:
            continue
        if destroys:
            # Hypothesis favours small integers, which are exactly the ids of a fresh database.
            if str(case.path_parameters[name]) == str(real):
                case.path_parameters[name] = UNUSED_ID
        elif use_real:
            case.path_parameters[name] = real


def fuzz(*, secret: str, real_ids: dict[str, int], max_examples: int) -> FuzzReport:
    """Run every operation of the schema; failures are collected per operation, not raised."""
    report = FuzzReport()
    started = time.monotonic()
    schema = load_schema()  # sets Django up again, which resets logger levels: adjust them after
    # Every 4xx would otherwise be a warning line; thousands of them drown the report.
    request_logger = logging.getLogger("django.request")
    previous_level = request_logger.level
    request_logger.setLevel(logging.ERROR)
    try:
        _fuzz_operations(report, schema, secret=secret, real_ids=real_ids, max_examples=max_examples)
    finally:
        request_logger.setLevel(previous_level)
    report.seconds = time.monotonic() - started
    return report


def _fuzz_operations(report: FuzzReport, schema, *, secret: str, real_ids: dict[str, int], max_examples: int) -> None:
    headers = {"Authorization": f"Bearer {secret}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        report.operations += 1
        # Valid requests and requests that break the schema on purpose (wrong types, missing fields).
        cases = st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE))

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        # Mostly real ids (Hypothesis favours False for plain booleans).
        @given(case=cases, use_real=st.booleans().map(lambda flip: not flip))
        def run(case, use_real: bool) -> None:
            _with_real_ids(case, real_ids, use_real)
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            report.requests += 1
            report.statuses[response.status_code] += 1
            if response.status_code == 404 and case.path_parameters:
                report.misses[f"{case.method} {case.formatted_path}"] += 1

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # collected: one run shows every failing operation
            report.failures[operation.label] = "".join(traceback.format_exception_only(exc))[-3000:]
