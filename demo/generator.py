"""Demo data: territories, users and a year of realistic customer activity.

Rows are generated in Python from one seeded random generator (same seed and day, same data) and
streamed into PostgreSQL with COPY, a chunk of customers at a time, so 100,000 customers with
about two million visits take minutes, not hours. Ids are assigned here rather than by the
sequences, which keeps runs comparable and lets child rows point at parents without a read-back.
"""

import datetime as dt
import math
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Role, Territory, User
from core.sql import compose, identifier, joined, literal
from crm.cadence import cadence_days
from crm.models import Competitor, Contact, Customer, Invoice, SupportCase
from demo.asks import seed_asks
from demo.devices import seed_push_devices
from demo.rhythms import seed_rhythms
from demo.service_models import INSIDE_SALES, seed_service_models
from demo.words import (
    CITIES,
    COMPETITORS,
    FIRST_NAMES,
    FORMS,
    INDUSTRIES,
    LAST_NAMES,
    NEXT_STEPS,
    PURPOSES,
    SAID,
    STREETS,
    SURNAMES,
    TITLES,
    TOWN_CENTRES,
    TRADES,
)
from health.services import health_refresh_everything
from reports.outcomes import outcomes_measure
from visits.models import Visit
from visits.services import customer_cadence_refresh

DEMO_PASSWORD = "cadence-demo"
TERRITORIES = ("North", "South", "East", "West")
# A realistic book: a field rep holds 100-300 accounts, so the team grows with the customers.
ACCOUNTS_PER_REP = 200
FIXED_REPS = 8
# Past this many reps a region's extra reps work sub-territories of this many each.
SUB_TERRITORIES_FROM_REPS = 40
REPS_PER_SUB_TERRITORY = 10
CHUNK_SIZE = 2_000

MEETINGS_PER_DAY = 6
SMITH_SHARE = 0.15
JONES_SHARE = 0.15


class _FastRandom(random.Random):
    """random.Random with cheaper randint/choice (the stdlib ones dominate the seeding time).
    Still fully determined by the seed."""

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]


class DemoDataExists(Exception):
    pass


@dataclass
class SeedReport:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class _Rows:
    customers: list[tuple] = field(default_factory=list)
    contacts: list[tuple] = field(default_factory=list)
    visits: list[tuple] = field(default_factory=list)
    visit_contacts: list[tuple] = field(default_factory=list)
    invoices: list[tuple] = field(default_factory=list)
    support_cases: list[tuple] = field(default_factory=list)


COPY_COLUMNS = {
    "customers": (
        Customer,
        [
            "id",
            "name",
            "code",
            "territory_id",
            "owner_id",
            "tier",
            "status",
            "address_line1",
            "address_line2",
            "postal_code",
            "city",
            "region",
            "country",
            "phone",
            "website",
            "industry",
            "since",
            "cadence_days",
            "notes",
            "created_at",
            "updated_at",
            "latitude",
            "longitude",
            "location_source",
            "located_at",
        ],
    ),
    "contacts": (
        Contact,
        ["id", "customer_id", "name", "title", "email", "phone", "is_primary", "notes"],
    ),
    "visits": (
        Visit,
        [
            "id",
            "customer_id",
            "salesperson_id",
            "kind",
            "status",
            "scheduled_start",
            "scheduled_end",
            "purpose",
            "visited_at",
            "duration_minutes",
            "travel_minutes",
            "distance_km",
            "expenses",
            "notes",
            "outcome",
            "next_step",
            "follow_up_on",
            "competitor",
            "cancel_reason",
            "created_at",
            "updated_at",
        ],
    ),
    "visit_contacts": (Visit.contacts.through, ["visit_id", "contact_id"]),
    "invoices": (
        Invoice,
        [
            "id",
            "customer_id",
            "number",
            "issued_on",
            "due_on",
            "paid_on",
            "amount",
            "cost_of_goods",
            "discount",
            "currency",
        ],
    ),
    "support_cases": (SupportCase, ["id", "customer_id", "opened_on", "kind", "minutes", "note"]),
}


def demo_data_exists() -> bool:
    return (
        Customer.objects.exists()
        or Territory.objects.exists()
        or User.objects.filter(username__in=demo_usernames()).exists()
    )


def demo_usernames() -> list[str]:
    return (
        ["admin"]
        + [f"manager{i}" for i in range(1, 5)]
        + [f"sales{i}" for i in range(1, 9)]
        + list(INSIDE_SALES)
    )


