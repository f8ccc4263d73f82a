from django.db import models
from django.utils import timezone


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OutboxEvent(models.Model):
    """A domain event, written in the same transaction as the change it reports.

    Delivery happens after commit; a row whose `dispatched_at` is still empty a
    minute later is re-delivered by the worker (see common.events.outbox).
    """

    seq = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    name = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict)
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=20)
    # Plain ids, not foreign keys: an event outlives the user or token that caused it.
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    token_id = models.BigIntegerField(null=True, blank=True)
    origin = models.CharField(max_length=20)
    causation_id = models.UUIDField(null=True, blank=True)
    depth = models.PositiveSmallIntegerField(default=0)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["dispatched_at", "seq"], name="outbox_undispatched")]

    def __str__(self):
        return f"{self.name} {self.event_id}"


class EventReceipt(models.Model):
    """Subscriber `subscriber` has handled `event` (written with the subscriber's own writes)."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="receipts")
    subscriber = models.CharField(max_length=64)
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "event"], name="event_receipt_once")]
