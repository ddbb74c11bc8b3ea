"""The daily email of newly raised flags: each owner gets theirs, each manager a summary."""

import datetime as dt
import logging
from collections import Counter, defaultdict

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Role, Territory, User
from accounts.selectors import territory_children, territory_ids_with_descendants
from core.bounds import single_line
from health.cycles import default_cycle, reminder_due, review_list_counts
from health.models import AccountFlag, DigestRun, FlagKind, ReviewCycle
from health.selectors import flag_explanation

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
        f"{flag_explanation(flag)}  {absolute_url(customer.get_absolute_url())}"
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
    outgoing: list[tuple[str, str, str]] = []
    by_owner: dict[User, list[AccountFlag]] = defaultdict(list)
    for flag in flags:
        if flag.customer.owner is not None:
            by_owner[flag.customer.owner].append(flag)
    for owner, owned in by_owner.items():
        if owner.email and owner.is_active:
            plural = "s" if len(owned) != 1 else ""
            outgoing.append(
                (
                    f"Cadence: {len(owned)} account{plural} need attention",
                    "New flags on your accounts:\n\n" + "\n".join(map(_line, owned)),
                    owner.email,
                )
            )
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
            outgoing.append(
                (
                    f"Cadence: new flags in your territories: {summary}",
                    f"New flags in your territories: {summary}.\n\n{listed}"
                    + (f"\n… and {more} more." if more > 0 else ""),
                    manager.email,
                )
            )
    outgoing += _review_reminders(today=timezone.localdate(now))
    DigestRun.objects.create(up_to=now, emails_sent=len(outgoing))
    # Only once the window has moved on for good: a rolled-back run sends nothing, so a retry
    # cannot send the same digest twice.
    transaction.on_commit(lambda: _send(outgoing))
    logger.info("digest_send flags=%d emails=%d", len(flags), len(outgoing))
    return len(outgoing)


def _review_reminders(*, today: dt.date) -> list[tuple[str, str, str]]:
    """Each manager whose review is due within a week, or overdue: when, and how many accounts
    wait for a decision (counted in one query for all of them)."""
    managers = list(User.objects.filter(role=Role.MANAGER, is_active=True).exclude(email=""))
    saved = {c.manager_id: c for c in ReviewCycle.objects.filter(manager__in=managers)}
    cycles = {
        manager.pk: saved.get(manager.pk) or default_cycle(manager, today=today)
        for manager in managers
    }
    due = {pk: cycle for pk, cycle in cycles.items() if reminder_due(cycle, today=today)}
    if not due:
        return []
    children = territory_children()
    managed: dict[int, set[int]] = defaultdict(set)
    for user_id, territory_id in Territory.managers.through.objects.filter(
        user_id__in=due
    ).values_list("user_id", "territory_id"):
        managed[user_id].add(territory_id)
    territories = {pk: territory_ids_with_descendants(managed[pk], children) for pk in due}
    waiting = review_list_counts(due, territories, today=today)
    reminders = []
    for manager in managers:
        cycle = due.get(manager.pk)
        if cycle is None:
            continue
        when = "was due" if cycle.due_on < today else "is due"
        count = waiting[manager.pk]
        reminders.append(
            (
                f"Cadence: your account review {when} on {cycle.due_on:%d %b %Y}",
                f"Your account review {when} on {cycle.due_on:%d %b %Y}: {count} account"
                f"{'s' if count != 1 else ''} need a decision.\n\n"
                + absolute_url("/manage/review/?cycle=due"),
                manager.email,
            )
        )
    return reminders


def _send(outgoing: list[tuple[str, str, str]]) -> None:
    for subject, body, recipient in outgoing:
        send_mail(subject=subject, message=body, from_email=None, recipient_list=[recipient])


def absolute_url(path: str) -> str:
    """A link that works from an e-mail: CADENCE_SITE_URL and the path."""
    return settings.CADENCE_SITE_URL.rstrip("/") + path
