"""Duplicate pairs and merges.

A merge deletes the merged-away customer after writing its full state (and the
survivor's) into the CustomerMerge row, together with the primary keys of every
related row it moved. That snapshot is what makes "undo merge" exact.

The tables keep the names they had in the integrations app (integrations_*): the split
moved the models, not the rows (migrations/0001_initial.py).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from valuecrm.common.encryption import EncryptedJSONField

# The shared value each reason names (a phone, an e-mail, a birthday …) is stored encrypted.
EVIDENCE_PATHS = ("reasons.*.detail",)


class CandidateStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("duplicate candidate", "Open")
    DISMISSED = "dismissed", _("Not a duplicate")


class DuplicateCandidate(models.Model):
    """Two existing customers that look like the same one; customer_a has the lower id."""

    customer_a = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    score = models.PositiveSmallIntegerField(_("score"), default=0)  # points clamped to 0–100
    # Evidence points before clamping: orders the pairs that all reach 100.
    points = models.SmallIntegerField(_("evidence points"), default=0)
    # The fields that agree: "email", "phone", "name", "birthday", "city", "company".
    matched_on = models.JSONField(_("matched on"), default=list)
    # {"total": points, "reasons": [{"code": "same_phone", "points": 45, "detail": "+86…"}, …]}
    # (duplicate_evidence.PairScore.evidence)
    evidence = EncryptedJSONField(_("evidence"), default=dict, paths=EVIDENCE_PATHS)
    status = models.CharField(_("status"), max_length=10, choices=CandidateStatus.choices,
                              default=CandidateStatus.OPEN, db_index=True)
    found_at = models.DateTimeField(_("found at"), default=timezone.now)
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)

    class Meta:
        db_table = "integrations_duplicatecandidate"
        ordering = ["-score", "-points", "customer_a_id", "customer_b_id"]
        constraints = [
            models.UniqueConstraint(fields=["customer_a", "customer_b"], name="duplicate_candidate_pair"),
            models.CheckConstraint(condition=models.Q(customer_a__lt=models.F("customer_b")),
                                   name="duplicate_candidate_ordered"),
        ]


class CustomerMerge(models.Model):
    """One merge of `merged_pk` into `survivor_pk`, with what is needed to undo it."""

    # Plain ids: the merged customer no longer exists, and the survivor may be
    # deleted later without this record blocking it.
    survivor_pk = models.BigIntegerField(_("survivor"), db_index=True)
    merged_pk = models.BigIntegerField(_("merged customer"), db_index=True)
    survivor_name = models.CharField(_("survivor name"), max_length=200)
    merged_name = models.CharField(_("merged name"), max_length=200)
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("merged by"))
    performed_at = models.DateTimeField(_("merged at"), default=timezone.now)
    # {field: "survivor" | "merged"} as chosen by the user
    field_choices = models.JSONField(_("field choices"), default=dict)
    # {"survivor": <serialized row>, "merged": <serialized row>,
    #  "moved": [{"model": "app.Model", "field": "customer", "pks": [...]}],
    #  "removed": [<serialized rows deleted because the survivor already had them>],
    #  "restored": [<serialized rows written back as they were on undo>]}
    # The encrypted fields' values are tokens in it (merge.row_snapshot), re-encrypted by
    # `valuecrm keys rotate` through this field.
    snapshot = EncryptedJSONField(default=dict, paths=())
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")

    class Meta:
        db_table = "integrations_customermerge"
        ordering = ["-performed_at", "-id"]
