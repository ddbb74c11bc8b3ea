"""Paging over large lists whose size is already known."""

from django.core.paginator import Paginator


class CountedPaginator(Paginator):
    """A Paginator told its total instead of running COUNT(*) over the list: pages whose
    rollups already hold the number (the review worklist) skip a scan of every account."""

    def __init__(self, object_list, per_page, *, count: int, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


class CappedPaginator(Paginator):
    """A Paginator that counts no further than it needs: up to `cap` rows, or up to the page
    asked for and one row past it. "Page 2 of 41" becomes "Page 2 of more than 40" on a list of
    25,000 accounts, whose exact COUNT(*) would read them all on every page; every page stays
    reachable (Next, or ?page=N), only the total is left unsaid."""

    # Past this many rows a page number is not counted up to (?page=10**20 would ask PostgreSQL
    # for a LIMIT beyond bigint): it gets the last page found within it.
    MOST_ROWS_COUNTED = 1_000_000

    def __init__(self, object_list, per_page, *, cap: int = 1000, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.cap = cap
        self._wanted_page = 1
        self.capped = False

    def get_page(self, number):
        try:
            self._wanted_page = max(1, int(number))
        except (TypeError, ValueError):
            self._wanted_page = 1
        return super().get_page(number)

    @property
    def count(self) -> int:
        """Exact up to the limit; past it, the limit plus one (the row that proves there is a
        next page)."""
        if not hasattr(self, "_capped_count"):
            wanted_rows = min(self._wanted_page * self.per_page, self.MOST_ROWS_COUNTED)
            self.limit = max(self.cap, wanted_rows)
            rows = self.object_list
            if hasattr(rows, "order_by"):  # the order does not change how many there are
                rows = rows.order_by()
            self._capped_count = rows[: self.limit + 1].count()
            self.capped = self._capped_count > self.limit
        return self._capped_count

    @property
    def full_pages(self) -> int:
        """When capped: the pages known to be full ("more than N pages")."""
        return self.limit // self.per_page
