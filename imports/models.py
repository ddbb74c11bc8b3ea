from django.conf import settings
from django.db import models


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", "Customers"
    CONTACTS = "contacts", "Contacts"
    INVOICES = "invoices", "Invoices"
    VISITS = "visits", "Visit history"
    SUPPORT_CASES = "support_cases", "Support cases"
    EXCHANGE_RATES = "exchange_rates", "Exchange rates"


class ImportStatus(models.TextChoices):
    INSPECTING = "inspecting", "Reading the file"
    UPLOADED = "uploaded", "Uploaded"
    CHECKING = "checking", "Dry run running"
    CHECKED = "checked", "Dry run done"
    RUNNING = "running", "Importing"
    DONE = "done", "Imported"
    FAILED = "failed", "Failed"
    REVERTING = "reverting", "Reverting"
    REVERTED = "reverted", "Reverted"


# A worker is on these: the page polls, nothing else may start on the job.
BUSY_STATUSES = frozenset(
    {
        ImportStatus.INSPECTING,
        ImportStatus.CHECKING,
        ImportStatus.RUNNING,
        ImportStatus.REVERTING,
    }
)
EDITABLE_STATUSES = frozenset({ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED})


class DateOrder(models.TextChoices):
    DMY = "dmy", "day/month/year (31/12/2026)"
    MDY = "mdy", "month/day/year (12/31/2026)"
    YMD = "ymd", "year-month-day (2026-12-31)"


class ImportJob(models.Model):
    """One uploaded file and what became of it: mapping, options, counts, progress."""

    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    original_name = models.CharField(max_length=255, help_text="As uploaded; never used as a path.")
    stored_name = models.CharField(max_length=255, help_text="Name in MEDIA_ROOT, made by Cadence.")
    size = models.PositiveBigIntegerField()
    file_format = models.CharField(max_length=8)
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    sheet = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=list)
    sample = models.JSONField(default=list, help_text="The first data rows, as in the file.")
    mapping = models.JSONField(default=dict, help_text="Column header -> field name.")
    date_order = models.CharField(max_length=3, choices=DateOrder.choices, default=DateOrder.DMY)
    dates_ambiguous = models.BooleanField(
        default=False, help_text="No date in the first rows told day-first from month-first."
    )
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    default_territory = models.ForeignKey(
        "accounts.Territory", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    dry_run = models.BooleanField(default=True, help_text="Whether the last pass was a dry run.")
    rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    rows_per_second = models.PositiveIntegerField(default=0)
    preview = models.JSONField(default=list, help_text="The first rows as they will be stored.")
    reject_samples = models.JSONField(default=list, help_text="The first rejected rows.")
    rejects_name = models.CharField(max_length=255, blank=True)
    # The rejects file's encoding: the upload's, or UTF-8 when that could not hold its text.
    rejects_encoding = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="imports"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    # The run a worker was asked for: a task carrying another token (a duplicate, or one
    # redelivered after the admin started the job again) does nothing.
    run_token = models.CharField(max_length=32, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    # Written every few seconds by the worker running the job; when it stops, the worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.original_name}"

    @property
    def rejects_fell_back_to_utf8(self) -> bool:
        """The upload's encoding could not hold the rejects file's text."""
        return bool(self.rejects_encoding) and self.rejects_encoding != (
            self.encoding or "utf-8-sig"
        )

    @property
    def is_busy(self) -> bool:
        return self.status in BUSY_STATUSES


class ImportChange(models.Model):
    """A row an import created or updated (with its values before), so it can be reverted."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="changes")
    object_id = models.BigIntegerField()
    created = models.BooleanField(help_text="Created by the import; else updated.")
    before = models.JSONField(null=True)

    class Meta:
        indexes = [models.Index(fields=["job", "created"])]

    def __str__(self) -> str:
        return f"{'created' if self.created else 'updated'} {self.object_id} in {self.job_id}"


class MappingPreset(models.Model):
    """A saved column mapping, offered for later files of the same kind."""

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ImportKind.choices)
    mapping = models.JSONField(help_text="Column header -> field name.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="mapping_preset_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"
