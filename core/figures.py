"""An account's health figures for the apps below health (crm, visits), which may not import it.

health registers, at start-up, the one function that annotates them on a queryset; crm and
visits call `with_account_figures` and read the annotations, never health's tables through
the customer's reverse relation (a test scans their source for that back door).

The annotations, on customers (or, with `through="customer__"`, with that prefix and the
path's underscores, e.g. `customer_is_unprofitable` on visits): `profit`, `revenue`,
`is_neglected`, `is_unprofitable`, `is_late_payer` — as of health's last refresh, None where
the account has no figures yet."""

from collections.abc import Callable

from django.db.models import QuerySet

Annotator = Callable[..., QuerySet]
_annotators: list[Annotator] = []


def register_account_figures(annotator: Annotator) -> None:
    """`annotator(rows, through=...)` adds the figures to `rows`."""
    if annotator not in _annotators:
        _annotators.append(annotator)


def with_account_figures(rows: QuerySet, *, through: str = "") -> QuerySet:
    for annotator in _annotators:
        rows = annotator(rows, through=through)
    return rows
