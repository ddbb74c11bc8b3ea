"""The cost rules, once: each cost to serve a customer carries, as an SQL expression over the
columns it is made of. The refresh (health.metrics: a year's and each month's figures) and the
what-if (health.whatif: the same year under another service model) build their statements from
these, so a rule changed here changes every figure Cadence shows. In words: docs/account-health.md.
"""

# An invoice's amounts in the house currency (CADENCE_CURRENCY): its own amounts at the rate
# recorded when it was saved or imported (1 for the house currency), to the cent. For a
# CROSS JOIN LATERAL on crm_invoice aliased i.
HOUSE_AMOUNTS_SQL = """
    SELECT ROUND(i.amount * i.exchange_rate, 2) AS amount,
           ROUND(i.cost_of_goods * i.exchange_rate, 2) AS cost_of_goods,
           ROUND(i.discount * i.exchange_rate, 2) AS discount
"""


def visit_cost_sql(*, minutes: str, km: str, expenses: str, hourly_cost: str) -> str:
    """Time at the hourly cost of whoever made the contact, driving at the rate per km (bound as
    %(cost_per_km)s), and the expenses paid."""
    return f"({minutes} / 60.0 * {hourly_cost} + {km} * %(cost_per_km)s + {expenses})"


def support_cost_sql(*, minutes: str) -> str:
    """Support staff time at the support hourly cost (bound as %(support_hourly_cost)s)."""
    return f"({minutes} / 60.0 * %(support_hourly_cost)s)"


def late_cost_sql(*, amount_days: str) -> str:
    """Money owed past its due date, per day, at the yearly cost of capital (bound as
    %(cost_of_capital)s)."""
    return f"({amount_days} / 365.0 * %(cost_of_capital)s)"


def partner_charge_sql(*, amount: str, commission_percent: str, fee_per_order: str) -> str:
    """What a partner charges for one order (invoice) of `amount`: its commission on the net
    amount plus its fixed fee per order."""
    return f"({amount} * {commission_percent} / 100.0 + {fee_per_order})"
