"""Reads for customers. Access rules live here, in `customers_visible_to`, and nowhere else."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import (
    Avg,
    BooleanField,
    Case,
    Count,
    DateField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Min,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Floor
from django.shortcuts import get_object_or_404

from accounts.models import Territory, User
from accounts.selectors import (
    salespeople_visible_to,
    territory_ids_managed_by,
    territory_ids_worked_by,
)
from core.figures import with_account_figures
from crm.models import Contact, Customer, CustomerStatus, Invoice, SupportCase

CUSTOMER_SORTS = {
    "name": ("name", "id"),
    "last_visit": (F("last_visit_at").asc(nulls_first=True), "id"),
    "next_due": (F("next_visit_due").asc(nulls_last=True), "id"),
}


def customer_scope(user: User) -> Q | None:
    """The filter that limits customers to what `user` may see; None means everything.

    - admin: every customer;
    - manager: customers in the territories they manage, sub-territories included;
    - salesperson: customers they own, and customers of the territories they work;
    - inside sales: customers they own (they serve a list, not a territory).
    """
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_cadence_admin:
        return None
    if user.is_manager:
        return Q(territory_id__in=territory_ids_managed_by(user))
    if user.is_inside_sales:
        return Q(owner=user)
    # The territories as values, read once per request (kept on the user object): the planner
    # then knows how few accounts the scope holds. As a subquery it guessed a sixth of every
    # customer and read the whole name index to fill a page (70-130 ms at 100k).
    return Q(owner=user) | Q(territory_id__in=territory_ids_worked_by(user))


def of_customers_visible_to(user: User, rows: QuerySet) -> QuerySet:
    """Rows that belong to a customer (visits, actions, invoices...): those of the customers
    `user` sees; for an admin all of them, without a join to every customer."""
    scope = customer_scope(user)
    if scope is None:
        return rows
    return rows.filter(customer__in=Customer.objects.filter(scope).values("pk"))


def customers_visible_to(user: User) -> QuerySet[Customer]:
    scope = customer_scope(user)
    customers = Customer.objects.select_related("territory", "owner")
    return customers if scope is None else customers.filter(scope)


def overdue_q(today: dt.date, *, through: str = "") -> Q:
    """The one rule for "overdue": an active account whose next visit was due before today.
    `through` is the path to the customer from another model, e.g. "customer__"."""
    return Q(**{f"{through}status": CustomerStatus.ACTIVE, f"{through}next_visit_due__lt": today})


def days_overdue(today: dt.date, *, through: str = "") -> Func:
    """Days since the next visit fell due, 0 until it does, None without a due date: the one
    expression the API, the field pack, the day plan and the pages read (its SQL twin is
    crm.cadence.days_overdue_sql)."""
    return Func(
        Value(0),
        Func(
            Value(today, output_field=DateField()),
            F(f"{through}next_visit_due"),
            arg_joiner=" - ",
            template="(%(expressions)s)",
            output_field=IntegerField(),
        ),
        function="GREATEST",
        output_field=IntegerField(),
    )


def with_overdue(rows: QuerySet, *, today: dt.date, through: str = "") -> QuerySet:
    """Annotate `is_overdue` and `days_overdue` (customers) or `customer_is_overdue` and
    `customer_days_overdue` (rows with a customer, with `through="customer__"`), for templates,
    serializers and views to read instead of comparing dates."""
    prefix = through.replace("__", "_")
    return rows.annotate(
        **{
            f"{prefix}is_overdue": ExpressionWrapper(
                overdue_q(today, through=through), output_field=BooleanField()
            ),
            f"{prefix}days_overdue": days_overdue(today, through=through),
        }
    )


def customer_visible_or_404(user: User, pk: int, *, today: dt.date) -> Customer:
    """The account if `user` may see it (with `is_overdue`), else 404: never a 403 that would
    confirm it exists."""
    customers = customers_visible_to(user).select_related("partner")
    return get_object_or_404(with_overdue(customers, today=today), pk=pk)


def customer_search(
    user: User,
    *,
    today: dt.date,
    query: str = "",
    tier: str = "",
    status: str = "",
    overdue: bool = False,
    sort: str = "name",
) -> QuerySet[Customer]:
    """Visible customers matching a free-text query (name, code or city) and filters."""
    customers = customers_visible_to(user)
    query = query.strip()
    if query:
        customers = customers.filter(
            Q(name__icontains=query) | Q(code__istartswith=query) | Q(city__icontains=query)
        )
    if tier:
        customers = customers.filter(tier=tier)
    if status:
        customers = customers.filter(status=status)
    customers = with_overdue(customers, today=today)
    if overdue:
        customers = customers.filter(is_overdue=True)
    return customers.order_by(*CUSTOMER_SORTS.get(sort, CUSTOMER_SORTS["name"]))


def customer_edit_choices(user: User) -> dict:
    """Owners and territories a manager (their own) or admin (all) may assign a customer to."""
    territories = Territory.objects.all()
    if not user.is_cadence_admin:
        territories = territories.filter(pk__in=territory_ids_managed_by(user))
    return {"owners": salespeople_visible_to(user), "territories": territories}


def customer_invoices(customer: Customer, *, today: dt.date) -> QuerySet[Invoice]:
    """Newest first, each with `is_overdue` (unpaid and past its due date)."""
    unpaid_late = Q(paid_on__isnull=True, due_on__lt=today)
    return customer.invoices.annotate(
        is_overdue=ExpressionWrapper(unpaid_late, output_field=BooleanField())
    ).order_by("-issued_on", "-id")


def customer_support_cases(customer: Customer) -> QuerySet[SupportCase]:
    return customer.support_cases.order_by("-opened_on", "-id")


def customer_contacts(customer: Customer) -> QuerySet[Contact]:
    return customer.contacts.order_by("-is_primary", "name", "id")


# "Near me" looks this far at most and lists this many at most.
NEAR_MAX_KM = 200
NEAR_MAX_RESULTS = 50
_POINT = "ll_to_earth(crm_customer.latitude, crm_customer.longitude)"


def customers_near(
    user: User, *, latitude: float, longitude: float, km: float, limit: int = 20, prepare=None
) -> list[Customer]:
    """The user's located accounts within `km` of the point, nearest first (at most `limit`),
    each with its `distance_km`. The nearest `limit` accounts are read in the GiST index's
    distance order (KNN: PostgreSQL stops after `limit` rows, however dense the town), then
    those farther than `km` dropped — the nearest within `km` are a prefix of the nearest.
    `prepare` may add to the query (annotations, related rows) before it runs."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError("A latitude is within ±90° and a longitude within ±180°.")
    here = (latitude, longitude)
    radius = min(max(km, 0.0), NEAR_MAX_KM)
    # The box bounds the scan when the user's accounts are all far away (else the distance
    # order would walk the whole index looking for 20 of theirs).
    in_box = RawSQL(
        f"earth_box(ll_to_earth(%s, %s), %s) @> {_POINT}", (*here, radius * 1000), BooleanField()
    )
    distance = RawSQL(f"earth_distance({_POINT}, ll_to_earth(%s, %s)) / 1000.0", here)
    nearest = RawSQL(f"{_POINT} <-> ll_to_earth(%s, %s)", here)
    customers = (
        customers_visible_to(user)
        .filter(latitude__isnull=False)
        .filter(in_box)
        .annotate(distance_km=ExpressionWrapper(distance, output_field=FloatField()))
        .order_by(nearest)
    )
    if prepare is not None:
        customers = prepare(customers)
    found = customers[: min(limit, NEAR_MAX_RESULTS)]
    return [customer for customer in found if customer.distance_km <= radius]


