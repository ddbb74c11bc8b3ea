"""How often a customer should be visited, and when its next visit is due: the one rule, in
Python and as SQL, used by the due dates (crm), the last-visit refresh (visits), health's
neglect flags and the demo.

A customer's cadence is its own `cadence_days`, else its tier's days in CadencePolicy, else the
built-in default for the tier (an admin may delete a policy row; no account then silently drops
off the lists). The next visit is due `cadence` days after the last visit's local date, or after
`since`, or after the day the customer was created.
"""

from collections.abc import Mapping

from django.conf import settings

from crm.models import DEFAULT_CADENCE_DAYS, CadencePolicy, Customer


def cadence_days(*, tier: str, own_days: int | None, policies: Mapping[str, int]) -> int:
    """The cadence of a customer of `tier` with `own_days` (None: its tier's), given the
    policy rows as {tier: days}."""
    return own_days or policies.get(tier) or DEFAULT_CADENCE_DAYS[tier]


def cadence_days_for(customer: Customer) -> int:
    policies = dict(CadencePolicy.objects.filter(tier=customer.tier).values_list("tier", "days"))
    return cadence_days(tier=customer.tier, own_days=customer.cadence_days, policies=policies)


def _fallback_sql(tier: str) -> str:
    branches = " ".join(
        f"WHEN '{tier_value}' THEN {days}" for tier_value, days in DEFAULT_CADENCE_DAYS.items()
    )
    return f"CASE {tier} {branches} END"


def cadence_days_sql(customer: str) -> str:
    """The cadence of the crm_customer row aliased `customer`, as an SQL expression."""
    return (
        f"COALESCE({customer}.cadence_days, "
        f"(SELECT policy.days FROM crm_cadencepolicy policy WHERE policy.tier = {customer}.tier), "
        f"{_fallback_sql(f'{customer}.tier')})"
    )


def cadence_start_sql(customer: str, last_visit_at: str) -> str:
    """The local date the cadence counts from: the last visit's, else `since`, else the day the
    customer was created. The statement must bind the time zone as %(tz)s."""
    return (
        f"COALESCE(({last_visit_at} AT TIME ZONE %(tz)s)::date, {customer}.since, "
        f"({customer}.created_at AT TIME ZONE %(tz)s)::date)"
    )


def next_due_sql(customer: str, last_visit_at: str) -> str:
    return f"{cadence_start_sql(customer, last_visit_at)} + {cadence_days_sql(customer)}"


def cadence_sql_params() -> dict:
    return {"tz": settings.TIME_ZONE}
