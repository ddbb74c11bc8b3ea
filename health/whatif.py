"""What-if: an account's last 12 months as if another service model had served it.

The cost rules are health.costs' — the same expressions the refresh uses — applied to the
contacts the model would have made instead of those the account had:

- contacts: 365 / cadence a year (none for partner and self-service accounts); the cadence is
  the one asked for, else the model's (crm.cadence);
- each contact lasts what the account's own contacts of that kind lasted on average over the
  year (on site, or phone/video), else the assumed defaults below; on-site contacts also carry
  the account's own average travel time, km and expenses (else the defaults); calls none;
- time costs the hourly cost of the owner asked for, else of the current owner;
- a partner charges its terms on every order of the year;
- support and late-payment costs stay what they were (no service model changes them).

The answer shows these assumptions with the figures.
"""

import math
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection

from core.sql import compose, fragment, identifier, literal
from crm.cadence import cadence_days, service_policies
from crm.models import NO_CADENCE_SERVICE_MODELS, CadencePolicy, Partner, ServiceModel
from health.costs import HOUSE_AMOUNTS_SQL, partner_charge_sql, visit_cost_sql
from health.figures.year import WINDOW_DAYS
from health.selectors import health_settings
from visits.models import VisitKind, VisitStatus

# Used when the account has no contact of the kind in the year to learn from.
DEFAULT_ON_SITE_MINUTES = 60
DEFAULT_TRAVEL_MINUTES = 30
DEFAULT_KM = Decimal("20")
DEFAULT_CALL_MINUTES = 20
DEFAULT_HOURLY_COST = Decimal("60")

# One contact's cost: its time, and (on site) the travel to it: time, km and expenses.
_CONTACT_COST = visit_cost_sql(
    minutes=identifier("contact_minutes"),
    km=literal(0),
    expenses=literal(0),
    hourly_cost=identifier("hourly_cost"),
)
_TRAVEL_COST = visit_cost_sql(
    minutes=identifier("travel_minutes"),
    km=identifier("km"),
    expenses=identifier("expenses"),
    hourly_cost=identifier("hourly_cost"),
)

_WHAT_IF = """
WITH accounts AS (
    SELECT c.id, c.tier, c.cadence_days AS own_cadence, m.as_of, m.gross_margin, m.support_cost,
           m.late_payment_cost, m.cost_to_serve, m.profit, m.visit_cost, m.partner_cost,
           COALESCE(%(hourly_cost)s, owner.hourly_cost, %(default_hourly)s) AS hourly_cost
    FROM crm_customer c
    JOIN crm_accountmetrics m ON m.customer_id = c.id
    LEFT JOIN accounts_user owner ON owner.id = c.owner_id
    WHERE c.id = ANY(%(ids)s)
),
habits AS (
    SELECT v.customer_id,
           AVG(v.duration_minutes) FILTER (WHERE v.kind = {on_site}) AS on_site,
           AVG(v.travel_minutes) FILTER (WHERE v.kind = {on_site}) AS travel,
           AVG(v.distance_km) FILTER (WHERE v.kind = {on_site}) AS km,
           AVG(v.expenses) FILTER (WHERE v.kind = {on_site}) AS expenses,
           AVG(v.duration_minutes)
               FILTER (WHERE v.kind IN ({phone}, {video})) AS call
    FROM visits_visit v
    JOIN accounts a ON a.id = v.customer_id
    WHERE v.status = {done}
      AND v.visited_at >= (a.as_of - {window_back})::timestamp AT TIME ZONE %(tz)s
      AND v.visited_at < (a.as_of + 1)::timestamp AT TIME ZONE %(tz)s
    GROUP BY v.customer_id
),
orders AS (
    SELECT a.id AS customer_id,
           SUM({partner_charge}) AS commission
    FROM accounts a
    JOIN crm_invoice i ON i.customer_id = a.id
    CROSS JOIN LATERAL ({house_amounts}) h
    WHERE %(partner)s AND i.issued_on BETWEEN a.as_of - {window_back} AND a.as_of
    GROUP BY a.id
),
assumed AS (
    SELECT a.*,
           CASE WHEN %(on_site)s THEN COALESCE(h.on_site, %(on_site_minutes)s)
                ELSE COALESCE(h.call, %(call_minutes)s) END AS contact_minutes,
           CASE WHEN %(on_site)s THEN COALESCE(h.travel, %(travel_minutes)s) ELSE 0 END
               AS travel_minutes,
           CASE WHEN %(on_site)s THEN COALESCE(h.km, %(km)s) ELSE 0 END AS km,
           CASE WHEN %(on_site)s THEN COALESCE(h.expenses, 0) ELSE 0 END AS expenses,
           COALESCE(o.commission, 0) AS commission
    FROM accounts a
    LEFT JOIN habits h ON h.customer_id = a.id
    LEFT JOIN orders o ON o.customer_id = a.id
)
SELECT id, tier, own_cadence, as_of, gross_margin, support_cost, late_payment_cost,
       cost_to_serve, profit, hourly_cost, contact_minutes, travel_minutes, km, expenses,
       ROUND({contact_cost}, 2) AS contact_cost,
       ROUND({travel_cost}, 2) AS travel_cost,
       ROUND(commission, 2) AS commission
FROM assumed
ORDER BY id
"""
_WHAT_IF_SQL = compose(
    _WHAT_IF,
    on_site=VisitKind.ON_SITE,
    phone=VisitKind.PHONE,
    video=VisitKind.VIDEO,
    done=VisitStatus.DONE,
    window_back=WINDOW_DAYS - 1,
    house_amounts=HOUSE_AMOUNTS_SQL,
    partner_charge=partner_charge_sql(
        amount=identifier("h", "amount"),
        commission_percent=fragment("%(commission_percent)s"),
        fee_per_order=fragment("%(fee_per_order)s"),
    ),
    contact_cost=_CONTACT_COST,
    travel_cost=_TRAVEL_COST,
)


