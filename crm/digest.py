"""The daily email of newly raised flags: each owner gets theirs, each manager a summary."""

import datetime as dt
import logging
from collections import Counter, defaultdict

from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role, Territory, User
from accounts.selectors import territory_children, territory_ids_with_descendants
from crm.bounds import single_line
from crm.health import flag_explanation
from crm.models import AccountFlag, DigestRun, FlagKind

logger = logging.getLogger(__name__)
FIRST_DIGEST_LOOKBACK = dt.timedelta(days=1)
MANAGER_LIST_LIMIT = 25


def _line(flag: AccountFlag) -> str:
    """One flag, on one line: names stored before single-line fields were enforced cannot
    break it into forged lines."""
    customer = flag.customer
    return (
        f"- {single_line(customer.name)} ({single_line(customer.code)}) "
        f"{flag.get_kind_display().lower()}: "
        f"{flag_explanation(flag)}  {reverse('crm:customer_detail', args=[customer.pk])}"
    )


@transaction.atomic
def digest_send(*, now: dt.datetime | None = None) -> int:
    """Email flags raised since the previous digest (still open, not acknowledged); returns how
    many emails went out. Nothing new, no email. The window moves on either way."""
    now = now or timezone.now()
    previous = DigestRun.objects.select_for_update().order_by("-up_to").first()
    since = previous.up_to if previous else now - FIRST_DIGEST_LOOKBACK
    flags = list(
        AccountFlag.objects.filter(
            raised_at__gt=since,
            raised_at__lte=now,
            resolved_at__isnull=True,
            acknowledged_until__isnull=True,
        )
        .select_related("customer__owner", "customer__territory")
        .order_by("customer__name", "kind")
    )
    sent = 0
    by_owner: dict[User, list[AccountFlag]] = defaultdict(list)
    for flag in flags:
        if flag.customer.owner is not None:
            by_owner[flag.customer.owner].append(flag)
    for owner, owned in by_owner.items():
        if owner.email and owner.is_active:
            plural = "s" if len(owned) != 1 else ""
            send_mail(
                subject=f"Cadence: {len(owned)} account{plural} need attention",
                message="New flags on your accounts:\n\n" + "\n".join(map(_line, owned)),
                from_email=None,
                recipient_list=[owner.email],
            )
            sent += 1
    if flags:
        children = territory_children()
        managed: dict[int, set[int]] = defaultdict(set)
        for user_id, territory_id in Territory.managers.through.objects.values_list(
            "user_id", "territory_id"
        ):
            managed[user_id].add(territory_id)
        for manager in User.objects.filter(role=Role.MANAGER, is_active=True).exclude(email=""):
            territories = territory_ids_with_descendants(managed[manager.pk], children)
            theirs = [f for f in flags if f.customer.territory_id in territories]
            if not theirs:
                continue
            counts = Counter(f.kind for f in theirs)
            summary = ", ".join(
                f"{counts[kind]} {label.lower()}"
                for kind, label in FlagKind.choices
                if counts[kind]
            )
            listed = "\n".join(map(_line, theirs[:MANAGER_LIST_LIMIT]))
            more = len(theirs) - MANAGER_LIST_LIMIT
            send_mail(
                subject=f"Cadence: new flags in your territories: {summary}",
                message=f"New flags in your territories: {summary}.\n\n{listed}"
                + (f"\n… and {more} more." if more > 0 else ""),
                from_email=None,
                recipient_list=[manager.email],
            )
            sent += 1
    DigestRun.objects.create(up_to=now, emails_sent=sent)
    logger.info("digest_send flags=%d emails=%d", len(flags), sent)
    return sent
