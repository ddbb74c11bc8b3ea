"""The demo's service models: inside-sales people and partners, accounts already served each
way, and the hand-offs that put them there 3 to 9 months ago, so the Outcomes view has real
before/after figures from the first login.

Runs after the first refresh (it chooses by the refreshed recommendation, set-based), rewrites
the moved accounts' history from the hand-off on (calls instead of visits, or nobody visiting),
then refreshes those accounts.
"""

import datetime as dt

from django.conf import settings
from django.db import connection

from accounts.models import Role, Territory, User
from core.sql import compose
from crm.models import CustomerStatus, Partner, ServiceModel
from health.models import Recommendation
from health.services import accounts_refresh
from reports.models import ReviewAction, ReviewActionKind
from visits.models import VisitKind

INSIDE_SALES = {"inside1": ("North", "East"), "inside2": ("South", "West")}
PARTNERS = {
    "Pennine Distribution": {
        "regions": ("North", "South"),
        "commission_percent": "12.00",
        "fee_per_order": "0",
        "contact_name": "Priya Shah",
    },
    "Coastline Agents": {
        "regions": ("East", "West"),
        "commission_percent": "8.00",
        "fee_per_order": "15.00",
        "contact_name": "Tom Hale",
    },
}

# Which accounts move, by the refreshed recommendation and the id (a deterministic sample):
# a third of those that lose money on visits went to inside sales and a sixth to remote
# visits, half of those that lose money anyway to a partner, a few small ones to self-service
# and a few profitable ones to remote visits.
_CHOOSE = """
SELECT c.id,
       CASE WHEN m.recommendation = {move_remote} AND MOD(c.id, 3) = 0
                THEN {inside_sales}
            WHEN m.recommendation = {hand_off} AND MOD(c.id, 2) = 0
                THEN {partner}
            WHEN c.tier = 'D' AND m.recommendation IN ({keep},
                                                       {reprice})
                 AND MOD(c.id, 10) = 3 THEN {self_service}
            ELSE {remote} END AS model,
       COALESCE(parent.name, t.name) AS region,
       %(today)s::date - (90 + MOD(c.id * 37, 180))::integer AS since
FROM crm_customer c
JOIN crm_accountmetrics m ON m.customer_id = c.id
JOIN accounts_territory t ON t.id = c.territory_id
LEFT JOIN accounts_territory parent ON parent.id = t.parent_id
WHERE c.status = {active}
  AND ((m.recommendation = {move_remote} AND MOD(c.id, 6) IN (0, 1, 3))
       OR (m.recommendation = {hand_off} AND MOD(c.id, 2) = 0)
       OR (c.tier = 'D' AND m.recommendation IN ({keep},
                                                 {reprice}) AND MOD(c.id, 10) = 3)
       OR (m.recommendation = {keep} AND MOD(c.id, 25) = 1))
ORDER BY c.id
"""
_CHOOSE_SQL = compose(
    _CHOOSE,
    move_remote=Recommendation.MOVE_REMOTE,
    hand_off=Recommendation.HAND_OFF,
    keep=Recommendation.KEEP,
    reprice=Recommendation.REPRICE,
    inside_sales=ServiceModel.INSIDE_SALES,
    partner=ServiceModel.PARTNER,
    self_service=ServiceModel.SELF_SERVICE,
    remote=ServiceModel.REMOTE,
    active=CustomerStatus.ACTIVE,
)

# From the hand-off on: calls instead of on-site visits, by the new owner where there is one.
_AS_CALLS = """
UPDATE visits_visit v
SET salesperson_id = COALESCE(moved.caller, v.salesperson_id),
    kind = CASE WHEN v.kind = {on_site} THEN {phone} ELSE v.kind END,
    duration_minutes = LEAST(v.duration_minutes, 25),
    travel_minutes = 0, distance_km = 0, expenses = 0
FROM unnest(%(ids)s::bigint[], %(since)s::date[], %(callers)s::bigint[])
     AS moved (customer_id, since, caller)
WHERE v.customer_id = moved.customer_id
  AND COALESCE(v.visited_at, v.scheduled_start) >= moved.since::timestamptz
"""
_AS_CALLS_SQL = compose(_AS_CALLS, on_site=VisitKind.ON_SITE, phone=VisitKind.PHONE)

# From the hand-off on, nobody on the team visits partner and self-service accounts.
_NOT_VISITED_SQL = """
WITH gone AS (
    SELECT v.id
    FROM visits_visit v
    JOIN unnest(%(ids)s::bigint[], %(since)s::date[]) AS moved (customer_id, since)
      ON moved.customer_id = v.customer_id
    WHERE COALESCE(v.visited_at, v.scheduled_start) >= moved.since::timestamptz
), contacts AS (
    DELETE FROM visits_visit_contacts vc USING gone WHERE vc.visit_id = gone.id
), asks AS (
    -- What the customer asked for stands; only its visit is gone (as the ORM's SET_NULL).
    UPDATE visits_ask a SET visit_id = NULL FROM gone WHERE a.visit_id = gone.id
)
DELETE FROM visits_visit v USING gone WHERE v.id = gone.id
"""

