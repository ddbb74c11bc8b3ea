"""Writes of asks (what a customer asked for, tracked to an answer): recorded at a visit or on
the account, answered by whoever owns them, and, for a quote, won or lost. The rules here are the
only ones: the log form, the account page, the offline app and the API all come through."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.cache import schedules_changed
from core.events import announce, asks_changed
from core.refresh import customers_refresh_request
from crm.models import Competitor, Customer
from crm.selectors import customers_visible_to
from visits.models import (
    DEFAULT_ASK_DUE_DAYS,
    Ask,
    AskAnswerKind,
    AskKind,
    AskPolicy,
    QuoteOutcome,
    Visit,
)

# A visit records at most this many asks (the form shows three rows; the API takes up to ten).
MAX_ASKS_PER_VISIT = 10


@dataclass(frozen=True)
class AskInput:
    """One ask as a form or the API gives it; owner and due date default in `asks_record`."""

    kind: str
    text: str
    owner: User | None = None
    due_on: dt.date | None = None
    value: Decimal | None = None


def ask_due_days(kind: str) -> int:
    days = AskPolicy.objects.filter(kind=kind).values_list("due_days", flat=True).first()
    return DEFAULT_ASK_DUE_DAYS[AskKind(kind)] if days is None else days


def _validate_owner(owner: User, customer: Customer) -> None:
    if not owner.is_active or not customers_visible_to(owner).filter(pk=customer.pk).exists():
        raise ValidationError(
            {"owner": f"{owner.get_full_name() or owner.username} cannot see {customer.name}."}
        )


def asks_record(
    *,
    user: User,
    customer: Customer,
    asks: list[AskInput],
    visit: Visit | None = None,
    asked_on: dt.date | None = None,
) -> list[Ask]:
    """Record what the customer asked for, each owned by `user` unless another owner is given
    and due after its kind's days unless a date is given. All or none."""
    if len(asks) > MAX_ASKS_PER_VISIT:
        raise ValidationError({"asks": f"At most {MAX_ASKS_PER_VISIT} asks at once."})
    asked_on = asked_on or timezone.localdate()
    made = []
    for given in asks:
        if given.kind not in AskKind.values:
            raise ValidationError({"kind": "Unknown kind of ask."})
        owner = given.owner or user
        _validate_owner(owner, customer)
        due_on = given.due_on or asked_on + dt.timedelta(days=ask_due_days(given.kind))
        if due_on < asked_on:
            raise ValidationError({"due_on": "An answer cannot be due before it was asked for."})
        ask = Ask(
            customer=customer,
            visit=visit,
            raised_by=user,
            owner=owner,
            kind=given.kind,
            text=given.text.strip(),
            asked_on=asked_on,
            due_on=due_on,
            value=given.value,
        )
        ask.full_clean(exclude=["customer", "visit", "raised_by", "owner"])
        made.append(ask)
    with transaction.atomic():
        Ask.objects.bulk_create(made)
        # A complaint's due date is part of the account's health (its flag).
        customers_refresh_request([customer.pk])
        schedules_changed({ask.owner_id for ask in made})
        announce(
            asks_changed,
            sender=Ask,
            created=[ask.pk for ask in made],
            answered=[],
            overdue=[],
        )
    return made


def _may_act_on(user: User, ask: Ask) -> bool:
    """The owner, who raised it, and a manager or admin who sees the account."""
    if user.pk in {ask.owner_id, ask.raised_by_id}:
        return True
    return (user.is_manager or user.is_cadence_admin) and customers_visible_to(user).filter(
        pk=ask.customer_id
    ).exists()


def ask_answer(
    *,
    ask: Ask,
    user: User,
    answer_kind: str,
    answer: str,
    value: Decimal | None = None,
) -> Ask:
    """Record what was done about the ask. A proposal may carry its value (the quote's); an
    answered ask stays answered."""
    if not _may_act_on(user, ask):
        raise PermissionDenied("Only its owner, who raised it or their manager answers an ask.")
    if answer_kind not in AskAnswerKind.values:
        raise ValidationError({"answer_kind": "Say what was done."})
    with transaction.atomic():
        locked = Ask.objects.select_for_update().get(pk=ask.pk)
        if not locked.is_open:
            raise ValidationError("This ask was already answered.")
        locked.answered_at = timezone.now()
        locked.answered_by = user
        locked.answer_kind = answer_kind
        locked.answer = answer.strip()
        if value is not None:
            locked.value = value
        locked.full_clean(exclude=["customer", "visit", "raised_by", "owner", "answered_by"])
        locked.save()
        customers_refresh_request([locked.customer_id])
        schedules_changed({locked.owner_id})
        announce(asks_changed, sender=Ask, created=[], answered=[locked.pk], overdue=[])
    return locked


def ask_decide(
    *,
    ask: Ask,
    user: User,
    outcome: str,
    reason: str = "",
    competitor: Competitor | None = None,
) -> Ask:
    """A quote sent in answer is won or lost (with why, and the competitor that won)."""
    if not _may_act_on(user, ask):
        raise PermissionDenied("Only its owner, who raised it or their manager decides a quote.")
    if outcome not in QuoteOutcome.values:
        raise ValidationError({"outcome": "Won or lost?"})
    with transaction.atomic():
        locked = Ask.objects.select_for_update().get(pk=ask.pk)
        if locked.answer_kind != AskAnswerKind.PROPOSAL:
            raise ValidationError("Only an ask answered with a proposal is won or lost.")
        if locked.outcome:
            raise ValidationError(f"This quote was already {locked.get_outcome_display().lower()}.")
        if outcome == QuoteOutcome.LOST and not reason.strip() and competitor is None:
            raise ValidationError({"outcome_reason": "Say why it was lost, or who won it."})
        locked.outcome = outcome
        locked.outcome_reason = reason.strip()
        locked.competitor = competitor if outcome == QuoteOutcome.LOST else None
        locked.decided_at = timezone.now()
        locked.full_clean(exclude=["customer", "visit", "raised_by", "owner", "answered_by"])
        locked.save()
    return locked


def asks_overdue_announce(*, today: dt.date) -> int:
    """Announce, once each, the open asks whose due date has passed (the webhook ask.overdue):
    marked in the same statement that finds them, so two runs never announce one twice."""
    with transaction.atomic():
        ids = list(
            Ask.objects.filter(
                answered_at__isnull=True, due_on__lt=today, overdue_announced_on__isnull=True
            )
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        Ask.objects.filter(pk__in=ids).update(overdue_announced_on=today)
        if ids:
            announce(asks_changed, sender=Ask, created=[], answered=[], overdue=ids)
    return len(ids)