def demo_data_reset() -> None:
    """Empty every Cadence table, users included. Demo use only."""
    tables = [model._meta.db_table for model, _ in COPY_COLUMNS.values()]
    tables += [
        "crm_reviewaction",
        "crm_partner",
        "crm_competitor",
        Territory.managers.through._meta.db_table,
        Territory.members.through._meta.db_table,
        Territory._meta.db_table,
        User._meta.db_table,
    ]
    with connection.cursor() as cursor:
        # Foreign keys are checked at commit; TRUNCATE refuses while such checks are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def demo_data_seed(
    *,
    customers: int,
    seed: int,
    accounts_per_rep: int = ACCOUNTS_PER_REP,
    reset: bool = False,
    today: dt.date | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> SeedReport:
    """Seed everything in one transaction: a failed or interrupted run leaves nothing behind."""
    started = time.monotonic()
    today = today or timezone.localdate()
    with transaction.atomic():
        # Check foreign keys row by row during COPY instead of queueing millions of deferred
        # checks for the commit.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        if demo_data_exists():
            if not reset:
                raise DemoDataExists(
                    "The database already holds customers, territories or demo users. "
                    "Run with --reset to delete everything and seed again."
                )
            demo_data_reset()
        rng = _FastRandom(seed)
        salespeople = max(FIXED_REPS, math.ceil(customers / accounts_per_rep))
        users, territories, rep_territories = _seed_people(rng, salespeople=salespeople)
        # The competitors the visits name, as an admin would keep them.
        Competitor.objects.bulk_create(
            Competitor(name=name, aliases=name.upper()) for name in COMPETITORS
        )
        report = SeedReport(counts={"users": len(users), "territories": len(territories)})
        report.counts.update(dict.fromkeys(COPY_COLUMNS, 0))
        generator = _Generator(rng=rng, today=today, users=users, rep_territories=rep_territories)
        # PostgreSQL ingests one chunk while Python generates the next: two cores, both busy.
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = None
            for chunk_start in range(0, customers, CHUNK_SIZE):
                chunk_end = min(customers, chunk_start + CHUNK_SIZE)
                rows = generator.chunk(range(chunk_start, chunk_end))
                if pending is not None:
                    pending.result()
                pending = writer.submit(_copy_chunk, connection.connection, rows)
                for name in COPY_COLUMNS:
                    report.counts[name] += len(getattr(rows, name))
                progress(f"{chunk_end:,} of {customers:,} customers")
            if pending is not None:
                pending.result()
        _reset_sequences()
        # Fresh statistics first: without them the refresh queries below get poor plans.
        with connection.cursor() as cursor:
            cursor.execute(
                f"ANALYZE {', '.join(m._meta.db_table for m, _ in COPY_COLUMNS.values())}"
            )
        report.counts["asks"] = seed_asks(today=today)
        report.counts["push_devices"] = seed_push_devices(
            people=[users[f"sales{i}"] for i in range(1, FIXED_REPS + 1)], seed=seed
        )
        customer_cadence_refresh()
        health_refresh_everything(as_of=today)
        report.counts |= seed_service_models(
            users=users, today=today, password=make_password(DEMO_PASSWORD)
        )
        report.counts |= seed_rhythms(
            people=[users[f"sales{i}"] for i in range(1, FIXED_REPS + 1)], today=today
        )
        # As the night would: the review actions' outcomes measured for Outcomes.
        outcomes_measure(today=today)
        # Partner and self-service accounts lost their visits from the hand-off on.
        report.counts["visits"] = Visit.objects.count()
        report.counts["visit_contacts"] = Visit.contacts.through.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    report.seconds = time.monotonic() - started
    return report


