"""How often a customer should be visited or called, and when its next contact is due: the one
rule, in Python and as SQL, used by the due dates (crm), the last-visit refresh (visits),
health's neglect flags, the what-if (health.whatif) and the demo.

A customer's cadence depends first on who serves it (its service model):
- partner and self-service accounts have none: no due date, never neglected;
- remote and inside-sales accounts: their own `cadence_days`, else the model's days in
  ServiceCadence, else DEFAULT_REMOTE_CADENCE;
- field accounts: their own `cadence_days`, else the tier's days in CadencePolicy, else the
  built-in default for the tier (an admin may delete a policy row; no account then silently
  drops off the lists).
The next contact is due `cadence` days after the last visit's local date, or after `since`, or
after the day the customer was created.
"""

from collections.abc import Mapping

from django.conf import settings
from psycopg import sql

from core.sql import compose, identifier, joined, literal
from crm.models import (
    DEFAULT_CADENCE_DAYS,
    DEFAULT_REMOTE_CADENCE,
    NO_CADENCE_SERVICE_MODELS,
    CadencePolicy,
    Customer,
    RemoteKind,
    ServiceCadence,
    ServiceModel,
)


def cadence_days(
    *,
    tier: str,
    own_days: int | None,
    policies: Mapping[str, int],
    service_model: str = ServiceModel.FIELD,
    service_policies: Mapping[str, int] | None = None,
) -> int | None:
    """The cadence of a customer of `tier` served by `service_model` with `own_days` (None: the
    rule's), given the policy rows as {tier: days} and {service model: days}; None: no cadence."""
    if service_model in NO_CADENCE_SERVICE_MODELS:
        return None
    if own_days:
        return own_days
    if service_model == ServiceModel.FIELD:
        return policies.get(tier) or DEFAULT_CADENCE_DAYS[tier]
    return (service_policies or {}).get(service_model) or DEFAULT_REMOTE_CADENCE[service_model][0]


def service_policies() -> dict[str, int]:
    return dict(ServiceCadence.objects.values_list("service_model", "days"))


def cadence_days_for(customer: Customer) -> int | None:
    policies = dict(CadencePolicy.objects.filter(tier=customer.tier).values_list("tier", "days"))
    return cadence_days(
        tier=customer.tier,
        own_days=customer.cadence_days,
        policies=policies,
        service_model=customer.service_model,
        service_policies=service_policies() if customer.is_remote else None,
    )


def remote_kind_for(service_model: str) -> str:
    """The kind of contact a remote-served account gets by default (phone unless an admin set
    video in ServiceCadence)."""
    kind = (
        ServiceCadence.objects.filter(service_model=service_model)
        .values_list("kind", flat=True)
        .first()
    )
    return kind or DEFAULT_REMOTE_CADENCE.get(service_model, (0, RemoteKind.PHONE))[1]


def _case_sql(column: sql.Composable, mapping: Mapping[str, int]) -> sql.Composed:
    branches = joined(
        (
            compose("WHEN {key} THEN {days}", key=literal(key), days=days)
            for key, days in mapping.items()
        ),
        " ",
    )
    return compose("CASE {column} {branches} END", column=column, branches=branches)


def cadence_days_sql(customer: str) -> sql.Composed:
    """The cadence of the crm_customer row aliased `customer`, as an SQL expression (NULL: the
    account has no cadence)."""
    remote_defaults = {model: days for model, (days, _) in DEFAULT_REMOTE_CADENCE.items()}
    return compose(
        "CASE WHEN {model} IN ({no_cadence}) THEN NULL "
        "ELSE COALESCE({own}, "
        "CASE WHEN {model} = {field} THEN COALESCE("
        "(SELECT policy.days FROM crm_cadencepolicy policy WHERE policy.tier = {tier}), "
        "{tier_defaults}) "
        "ELSE COALESCE((SELECT sc.days FROM crm_servicecadence sc "
        "WHERE sc.service_model = {model}), {model_defaults}) END) END",
        model=identifier(customer, "service_model"),
        no_cadence=list(NO_CADENCE_SERVICE_MODELS),
        own=identifier(customer, "cadence_days"),
        field=ServiceModel.FIELD,
        tier=identifier(customer, "tier"),
        tier_defaults=_case_sql(identifier(customer, "tier"), DEFAULT_CADENCE_DAYS),
        model_defaults=_case_sql(identifier(customer, "service_model"), remote_defaults),
    )


def cadence_start_sql(customer: str, last_visit_at: sql.Composable) -> sql.Composed:
    """The local date the cadence counts from: the last visit's, else `since`, else the day the
    customer was created. The statement must bind the time zone as %(tz)s."""
    return compose(
        "COALESCE(({last_visit_at} AT TIME ZONE %(tz)s)::date, {since}, "
        "({created_at} AT TIME ZONE %(tz)s)::date)",
        last_visit_at=last_visit_at,
        since=identifier(customer, "since"),
        created_at=identifier(customer, "created_at"),
    )


def next_due_sql(customer: str, last_visit_at: sql.Composable) -> sql.Composed:
    return compose(
        "{start} + {days}",
        start=cadence_start_sql(customer, last_visit_at),
        days=cadence_days_sql(customer),
    )


def days_overdue_sql(next_due: sql.Composable, today: sql.Composable) -> sql.Composed:
    """Days since the next visit fell due, 0 until it does, NULL without a due date (the SQL
    twin of crm.selectors.days_overdue; tests/crm hold them equal)."""
    return compose("GREATEST(0, {today} - {next_due})", today=today, next_due=next_due)


def cadence_sql_params() -> dict:
    return {"tz": settings.TIME_ZONE}
