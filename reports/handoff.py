"""Hand-offs and letting go: what a manager does about an account once the review says it
costs more to serve than it earns (docs/user-guide.md, "Hand-offs").

A hand-off moves an account to another service model and owner in one step: the account's
figures are recorded (for the Outcomes view), an introduction meeting is planned for the new
owner with the previous one attending and the customer's primary contact invited, the account
brief (last notes, open follow-ups, open flags) is copied into it, the previous owner's planned
meetings are cancelled ("handed off") or given to the new owner, and both are told by e-mail.
Letting go marks the account lost with the reason and cancels its planned meetings; its flags
close with the refresh that follows (lost accounts are not watched).
"""

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone

from accounts.models import User
from crm.cadence import remote_kind_for
from crm.models import Customer, Partner, ServiceModel
from crm.services import customer_let_go, customer_serve
from health.models import AccountMetrics
from health.services import pending_refresh_run
from reports.models import ReviewAction, ReviewActionKind
from visits.models import Visit, VisitKind, VisitStatus
from visits.services import visit_cancel, visit_reassign, visit_schedule

logger = logging.getLogger(__name__)

# A selection acted on at once; the worklist pages 20 at a time.
MAX_SELECTION = 100
INTRODUCTION_MINUTES = 30
BRIEF_VISITS = 3
# The figures kept with every action: what the Outcomes view compares.
SNAPSHOT_FIELDS = (
    "as_of",
    "revenue",
    "gross_margin",
    "visit_cost",
    "support_cost",
    "late_payment_cost",
    "partner_cost",
    "cost_to_serve",
    "profit",
    "visits_done",
    "recommendation",
)


class MeetingsChoice(models.TextChoices):
    CANCEL = "cancel", "Cancel them (reason “handed off”)"
    REASSIGN = "reassign", "Give them to the new owner"


@dataclass(frozen=True)
class HandOffPlan:
    service_model: str
    owner: User | None
    partner: Partner | None = None
    cadence_days: int | None = None
    meetings: str = MeetingsChoice.CANCEL
    introduction_at: dt.datetime | None = None


@dataclass
class HandOffResult:
    actions: list[ReviewAction] = field(default_factory=list)
    introductions: list[Visit] = field(default_factory=list)
    cancelled: int = 0
    reassigned: int = 0


def figures_snapshot(customer: Customer) -> dict:
    """The account's 12-month figures now, as strings (JSON keeps decimals exactly so)."""
    metrics = AccountMetrics.objects.filter(customer=customer).first()
    if metrics is None:
        return {}
    return {name: str(getattr(metrics, name)) for name in SNAPSHOT_FIELDS}


def account_brief(customer: Customer, *, now: dt.datetime) -> str:
    """What the next owner needs before meeting the customer: the last visits' notes and next
    steps, the follow-up promised, the open flags."""
    lines = [
        f"Account brief, {timezone.localtime(now):%d %b %Y}: {customer.name} ({customer.code})"
    ]
    visits = (
        Visit.objects.filter(customer=customer, status=VisitStatus.DONE)
        .select_related("salesperson")
        .order_by("-visited_at")[:BRIEF_VISITS]
    )
    if visits:
        lines.append("Last contacts:")
    for visit in visits:
        said = visit.notes.strip().replace("\n", " ") or "no notes"
        step = f" Next step: {visit.next_step}." if visit.next_step else ""
        lines.append(
            f"- {timezone.localtime(visit.visited_at):%d %b %Y}, {visit.salesperson}, "
            f"{visit.get_kind_display().lower()}"
            f"{', ' + visit.get_outcome_display().lower() if visit.outcome else ''}: {said}.{step}"
        )
    promised = next((v for v in visits if v.follow_up_on), None)
    if promised and promised == visits[0]:
        lines.append(
            f"Open follow-up: {promised.follow_up_on:%d %b %Y}"
            f"{' — ' + promised.next_step if promised.next_step else ''}"
        )
    flags = list(customer.flags.filter(resolved_at__isnull=True).order_by("kind"))
    if flags:
        lines.append(
            "Open flags: "
            + "; ".join(
                f"{flag.get_kind_display()} since {flag.opened_at:%d %b %Y}" for flag in flags
            )
        )
    return "\n".join(lines)


def _introduction_kind(service_model: str) -> str:
    if service_model in (ServiceModel.REMOTE, ServiceModel.INSIDE_SALES):
        return remote_kind_for(service_model)
    if service_model == ServiceModel.PARTNER:
        return VisitKind.VIDEO
    return VisitKind.ON_SITE


def _notify(customer: Customer, people: set[User], text: str) -> None:
    """Tell the people concerned after the commit; a mail server that fails loses the message
    (logged), never the hand-off."""
    recipients = sorted({person.email for person in people if person and person.email})
    if not recipients:
        return

    def send() -> None:
        try:
            send_mail(
                subject=f"Cadence: {customer.name} handed off",
                message=text,
                from_email=None,
                recipient_list=recipients,
            )
        except Exception:
            logger.exception("hand-off notice for customer %s not sent", customer.pk)

    transaction.on_commit(send)


def _validate_selection(customers: list[Customer]) -> None:
    if not customers:
        raise ValidationError("Choose at least one account.")
    if len(customers) > MAX_SELECTION:
        raise ValidationError(f"Act on at most {MAX_SELECTION} accounts at once.")


