"""Import runs: one uploaded file, its column mapping, its outcome and how to undo it.

Bulk imports write rows with plain INSERTs (no per-row history rows); the run is
the audit record instead: who, when, which file, what it created (as id ranges)
and the previous values of every existing customer it changed.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from valuecrm.common.encryption import EncryptedJSONField, personal_paths

# The personal values in the JSON copies below are stored encrypted (common/encryption.py),
# like the customer fields they copy: the review rows' e-mails and phones (the file's and
# the matched customer's), every cell of a failed row (a file's columns can hold anything),
# and the previous values an update overwrote, with the contact points it added.
REVIEW_PATHS = personal_paths("*.") + personal_paths("*.", "match_")
ROW_VALUES_PATHS = ("*",)
BEFORE_PATHS = personal_paths() + ("_added_contact_points.*.1",)


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")
    PRODUCTS = "products", _("Products")
    INTERACTIONS = "interactions", _("Interactions")


class ImportStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    # The whole-file check (a dry run) is queued or running in the worker; the run
    # returns to draft with its outcome, or with the reason in `detail`.
    ANALYSING = "analysing", _("Checking the file")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    UNDONE = "undone", _("Undone")
    # Undo was asked for and runs in the worker; the run is "undone" at the end, or back
    # to "succeeded" with the reason in `detail` (undo is one transaction).
    UNDOING = "undoing", _("Undoing")


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all", _("All or nothing")
    PARTIAL = "partial", _("Import valid rows")


class ImportRunQuerySet(models.QuerySet):
    def finished(self):
        return self.filter(status__in=(ImportStatus.SUCCEEDED, ImportStatus.FAILED,
                                       ImportStatus.UNDONE))


class ImportRun(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    status = models.CharField(_("status"), max_length=12, choices=ImportStatus.choices,
                              default=ImportStatus.DRAFT, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="import_runs", verbose_name=_("imported by"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    # Drafts untouched for a day are deleted (services.imports_clean_up).
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)
    # Set when a worker takes the run (check, import or undo); the live heartbeat is a file
    # (common.heartbeat), so a crashed worker's run is found and failed within a minute.
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=120, blank=True, default="")

    file_path = models.CharField(max_length=500)  # absolute path of the stored upload
    # Set when the retention rules deleted the upload; counts and row errors stay.
    file_removed_at = models.DateTimeField(_("file removed"), null=True, blank=True)
    original_name = models.CharField(_("file"), max_length=255)
    file_format = models.CharField(_("format"), max_length=8, blank=True, default="")
    encoding = models.CharField(_("encoding"), max_length=20, blank=True, default="")
    delimiter = models.CharField(max_length=2, blank=True, default="")
    header_row = models.PositiveIntegerField(default=1)
    headers = models.JSONField(default=list)
    # {header: target}; "" skips the column.
    mapping = models.JSONField(default=dict)
    # mode, key, source, dayfirst, decimal_comma, on_duplicate, decisions, dry_run …
    options = models.JSONField(default=dict)
    dry_run = models.BooleanField(_("dry run"), default=False)

    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    failed_count = models.PositiveIntegerField(_("failed rows"), default=0)
    # What happened, for people: the import's outcome, or why the last check of a
    # draft failed.
    detail = models.TextField(blank=True, default="")
    # The outcome as a code and parameters (see row_errors.RUN_MESSAGES), so `detail_text`
    # is in the reader's language; "" for details that are plain text.
    detail_code = models.CharField(max_length=40, blank=True, default="")
    detail_params = models.JSONField(default=dict, blank=True)
    # "Import the valid rows" of a failed all-or-nothing run: the same stored file again,
    # in partial mode, as a new run pointing back at the failed one.
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="retries", verbose_name=_("retry of"))
    # Duplicate candidates found by the last analysis, for the review step.
    review = EncryptedJSONField(default=list, blank=True, paths=REVIEW_PATHS)
    # {"customers": [[first_id, last_id], …], "orders": …, "contact_points": …}
    created_ids = models.JSONField(default=dict, blank=True)

    objects = ImportRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.pk} {self.kind} {self.original_name}"

    @property
    def mode(self) -> str:
        return self.options.get("mode", ImportMode.ALL_OR_NOTHING)

    @property
    def is_active(self) -> bool:
        """The worker has it (checking, queued or importing): counts come from the progress file."""
        return self.status in (ImportStatus.ANALYSING, ImportStatus.QUEUED, ImportStatus.RUNNING,
                               ImportStatus.UNDOING)

    @property
    def detail_text(self) -> str:
        """What happened, in the active language."""
        from valuecrm.imports.row_errors import render_run

        return render_run(self.detail_code, self.detail_params, self.detail)

    @property
    def analysis_error(self) -> str:
        """Why the last whole-file check of this draft failed ("" if it did not)."""
        return self.detail if self.status == ImportStatus.DRAFT else ""


class ImportRowError(models.Model):
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField(_("row"))  # the file's line (CSV) or sheet row
    column = models.CharField(_("column"), max_length=255, blank=True, default="")
    reason = models.TextField(_("reason"))  # as first written; see `message`
    # The reason as a code and parameters (imports.row_errors), "" when it is plain text.
    code = models.CharField(max_length=40, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    values = EncryptedJSONField(default=list, paths=ROW_VALUES_PATHS)  # the row as read, for the error file

    @property
    def message(self) -> str:
        """The reason in the active language (the stored text when it has no code)."""
        from valuecrm.imports.row_errors import render

        return render(self.code, self.params, self.reason)

    class Meta:
        ordering = ["row_number", "id"]
        indexes = [models.Index(fields=["run", "row_number"])]


class ImportChange(models.Model):
    """The values an import overwrote on an existing record, so undo can restore them."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="changes")
    model = models.CharField(max_length=20)  # "customer" | "product"
    object_id = models.BigIntegerField()
    # field → previous value; "_added_tags" / "_added_contact_points" list what was added
    before = EncryptedJSONField(default=dict, paths=BEFORE_PATHS)

    class Meta:
        indexes = [models.Index(fields=["run", "model", "object_id"])]


class MappingPreset(models.Model):
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    mapping = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="mapping_preset_unique")]

    def __str__(self):
        return self.name
