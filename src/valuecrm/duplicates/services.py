"""Writes on duplicate candidates (dismiss) and the scan trigger, with permission checks.

Merges live in merge.py.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from valuecrm.accounts.capabilities import Capability, require
from valuecrm.common import events
from valuecrm.common.errors import NotFound
from valuecrm.duplicates.duplicates import ScanResult, duplicate_scan
from valuecrm.duplicates.models import CandidateStatus, DuplicateCandidate
from valuecrm.duplicates.selectors import duplicate_candidate_get


def require_duplicate_manager(actor) -> None:
    require(actor, Capability.CUSTOMERS_MERGE, _("Only managers and administrators can review duplicates."))


def duplicate_scan_run(*, actor) -> ScanResult:
    require_duplicate_manager(actor)
    return duplicate_scan()


@transaction.atomic
def duplicate_dismiss(*, actor, pk) -> DuplicateCandidate:
    """Mark a pair "not a duplicate"; later scans keep it dismissed."""
    require_duplicate_manager(actor)
    candidate = duplicate_candidate_get(user=actor, pk=pk)
    if candidate is None:
        raise NotFound(_("Duplicate pair not found."))
    candidate.status = CandidateStatus.DISMISSED
    candidate.dismissed_by = actor
    candidate.dismissed_at = timezone.now()
    candidate.save(update_fields=["status", "dismissed_by", "dismissed_at"])
    events.emit(events.ConfigChanged(kind="duplicate", object_id=str(candidate.pk), action="dismissed"), actor=actor)
    return candidate
