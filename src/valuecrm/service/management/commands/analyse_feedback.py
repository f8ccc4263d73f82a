"""Analyse the stored customer-written texts that have no analysis yet or one of an older
model version (sentiment, keywords, topic), in batches; then refresh the topics."""
from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from valuecrm.common.events import ActorKind, acting
from valuecrm.service import feedback


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise CommandError("--since: enter a date as YYYY-MM-DD") from None
    return timezone.make_aware(datetime.combine(day, time.min))


class Command(BaseCommand):
    help = "Analyse customer feedback texts (ticket descriptions, customer messages, survey comments)."

    def add_arguments(self, parser):
        parser.add_argument("--since", help="only texts written on or after this date (YYYY-MM-DD)")
        parser.add_argument("--batch", type=int, default=feedback.BATCH, help="texts per batch")

    def handle(self, *args, **options):
        since = _since(options.get("since"))
        if options["batch"] < 1:
            raise CommandError("--batch: enter a number of at least 1")
        with acting(ActorKind.SYSTEM, "analyse_feedback"):
            done = feedback.feedback_backfill(since=since, batch=options["batch"])
        self.stdout.write(f"analysed {done} texts")
