"""WhatsApp connections, their timeline, and the worker nodes that host sessions."""

from __future__ import annotations

from django.db import models


class WorkerNode(models.Model):
    """A Celery worker process that reports itself alive; session workers also report their load."""

    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.IntegerField()
    queues = models.CharField(max_length=200, blank=True)
    session_count = models.IntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    last_heartbeat = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
