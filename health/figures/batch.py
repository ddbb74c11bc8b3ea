"""Which customers a refresh statement reads and writes: an id range (the nightly batches) or
a list of ids (the refresh that follows a change), put in every table's customer filter."""

from dataclasses import dataclass

from core.sql import Composed, compose, identifier


@dataclass(frozen=True)
class Scope:
    filter: str

    def of(self, alias: str, column: str = "customer_id") -> Composed:
        """This scope's filter on `alias`.`column`."""
        return compose(self.filter, column=identifier(alias, column))


BY_RANGE = Scope("{column} BETWEEN %(low)s AND %(high)s")
BY_IDS = Scope("{column} = ANY(%(ids)s)")