# A map point's state, worst first: what colours it.
MAP_STATES = ("neglected", "overdue", "unprofitable", "fine")
# At most this many accounts in view are sent as points; more are sent as clusters.
MAP_MAX_POINTS = 1_000
# Clusters are cells of a grid this many to a 256-pixel map tile at the map's zoom (64 px).
MAP_CELLS_PER_TILE = 4


@dataclass(frozen=True)
class MapView:
    """The part of the map on screen, in degrees, and its zoom (0: the world in one tile)."""

    south: float
    west: float
    north: float
    east: float
    zoom: int

    @property
    def cell_degrees(self) -> float:
        return 360 / 2**self.zoom / MAP_CELLS_PER_TILE


def _map_state(today: dt.date) -> Case:
    return Case(
        When(is_neglected=True, then=Value(0)),
        When(overdue_q(today), then=Value(1)),
        When(is_unprofitable=True, then=Value(2)),
        default=Value(3),
    )


def _located(customers: QuerySet[Customer], view: MapView | None) -> QuerySet[Customer]:
    located = customers.filter(latitude__isnull=False).order_by()
    if view is None:
        return located
    return located.filter(
        latitude__gte=view.south,
        latitude__lte=view.north,
        longitude__gte=view.west,
        longitude__lte=view.east,
    )


