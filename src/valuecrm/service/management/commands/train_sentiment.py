"""Fit the feedback sentiment model on the packaged corpus, save it under the data dir, print held-out macro-F1."""
from django.core.management.base import BaseCommand

from valuecrm.service.text import sentiment


class Command(BaseCommand):
    help = "Train the feedback sentiment model (zh) and save it under DATA_DIR/models."

    def handle(self, *args, **options):
        model, ev = sentiment.train()
        path = sentiment.save(model)
        self.stdout.write(f"{ev.language}: train {ev.train_size}, held out {ev.held_out_size}, "
                          f"macro-F1 {ev.macro_f1:.3f} → {path}")
