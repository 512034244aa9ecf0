"""Celery tasks of the session runtime: the reconciler (with the zombie watchdog) and session starts.

Their names keep the `accounts.tasks.` prefix they were published under, so queued tasks still match.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from accounts.runtime.reconciler import sessions_reconcile
from accounts.runtime.supervisor import current_supervisor

logger = logging.getLogger(__name__)


@shared_task(name="accounts.tasks.sessions_reconcile_task", ignore_result=True)
def sessions_reconcile_task() -> dict[str, int]:
    """Beat, every WILDCAT_RECONCILE_SECONDS: start what should run and has no owner; restart zombies."""
    expires = max(settings.WILDCAT_RECONCILE_SECONDS * 3, 5)

    def dispatch(connection_id: int) -> None:
        session_start_task.apply_async(args=[connection_id], queue="sessions", expires=expires)

    return sessions_reconcile(dispatch=dispatch)


@shared_task(name="accounts.tasks.session_start_task", ignore_result=True)
def session_start_task(connection_id: int) -> str:
    """Runs on a `sessions` worker (thread pool): its supervisor takes the lease and hosts the session."""
    supervisor = current_supervisor()
    if supervisor is None:
        logger.warning("session_start_task for %s reached a worker without a session supervisor", connection_id)
        return "no_supervisor"
    outcome = supervisor.session_start(connection_id)
    logger.info("session %s start: %s", connection_id, outcome)
    return outcome