# What each hand-off found: the account's 12 months before it, from the monthly figures.
_FIGURES_SQL = """
UPDATE crm_reviewaction a
SET figures = jsonb_build_object(
        'revenue', before.revenue::text, 'gross_margin', before.margin::text,
        'cost_to_serve', before.cost::text, 'profit', (before.margin - before.cost)::text,
        'visits_done', before.visits::text)
FROM (
    SELECT a.id, COALESCE(SUM(am.revenue), 0) AS revenue,
           COALESCE(SUM(am.gross_margin), 0) AS margin,
           COALESCE(SUM(am.visit_cost + am.support_cost + am.late_payment_cost
                        + am.partner_cost), 0) AS cost,
           COALESCE(SUM(am.visits_done), 0) AS visits
    FROM crm_reviewaction a
    LEFT JOIN crm_accountmonth am
      ON am.customer_id = a.customer_id
     AND am.month >= date_trunc('month', a.at) - interval '12 months'
     AND am.month < date_trunc('month', a.at)
    WHERE a.id = ANY(%(ids)s)
    GROUP BY a.id
) before
WHERE a.id = before.id
"""


def seed_service_models(*, users: dict[str, User], today: dt.date, password: str) -> dict:
    """Create inside1, inside2 and two partners, move the chosen accounts, record the hand-offs
    and refresh the moved accounts. Returns counts for the seed report."""
    regions = {t.name: t for t in Territory.objects.filter(parent__isnull=True)}
    managers = {
        territory.name: territory.managers.order_by("pk").first() for territory in regions.values()
    }
    inside = {}
    for username, served in INSIDE_SALES.items():
        person = User.objects.create(
            username=username,
            first_name=username.capitalize(),
            last_name="Inside-Sales",
            role=Role.INSIDE_SALES,
            email=f"{username}@example.com",
            hourly_cost=35,
            password=password,
        )
        for region in served:
            if region in regions:
                # Members of the region and its sub-territories: their managers see them (an
                # inside-sales person sees only the accounts they own, whatever their territory).
                regions[region].members.add(person)
                person.territories.add(*regions[region].children.all())
                inside[region] = person
        users[username] = person
    partners = {}
    for name, terms in PARTNERS.items():
        partner = Partner.objects.create(
            name=name,
            contact_name=terms["contact_name"],
            email=f"{terms['contact_name'].split()[0].lower()}@{name.split()[0].lower()}.example",
            commission_percent=terms["commission_percent"],
            fee_per_order=terms["fee_per_order"],
        )
        for region in terms["regions"]:
            partners[region] = partner
    with connection.cursor() as cursor:
        cursor.execute(_CHOOSE_SQL, {"today": today})
        chosen = cursor.fetchall()
    if not chosen:
        return {"hand-offs": 0}
    by_model: dict[str, list[tuple[int, str, dt.date]]] = {}
    for customer_id, model, region, since in chosen:
        by_model.setdefault(model, []).append((customer_id, region, since))
    _move(by_model, inside=inside, partners=partners, managers=managers)
    moved_ids = [row[0] for row in chosen]
    accounts_refresh(customer_ids=moved_ids, as_of=today)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM crm_reviewaction WHERE customer_id = ANY(%(ids)s)", {"ids": moved_ids}
        )
        action_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(_FIGURES_SQL, {"ids": action_ids})
    return {"inside-sales people": len(INSIDE_SALES), "partners": len(PARTNERS)} | {
        f"{model.replace('_', ' ')} accounts": len(rows) for model, rows in sorted(by_model.items())
    }


def _move(by_model, *, inside, partners, managers) -> None:
    calls, unvisited = [], []
    actions = []
    with connection.cursor() as cursor:
        for model, rows in by_model.items():
            for customer_id, region, since in rows:
                owner = inside.get(region) if model == ServiceModel.INSIDE_SALES else None
                partner = partners.get(region) if model == ServiceModel.PARTNER else None
                cursor.execute(
                    "UPDATE crm_customer SET service_model = %s, service_since = %s, "
                    "partner_id = %s, owner_id = COALESCE(%s, owner_id) WHERE id = %s",
                    [
                        model,
                        since,
                        partner.pk if partner else None,
                        owner.pk if owner else None,
                        customer_id,
                    ],
                )
                if model in (ServiceModel.INSIDE_SALES, ServiceModel.REMOTE):
                    calls.append((customer_id, since, owner.pk if owner else None))
                else:
                    unvisited.append((customer_id, since))
                actions.append(
                    ReviewAction(
                        customer_id=customer_id,
                        user=managers.get(region),
                        action=ReviewActionKind.HAND_OFF,
                        details={
                            "from": ServiceModel.FIELD,
                            "to": model,
                            "to_owner": owner.username if owner else None,
                            "partner": partner.name if partner else None,
                            "seeded": True,
                        },
                    )
                )
        if calls:
            ids, since, callers = zip(*calls, strict=True)
            cursor.execute(
                _AS_CALLS_SQL, {"ids": list(ids), "since": list(since), "callers": list(callers)}
            )
        if unvisited:
            ids, since = zip(*unvisited, strict=True)
            cursor.execute(_NOT_VISITED_SQL, {"ids": list(ids), "since": list(since)})
    created = ReviewAction.objects.bulk_create(actions)
    # Held on the hand-off day, at ten: `at` is set on creation, so it is moved after.
    sinces = {customer_id: since for rows in by_model.values() for customer_id, _, since in rows}
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_reviewaction a SET at = (moved.since + time '10:00') AT TIME ZONE %(tz)s "
            "FROM unnest(%(ids)s::bigint[], %(since)s::date[]) AS moved (id, since) "
            "WHERE a.id = moved.id",
            {
                "ids": [action.pk for action in created],
                "since": [sinces[action.customer_id] for action in created],
                "tz": settings.TIME_ZONE,
            },
        )
