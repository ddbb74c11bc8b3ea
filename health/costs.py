"""The cost rules, once: each cost to serve a customer carries, as an SQL expression over the
columns it is made of. The refresh (health.figures: a year's and each month's figures) and the
what-if (health.whatif: the same year under another service model) build their statements from
these, so a rule changed here changes every figure Cadence shows. In words: docs/account-health.md.
"""

from core.sql import Composable, compose, fragment

# An invoice's amounts in the house currency (CADENCE_CURRENCY): its own amounts at the rate
# recorded when it was saved or imported (1 for the house currency), to the cent. For a
# CROSS JOIN LATERAL on crm_invoice aliased i.
HOUSE_AMOUNTS_SQL = fragment("""
    SELECT ROUND(i.amount * i.exchange_rate, 2) AS amount,
           ROUND(i.cost_of_goods * i.exchange_rate, 2) AS cost_of_goods,
           ROUND(i.discount * i.exchange_rate, 2) AS discount
""")

# Each rule takes SQL expressions (core.sql: fragment, name) for the columns it is made of.


def visit_cost_sql(
    *, minutes: Composable, km: Composable, expenses: Composable, hourly_cost: Composable
) -> Composable:
    """Time at the hourly cost of whoever made the contact, driving at the rate per km (bound as
    %(cost_per_km)s), and the expenses paid."""
    return compose(
        "({minutes} / 60.0 * {hourly_cost} + {km} * %(cost_per_km)s + {expenses})",
        minutes=minutes,
        hourly_cost=hourly_cost,
        km=km,
        expenses=expenses,
    )


def support_cost_sql(*, minutes: Composable) -> Composable:
    """Support staff time at the support hourly cost (bound as %(support_hourly_cost)s)."""
    return compose("({minutes} / 60.0 * %(support_hourly_cost)s)", minutes=minutes)


def late_cost_sql(*, amount_days: Composable) -> Composable:
    """Money owed past its due date, per day, at the yearly cost of capital (bound as
    %(cost_of_capital)s)."""
    return compose("({amount_days} / 365.0 * %(cost_of_capital)s)", amount_days=amount_days)


def partner_charge_sql(
    *, amount: Composable, commission_percent: Composable, fee_per_order: Composable
) -> Composable:
    """What a partner charges for one order (invoice) of `amount`: its commission on the net
    amount plus its fixed fee per order."""
    return compose(
        "({amount} * {commission_percent} / 100.0 + {fee_per_order})",
        amount=amount,
        commission_percent=commission_percent,
        fee_per_order=fee_per_order,
    )