def customer_map_extent(customers: QuerySet[Customer]) -> dict:
    """How many of the customers are on the map and the box around them (one query)."""
    return _located(customers, None).aggregate(
        total=Count("id"),
        south=Min("latitude"),
        west=Min("longitude"),
        north=Max("latitude"),
        east=Max("longitude"),
    )


def customer_map_points(
    customers: QuerySet[Customer], *, today: dt.date, view: MapView | None = None
) -> list[tuple]:
    """(id, latitude, longitude, state index, owner id, name) of the located customers (in the
    view), at most MAP_MAX_POINTS, as tuples (the map's JSON is arrays, not objects)."""
    return list(
        with_account_figures(_located(customers, view))
        .annotate(state=_map_state(today))
        .values_list("id", "latitude", "longitude", "state", "owner_id", "name")[:MAP_MAX_POINTS]
    )


def customer_map_cells(
    customers: QuerySet[Customer], *, today: dt.date, view: MapView
) -> list[tuple]:
    """The located customers in the view grouped into the cells of a grid sized for its zoom:
    (count, mean latitude, mean longitude, worst state, lowest id) per cell, one query
    whatever the number of customers (a cell of one is that customer, by its id)."""
    cell = view.cell_degrees
    return list(
        with_account_figures(_located(customers, view))
        .annotate(
            cell_x=Floor(F("longitude") / cell, output_field=IntegerField()),
            cell_y=Floor(F("latitude") / cell, output_field=IntegerField()),
        )
        .values("cell_x", "cell_y")
        .annotate(
            count=Count("id"),
            latitude=Avg("latitude"),
            longitude=Avg("longitude"),
            worst=Min(_map_state(today)),
            first=Min("id"),
        )
        .values_list("count", "latitude", "longitude", "worst", "first")
    )


def customer_map_shown(
    customers: QuerySet[Customer], *, today: dt.date, view: MapView | None
) -> dict:
    """What the map shows of these customers. Without a view: how many there are and the box
    around them, with their points when there are at most MAP_MAX_POINTS. With the view on
    screen: its points, or, with more than that in view, clusters of a grid sized for the zoom
    (count, mean position, worst state) and the accounts alone in their cell as points, so the
    answer stays small at any size of book. Points are (id, lat, lng, state, owner id, name);
    clusters [lat, lng, count, worst state]."""
    if view is None:
        extent = customer_map_extent(customers)
        total = extent.pop("total")
        points = customer_map_points(customers, today=today) if total <= MAP_MAX_POINTS else []
        return {"total": total, "extent": extent, "clusters": [], "points": points}
    cells = customer_map_cells(customers, today=today, view=view)
    total = sum(count for count, *_ in cells)
    if total <= MAP_MAX_POINTS:
        points = customer_map_points(customers, today=today, view=view)
        return {"total": total, "extent": None, "clusters": [], "points": points}
    clusters = [
        [round(lat, 5), round(lng, 5), count, worst]
        for count, lat, lng, worst, _ in cells
        if count > 1
    ]
    alone = [first for count, *_, first in cells if count == 1]
    points = customer_map_points(customers.filter(pk__in=alone), today=today) if alone else []
    return {"total": total, "extent": None, "clusters": clusters, "points": points}
