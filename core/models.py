"""Cross-cutting records: forms already acted on, and refreshes asked for but not yet done."""

from django.conf import settings
from django.db import models


class PendingRefresh(models.Model):
    """A customer whose health refresh could not be queued (the broker was down); the
    `health_refresh_pending` job picks these up once it can run again."""

    customer = models.OneToOneField(
        "crm.Customer", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    requested_at = models.DateTimeField()

    class Meta:
        db_table = "crm_pendingrefresh"

    def __str__(self) -> str:
        return f"Refresh of {self.customer_id} pending since {self.requested_at}"


class FormSubmission(models.Model):
    """A form that has been acted on, by the one-time key it carried: a double click, a retry
    after a timeout or the Back button resending it finds the key taken and does nothing."""

    key = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "crm_formsubmission"

    def __str__(self) -> str:
        return f"{self.key} by {self.user_id}"
