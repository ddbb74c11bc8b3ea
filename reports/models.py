"""What managers did about accounts from the review worklist."""

from django.conf import settings
from django.db import models

from crm.models import Customer


class ReviewActionKind(models.TextChoices):
    REASSIGN = "reassign", "Reassign"
    TIER = "tier", "Change tier"
    CADENCE = "cadence", "Change cadence"
    # Before hand-offs existed: a switch to phone/video visits (kept for the history).
    REMOTE = "remote", "Remote cadence"
    ACKNOWLEDGE = "acknowledge", "Acknowledge flag"
    HAND_OFF = "hand_off", "Hand off"
    LET_GO = "let_go", "Let go"


class ReviewAction(models.Model):
    """What a manager did about an account from the review worklist: who, when, what."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="review_actions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=32, choices=ReviewActionKind.choices)
    details = models.JSONField(default=dict)
    # The account's 12-month figures when the action was taken (AccountMetrics, as strings):
    # the Outcomes view compares what came after with them.
    figures = models.JSONField(default=dict, db_default={})
    # What came of it (reports.outcomes): the account's monthly figures summed over the three
    # whole months before the action's month and the three after, written by the nightly
    # measure once those are over, so Outcomes sums stored rows instead of joining months.
    measured_on = models.DateField(null=True, blank=True)
    revenue_before = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    revenue_after = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    margin_before = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    margin_after = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    cost_before = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    cost_after = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    visits_before = models.IntegerField(null=True, blank=True)
    visits_after = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = "crm_reviewaction"
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "at"])]

    def __str__(self) -> str:
        return f"{self.action} on {self.customer_id} by {self.user_id}"