@dataclass(frozen=True)
class WhatIf:
    """One account's year, as it was and as it would have been."""

    customer_id: int
    cadence_days: int | None
    contacts: int
    contact_minutes: Decimal
    travel_minutes: Decimal
    km: Decimal
    hourly_cost: Decimal
    visit_cost: Decimal
    travel_cost: Decimal
    commission: Decimal
    support_cost: Decimal
    late_payment_cost: Decimal
    gross_margin: Decimal
    cost_to_serve_was: Decimal
    profit_was: Decimal

    @property
    def cost_to_serve(self) -> Decimal:
        return (
            self.visit_cost
            + self.travel_cost
            + self.commission
            + self.support_cost
            + self.late_payment_cost
        )

    @property
    def profit(self) -> Decimal:
        return self.gross_margin - self.cost_to_serve


@dataclass(frozen=True)
class WhatIfTotal:
    accounts: int
    visit_cost: Decimal
    travel_cost: Decimal
    commission: Decimal
    cost_to_serve: Decimal
    cost_to_serve_was: Decimal
    profit: Decimal
    profit_was: Decimal


def _contacts_a_year(cadence: int | None) -> int:
    return math.ceil(365 / cadence) if cadence else 0


def what_if(
    *,
    customer_ids: list[int],
    service_model: str,
    cadence: int | None = None,
    hourly_cost: Decimal | None = None,
    partner: Partner | None = None,
) -> list[WhatIf]:
    """The accounts (those with figures) as if `service_model` had served them for the last
    12 months, every `cadence` days (None: the model's cadence for each account), at
    `hourly_cost` (None: the current owner's), by `partner` for a partner model."""
    if service_model in NO_CADENCE_SERVICE_MODELS:
        cadence = None
    rates = health_settings()
    is_partner = service_model == ServiceModel.PARTNER and partner is not None
    params = {
        "ids": sorted(set(customer_ids)),
        "tz": settings.TIME_ZONE,
        "hourly_cost": hourly_cost,
        "default_hourly": DEFAULT_HOURLY_COST,
        "on_site": service_model == ServiceModel.FIELD,
        "on_site_minutes": DEFAULT_ON_SITE_MINUTES,
        "call_minutes": DEFAULT_CALL_MINUTES,
        "travel_minutes": DEFAULT_TRAVEL_MINUTES,
        "km": DEFAULT_KM,
        "partner": is_partner,
        "commission_percent": partner.commission_percent if is_partner else Decimal("0"),
        "fee_per_order": partner.fee_per_order if is_partner else Decimal("0"),
        "cost_per_km": rates.cost_per_km,
    }
    tier_policies = dict(CadencePolicy.objects.values_list("tier", "days"))
    model_policies = service_policies()
    with connection.cursor() as cursor:
        cursor.execute(_WHAT_IF_SQL, params)
        columns = [column.name for column in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    answers = []
    for row in rows:
        days = cadence or cadence_days(
            tier=row["tier"],
            own_days=row["own_cadence"],
            policies=tier_policies,
            service_model=service_model,
            service_policies=model_policies,
        )
        contacts = _contacts_a_year(days)
        answers.append(
            WhatIf(
                customer_id=row["id"],
                cadence_days=days,
                contacts=contacts,
                contact_minutes=Decimal(row["contact_minutes"]).quantize(Decimal("1")),
                travel_minutes=Decimal(row["travel_minutes"]).quantize(Decimal("1")),
                km=Decimal(row["km"]).quantize(Decimal("0.1")),
                hourly_cost=row["hourly_cost"],
                visit_cost=row["contact_cost"] * contacts,
                travel_cost=row["travel_cost"] * contacts,
                commission=row["commission"],
                support_cost=row["support_cost"],
                late_payment_cost=row["late_payment_cost"],
                gross_margin=row["gross_margin"],
                cost_to_serve_was=row["cost_to_serve"],
                profit_was=row["profit"],
            )
        )
    return answers


def what_if_total(answers: list[WhatIf]) -> WhatIfTotal:
    return WhatIfTotal(
        accounts=len(answers),
        visit_cost=sum((a.visit_cost for a in answers), Decimal("0")),
        travel_cost=sum((a.travel_cost for a in answers), Decimal("0")),
        commission=sum((a.commission for a in answers), Decimal("0")),
        cost_to_serve=sum((a.cost_to_serve for a in answers), Decimal("0")),
        cost_to_serve_was=sum((a.cost_to_serve_was for a in answers), Decimal("0")),
        profit=sum((a.profit for a in answers), Decimal("0")),
        profit_was=sum((a.profit_was for a in answers), Decimal("0")),
    )
