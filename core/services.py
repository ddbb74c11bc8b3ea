"""Writes of cross-cutting records: the one-time keys of forms."""

import datetime as dt
import uuid

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from core.models import FormSubmission


def form_submission_claim(*, key: str | None, user: AbstractBaseUser) -> bool:
    """Inside the transaction of the write a form asks for: False if a form with this one-time
    key was already acted on (the write must then not happen again). If the write fails, the
    transaction rolls the claim back with it, so the corrected form can be sent again. A form
    without a key (an old page, a script) is always acted on."""
    try:
        key = uuid.UUID(str(key))
    except ValueError:
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_formsubmission (key, user_id, submitted_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            [key, user.pk],
        )
        return cursor.fetchone() is not None


FORM_SUBMISSIONS_KEPT = dt.timedelta(days=7)


def form_submissions_forget() -> int:
    """Nightly: keys older than a week (no browser resends a form that late)."""
    cutoff = timezone.now() - FORM_SUBMISSIONS_KEPT
    return FormSubmission.objects.filter(submitted_at__lt=cutoff).delete()[0]