@transaction.atomic
def accounts_hand_off(*, customers: list[Customer], user: User, plan: HandOffPlan) -> HandOffResult:
    """Hand these accounts to `plan`'s service model and owner (one ReviewAction each)."""
    _validate_selection(customers)
    now = timezone.now()
    # The person the account's meetings go to: nobody for partner and self-service accounts.
    serving = plan.service_model in (
        ServiceModel.FIELD,
        ServiceModel.REMOTE,
        ServiceModel.INSIDE_SALES,
    )
    if serving and plan.owner is None:
        raise ValidationError({"owner": "Choose the new owner."})
    result = HandOffResult()
    for offset, customer in enumerate(customers):
        figures = figures_snapshot(customer)
        previous_owner, previous_model = customer.owner, customer.service_model
        new_owner = plan.owner if serving or plan.owner else previous_owner
        introducer = new_owner if plan.service_model != ServiceModel.PARTNER else previous_owner
        wants_introduction = introducer is not None and (
            new_owner != previous_owner or plan.service_model == ServiceModel.PARTNER
        )
        if wants_introduction and plan.introduction_at is None:
            raise ValidationError({"introduction_at": "Choose when the introduction is held."})
        if wants_introduction and plan.introduction_at <= now:
            raise ValidationError({"introduction_at": "The introduction must be in the future."})
        brief = account_brief(customer, now=now)
        customer_serve(
            customer=customer,
            service_model=plan.service_model,
            owner=new_owner,
            partner=plan.partner,
            cadence_days=plan.cadence_days,
            since=timezone.localdate(),
        )
        cancelled = reassigned = 0
        planned = Visit.objects.filter(
            customer=customer, status=VisitStatus.PLANNED, scheduled_start__gte=now
        ).select_related("customer")
        if previous_owner is not None:
            planned = planned.filter(salesperson=previous_owner)
        for visit in planned:
            if serving and plan.meetings == MeetingsChoice.REASSIGN:
                visit_reassign(visit=visit, salesperson=new_owner)
                reassigned += 1
            else:
                visit_cancel(visit=visit, reason="handed off")
                cancelled += 1
        introduction = None
        if wants_introduction:
            start = plan.introduction_at + dt.timedelta(minutes=INTRODUCTION_MINUTES * offset)
            primary = customer.contacts.filter(is_primary=True).first()
            partner_name = f" and {plan.partner}" if plan.partner else ""
            introduction = visit_schedule(
                user=introducer,
                customer=customer,
                kind=_introduction_kind(plan.service_model),
                start=start,
                end=start + dt.timedelta(minutes=INTRODUCTION_MINUTES),
                contacts=[primary] if primary else [],
                purpose=(
                    f"Introduction: {previous_owner or 'the team'} hands over to "
                    f"{new_owner or 'the team'}{partner_name}"
                )[:300],
                brief=brief,
                attendees=[person for person in (previous_owner,) if person],
            ).visit
            result.introductions.append(introduction)
        result.cancelled += cancelled
        result.reassigned += reassigned
        result.actions.append(
            ReviewAction.objects.create(
                customer=customer,
                user=user,
                action=ReviewActionKind.HAND_OFF,
                figures=figures,
                details={
                    "from": previous_model,
                    "to": plan.service_model,
                    "from_owner": previous_owner.username if previous_owner else None,
                    "to_owner": new_owner.username if new_owner else None,
                    "partner": plan.partner.name if plan.partner else None,
                    "cadence_days": plan.cadence_days,
                    "cancelled": cancelled,
                    "reassigned": reassigned,
                    "introduction": introduction.pk if introduction else None,
                },
            )
        )
        when = (
            f" Introduction: {timezone.localtime(introduction.scheduled_start):%a %d %b %H:%M}."
            if introduction
            else ""
        )
        _notify(
            customer,
            {previous_owner, new_owner},
            f"{user} handed {customer.name} ({customer.code}) from "
            f"{ServiceModel(previous_model).label} ({previous_owner or 'nobody'}) to "
            f"{ServiceModel(plan.service_model).label} ({new_owner or plan.partner or 'nobody'})."
            f"{when} Meetings cancelled: {cancelled}, given to the new owner: {reassigned}.\n\n"
            f"{brief}",
        )
    pending_refresh_run(customer_ids=[customer.pk for customer in customers])
    return result


@transaction.atomic
def accounts_let_go(*, customers: list[Customer], user: User, reason: str) -> list[ReviewAction]:
    """Stop serving these accounts: lost with `reason`, planned meetings cancelled, flags
    closed by the refresh (one ReviewAction each)."""
    _validate_selection(customers)
    now = timezone.now()
    actions = []
    for customer in customers:
        figures = figures_snapshot(customer)
        customer_let_go(customer=customer, reason=reason)
        planned = Visit.objects.filter(
            customer=customer, status=VisitStatus.PLANNED, scheduled_start__gte=now
        ).select_related("customer")
        cancelled = 0
        for visit in planned:
            visit_cancel(visit=visit, reason=f"let go: {customer.status_reason}"[:300])
            cancelled += 1
        actions.append(
            ReviewAction.objects.create(
                customer=customer,
                user=user,
                action=ReviewActionKind.LET_GO,
                figures=figures,
                details={"reason": customer.status_reason, "cancelled": cancelled},
            )
        )
    pending_refresh_run(customer_ids=[customer.pk for customer in customers])
    return actions