def _seed_people(
    rng: random.Random, *, salespeople: int
) -> tuple[dict[str, User], dict[str, Territory], dict[int, Territory]]:
    """The fixed demo logins (admin, manager1-4 over North, South, East and West, sales1-8, two
    per region) and, for a bigger book, sales9 onwards shared round the regions: members of
    the region itself, or past SUB_TERRITORIES_FROM_REPS reps, of sub-territories ("North 1",
    ...) of REPS_PER_SUB_TERRITORY each. Returns the users, the territories by name and each
    salesperson's territory."""
    password = make_password(DEMO_PASSWORD)
    people = [
        User(
            username="admin",
            first_name="Ada",
            last_name="Admin",
            role=Role.ADMIN,
            is_staff=True,
            is_superuser=True,
            email="admin@example.com",
        )
    ]
    for i, territory in enumerate(TERRITORIES, start=1):
        people.append(
            User(
                username=f"manager{i}",
                first_name=rng.choice(FIRST_NAMES),
                last_name=f"{territory}-Manager",
                role=Role.MANAGER,
                email=f"manager{i}@example.com",
                hourly_cost=80,
            )
        )
    for i in range(1, salespeople + 1):
        people.append(
            User(
                username=f"sales{i}",
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                role=Role.SALESPERSON,
                email=f"sales{i}@example.com",
                hourly_cost=rng.choice((55, 60, 65, 70)),
            )
        )
    for person in people:
        person.password = password
    users = {user.username: user for user in User.objects.bulk_create(people)}
    territories = {}
    rep_territories: dict[int, Territory] = {}
    for i, name in enumerate(TERRITORIES, start=1):
        territory = Territory.objects.create(name=name)
        territory.managers.add(users[f"manager{i}"])
        territories[name] = territory
        for rep in (users[f"sales{2 * i - 1}"], users[f"sales{2 * i}"]):
            rep_territories[rep.id] = territory
    extra = [users[f"sales{i}"] for i in range(FIXED_REPS + 1, salespeople + 1)]
    for position, rep in enumerate(extra):
        region = TERRITORIES[position % len(TERRITORIES)]
        if salespeople <= SUB_TERRITORIES_FROM_REPS:
            rep_territories[rep.id] = territories[region]
            continue
        number = position // len(TERRITORIES) // REPS_PER_SUB_TERRITORY + 1
        name = f"{region} {number}"
        if name not in territories:
            territories[name] = Territory.objects.create(name=name, parent=territories[region])
        rep_territories[rep.id] = territories[name]
    memberships = Territory.members.through
    memberships.objects.bulk_create(
        memberships(territory_id=territory.id, user_id=rep_id)
        for rep_id, territory in rep_territories.items()
    )
    _place_people(users, territories, rep_territories)
    return users, territories, rep_territories


def _place_people(users, territories, rep_territories) -> None:
    """Each territory's office in its region's first town; each rep's home base near one of
    the region's towns, in turn, so a rep's days start among their accounts."""
    for territory in territories.values():
        town = CITIES[territory.name.split(" ")[0]][0][0]
        territory.office_label = f"{town} office"
        territory.office_latitude, territory.office_longitude = TOWN_CENTRES[town]
    Territory.objects.bulk_update(
        territories.values(), ["office_label", "office_latitude", "office_longitude"]
    )
    by_id = {user.id: user for user in users.values()}
    reps = []
    for position, (rep_id, territory) in enumerate(sorted(rep_territories.items())):
        towns = CITIES[territory.name.split(" ")[0]]
        town = towns[position % len(towns)][0]
        rep = by_id[rep_id]
        rep.home_label = f"Home ({town})"
        rep.home_latitude, rep.home_longitude = _placed_near(town, 7919 * rep_id)
        reps.append(rep)
    User.objects.bulk_update(reps, ["home_label", "home_latitude", "home_longitude"])


def _copy_chunk(raw_connection, rows: _Rows) -> None:
    """COPY one chunk's rows, table by table (parents first), on the raw psycopg connection:
    it runs in a helper thread, where Django's thread-local `connection` is another one."""
    with raw_connection.cursor() as cursor:
        for name, (model, columns) in COPY_COLUMNS.items():
            statement = compose(
                "COPY {table} ({columns}) FROM STDIN",
                table=identifier(model._meta.db_table),
                columns=joined(map(identifier, columns)),
            )
            with cursor.copy(statement) as copy:
                for row in getattr(rows, name):
                    copy.write_row(row)


def _reset_sequences() -> None:
    with connection.cursor() as cursor:
        for model in (Customer, Contact, Visit, Invoice, SupportCase):
            table = model._meta.db_table
            cursor.execute(
                compose(
                    "SELECT setval(pg_get_serial_sequence({name}, 'id'), "
                    "COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)",
                    name=literal(table),
                    table=identifier(table),
                )
            )


class _Generator:
    def __init__(self, *, rng, today, users, rep_territories) -> None:
        self.rng = rng
        self.today = today
        self.tz = ZoneInfo(settings.TIME_ZONE)
        # The seed's "now" is the start of `today`, not the clock: the same seed on the same
        # day gives the same data whenever it runs, and nothing is done ahead of the hour it
        # runs at (today's meetings are all still to be held).
        self.now = dt.datetime.combine(today, dt.time.min, tzinfo=self.tz)
        self.currency = settings.CADENCE_CURRENCY
        self.territory_names = list(TERRITORIES)
        self.rep_territory_ids = {pk: territory.id for pk, territory in rep_territories.items()}
        reps = {user.id: user for user in users.values() if user.id in rep_territories}
        # Each region's reps, those of its sub-territories included, in login order.
        self.reps = {
            name: [
                reps[pk]
                for pk, territory in rep_territories.items()
                if name in (territory.name, territory.parent.name if territory.parent else None)
            ]
            for name in TERRITORIES
        }
        self.ids = {"contacts": 0, "visits": 0, "invoices": 0, "support_cases": 0}
        self.meetings_booked: dict[tuple[int, dt.date], int] = {}

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def chunk(self, indexes: range) -> _Rows:
        rows = _Rows()
        for index in indexes:
            self.customer(index, rows)
        return rows

    def at(self, day: dt.date, hour: int, minute: int) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=self.tz)

    def customer(self, index: int, rows: _Rows) -> None:
        rng = self.rng
        customer_id = index + 1
        territory = self.territory_names[index % len(self.territory_names)]
        rep = rng.choice(self.reps[territory])
        roll = rng.random()
        archetype = (
            "smith"
            if roll < SMITH_SHARE
            else "jones"
            if roll < SMITH_SHARE + JONES_SHARE
            else "normal"
        )
        tier = rng.choices("ABCD", weights=(10, 25, 40, 25))[0]
        if archetype == "jones":
            tier = rng.choice("ABB")
        status = rng.choices(("active", "prospect", "dormant", "lost"), weights=(82, 6, 7, 5))[0]
        if archetype != "normal":
            status = "active"
        city, postcode_area = rng.choice(CITIES[territory])
        since = self.today - dt.timedelta(days=rng.randint(400, 3650))
        cadence_override = rng.choice((21, 45, 120)) if rng.random() < 0.03 else None
        name = f"{rng.choice(SURNAMES)} {rng.choice(TRADES)} {rng.choice(FORMS)}"
        domain = name.split()[0].lower()
        rows.customers.append(
            (
                customer_id,
                name,
                f"C{customer_id:06d}",
                self.rep_territory_ids[rep.id],
                rep.id,
                tier,
                status,
                f"{rng.randint(1, 240)} {rng.choice(STREETS)}",
                "",
                f"{postcode_area}{rng.randint(1, 29)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}"
                f"{rng.choice('LNPQRSTUW')}",
                city,
                territory,
                "United Kingdom",
                f"01{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                f"https://www.{domain}{customer_id}.example",
                rng.choice(INDUSTRIES),
                since,
                cadence_override,
                "",
                self.now,
                self.now,
                *_placed_near(city, customer_id),
                "imported",
                self.now,
            )
        )
        contact_ids = self.contacts(customer_id, domain, rows)
        cadence = cadence_days(tier=tier, own_days=cadence_override, policies={})
        self.visits(customer_id, rep, status, archetype, cadence, contact_ids[0], rows)
        if status != "prospect":
            self.invoices(customer_id, tier, status, archetype, rows)
        self.support_cases(customer_id, status, archetype, rows)

    def contacts(self, customer_id: int, domain: str, rows: _Rows) -> list[int]:
        rng = self.rng
        ids = []
        for position in range(rng.choice((1, 1, 2, 2, 3))):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            contact_id = self.next_id("contacts")
            ids.append(contact_id)
            rows.contacts.append(
                (
                    contact_id,
                    customer_id,
                    f"{first} {last}",
                    rng.choice(TITLES),
                    f"{first.lower()}.{last.lower()}@{domain}{customer_id}.example",
                    f"07{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                    position == 0,
                    "",
                )
            )
        return ids

    def visits(self, customer_id, rep, status, archetype, cadence, contact_id, rows) -> None:
        rng = self.rng
        window_start = self.today - dt.timedelta(days=365)
        if status == "lost":
            last_active = self.today - dt.timedelta(days=rng.randint(270, 365))
        elif status == "dormant":
            last_active = self.today - dt.timedelta(days=rng.randint(150, 300))
        elif archetype == "normal" and rng.random() < 0.2:
            # Neglected: nobody has been there for well over the cadence.
            last_active = self.today - dt.timedelta(days=int(cadence * rng.uniform(1.3, 3.0)))
        else:
            last_active = self.today - dt.timedelta(days=rng.randint(0, max(1, cadence // 2)))
        spacing = {"smith": 0.45, "jones": 1.4, "normal": 0.9}[archetype]
        if status == "prospect":
            day = self.today - dt.timedelta(days=rng.randint(5, 120))
            visit_days = [day]
        else:
            visit_days = []
            day = last_active
            while day >= window_start:
                visit_days.append(day)
                day -= dt.timedelta(days=max(3, int(cadence * spacing * rng.uniform(0.7, 1.3))))
        for day in visit_days:
            kind = "on_site"
            if archetype == "jones" and rng.random() < 0.5:
                kind = rng.choice(("phone", "video"))
            self.past_visit(customer_id, rep, day, kind, archetype, contact_id, rows)
        touches = {"smith": 16, "jones": 3, "normal": 10}[archetype] if status != "lost" else 1
        touch_end = min(self.today, last_active + dt.timedelta(days=20))
        span = (touch_end - window_start).days
        for _ in range(_poisson(rng, touches * span / 365)):
            day = window_start + dt.timedelta(days=rng.randint(0, max(0, span)))
            kind = rng.choice(("phone", "phone", "email", "video"))
            self.past_visit(customer_id, rep, day, kind, archetype, contact_id, rows)
        next_due = last_active + dt.timedelta(days=cadence)
        if (
            status == "active"
            and next_due <= self.today + dt.timedelta(days=30)
            and rng.random() < 0.45
        ):
            self.planned_visit(customer_id, rep, contact_id, rows)

    def past_visit(self, customer_id, rep, day, kind, archetype, contact_id, rows) -> None:
        rng = self.rng
        start = self.at(day, rng.randint(8, 16), rng.choice((0, 15, 30, 45)))
        duration = {
            "on_site": rng.randint(30, 120),
            "phone": rng.randint(5, 30),
            "video": rng.randint(20, 50),
            "email": 5,
        }[kind]
        if archetype == "smith" and kind == "on_site":
            duration = rng.randint(90, 180)
        status = rng.choices(("done", "cancelled", "no_show"), weights=(93, 5, 2))[0]
        if kind == "email":
            status = "done"
        scheduled = kind != "email"
        if start > self.now:
            # Today: a meeting still ahead (an e-mail already sent).
            if scheduled:
                status = "planned"
            else:
                start = self.now - dt.timedelta(minutes=5)
        on_site = kind == "on_site"
        done = status == "done"
        travel = rng.randint(20, 100) if on_site and done else 0
        distance = f"{travel * rng.uniform(0.6, 1.1):.1f}" if travel else "0"
        expenses = f"{rng.uniform(0, 60):.2f}" if on_site and done and rng.random() < 0.4 else "0"
        visit_id = self.next_id("visits")
        rows.visits.append(
            (
                visit_id,
                customer_id,
                rep.id,
                kind,
                status,
                start if scheduled else None,
                start + dt.timedelta(minutes=duration) if scheduled else None,
                rng.choice(PURPOSES) if scheduled else "",
                start if done else None,
                duration if done else 0,
                travel,
                distance,
                expenses,
                rng.choice(SAID) if done else "",
                rng.choices(("positive", "neutral", "negative"), weights=(5, 4, 1))[0]
                if done
                else "",
                rng.choice(NEXT_STEPS) if done else "",
                day + dt.timedelta(days=rng.randint(7, 30))
                if done and rng.random() < 0.25
                else None,
                rng.choice(COMPETITORS) if done and rng.random() < 0.08 else "",
                "Customer asked to move it" if status == "cancelled" else "",
                start,
                start,
            )
        )
        if done and kind in ("on_site", "video"):
            rows.visit_contacts.append((visit_id, contact_id))

    def planned_visit(self, customer_id, rep, contact_id, rows) -> None:
        """Book a meeting on the first working day from a random one that still has room: a
        salesperson's day holds at most MEETINGS_PER_DAY, however many customers there are."""
        rng = self.rng
        first = self.today + dt.timedelta(days=rng.randint(0, 20))
        for offset in range(21):
            day = first + dt.timedelta(days=offset)
            if day.weekday() < 5 and self.meetings_booked.get((rep.id, day), 0) < MEETINGS_PER_DAY:
                break
        else:
            return
        self.meetings_booked[rep.id, day] = self.meetings_booked.get((rep.id, day), 0) + 1
        start = self.at(day, rng.randint(8, 16), rng.choice((0, 30)))
        kind = rng.choices(("on_site", "phone", "video"), weights=(7, 2, 1))[0]
        visit_id = self.next_id("visits")
        rows.visits.append(
            (
                visit_id,
                customer_id,
                rep.id,
                kind,
                "planned",
                start,
                start + dt.timedelta(minutes=60 if kind == "on_site" else 30),
                rng.choice(PURPOSES),
                None,
                0,
                0,
                "0",
                "0",
                "",
                "",
                "",
                None,
                "",
                "",
                self.now,
                self.now,
            )
        )
        rows.visit_contacts.append((visit_id, contact_id))

    def invoices(self, customer_id, tier, status, archetype, rows) -> None:
        rng = self.rng
        base = {"A": 2500, "B": 800, "C": 250, "D": 100}[tier]
        per_year = {
            "smith": rng.randint(12, 20),
            "jones": rng.randint(6, 12),
            "normal": rng.randint(5, 14),
        }[archetype]
        # Each account has a margin of its own, spread around its archetype's (so the book's
        # margins form a continuum, not three bands), and each invoice varies around it.
        centre = {"smith": 0.045, "jones": 0.52, "normal": 0.2}[archetype]
        own = min(0.75, max(-0.05, rng.gauss(centre, 0.07)))
        margin = (own - 0.03, own + 0.03)
        discount_share = {"smith": (0.08, 0.15), "jones": (0.0, 0.02), "normal": (0.0, 0.05)}[
            archetype
        ]
        active_days = 365 if status == "active" else rng.randint(60, 200)
        # Orders come at a steady pace (one every `step` days, give or take), as real accounts
        # order: three months then hold about a quarter's revenue, so before/after comparisons
        # (Outcomes) show the action's effect, not the luck of which months an order fell in.
        step = active_days / per_year
        for order in range(per_year):
            days_ago = 364 - int(order * step + rng.uniform(0, step))
            issued = self.today - dt.timedelta(days=max(365 - active_days, days_ago))
            if archetype == "jones":
                amount = base * 2.5 * rng.lognormvariate(0, 0.3)
            elif archetype == "smith":
                amount = base * 0.4 * rng.lognormvariate(0, 0.3)
            else:
                amount = base * rng.lognormvariate(0, 0.25)
            due = issued + dt.timedelta(days=30)
            late = {
                "smith": rng.randint(25, 120),
                "jones": rng.randint(-10, 0),
                "normal": rng.randint(20, 60) if rng.random() < 0.1 else rng.randint(-8, 5),
            }
            paid = due + dt.timedelta(days=late[archetype])
            if paid > self.today or (archetype == "smith" and rng.random() < 0.1):
                paid = None
            invoice_id = self.next_id("invoices")
            rows.invoices.append(
                (
                    invoice_id,
                    customer_id,
                    f"INV-{invoice_id:08d}",
                    issued,
                    due,
                    paid,
                    f"{amount:.2f}",
                    f"{amount * (1 - rng.uniform(*margin)):.2f}",
                    f"{amount * rng.uniform(*discount_share):.2f}",
                    self.currency,
                )
            )

    def support_cases(self, customer_id, status, archetype, rows) -> None:
        rng = self.rng
        rate = {"smith": 18, "jones": 0.5, "normal": 1.5}[archetype]
        if status in ("lost", "prospect"):
            rate = 0.3
        for _ in range(_poisson(rng, rate)):
            low, high = (20, 120) if archetype == "smith" else (10, 60)
            rows.support_cases.append(
                (
                    self.next_id("support_cases"),
                    customer_id,
                    self.today - dt.timedelta(days=rng.randint(0, 364)),
                    rng.choice(("complaint", "request", "order_issue", "other")),
                    rng.randint(low, high),
                    "",
                )
            )


def _placed_near(city: str, customer_id: int) -> tuple[float, float]:
    """A point within about 12 km of the town's centre, from the id (not the seeded generator,
    whose sequence the rest of the data follows): accounts cluster round real towns."""
    latitude, longitude = TOWN_CENTRES[city]
    spread = (customer_id * 2654435761) % 4294967296 / 4294967296
    angle = (customer_id * 40503) % 65536 / 65536 * 2 * math.pi
    distance = math.sqrt(spread) * 0.11  # degrees of latitude, about 12 km
    return (
        round(latitude + distance * math.sin(angle), 6),
        round(longitude + distance * math.cos(angle) / math.cos(math.radians(latitude)), 6),
    )


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; means here are small (under 20)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
