from collections import defaultdict

from accounts.models import SERVING_ROLES, Territory, User


def territory_children() -> dict[int | None, list[int]]:
    """Each territory's direct sub-territories (key None: the top level), in one query.

    Territories are few (tens, not thousands), so walking the tree in Python is cheaper and
    simpler than a recursive CTE.
    """
    children: dict[int | None, list[int]] = defaultdict(list)
    for territory_id, parent_id in Territory.objects.values_list("id", "parent_id"):
        children[parent_id].append(territory_id)
    return children


def territory_ids_with_descendants(
    root_ids: set[int], children: dict[int | None, list[int]] | None = None
) -> set[int]:
    """The given territories and every territory below them (one query unless `children`,
    from territory_children(), is passed in)."""
    if not root_ids:
        return set()
    children = territory_children() if children is None else children
    found: set[int] = set()
    pending = list(root_ids)
    while pending:
        territory_id = pending.pop()
        if territory_id in found:
            continue
        found.add(territory_id)
        pending.extend(children.get(territory_id, []))
    return found


def territory_ids_managed_by(user: User) -> set[int]:
    """The territories a manager manages, sub-territories included. Kept on the user object,
    which lives for one request (or one task), since a page asks several times."""
    cached = getattr(user, "_managed_territory_ids", None)
    if cached is None:
        cached = territory_ids_with_descendants(
            set(user.managed_territories.values_list("id", flat=True))
        )
        user._managed_territory_ids = cached
    return set(cached)


def territory_ids_worked_by(user: User) -> set[int]:
    """The territories a salesperson works (is a member of). Kept on the user object, which
    lives for one request (or one task)."""
    cached = getattr(user, "_worked_territory_ids", None)
    if cached is None:
        cached = set(user.territories.values_list("id", flat=True))
        user._worked_territory_ids = cached
    return set(cached)


def salespeople_visible_to(user: User):
    """Salespeople and inside-sales people a user may see: admins all, managers those in their
    territories, else self."""
    salespeople = User.objects.filter(role__in=SERVING_ROLES, is_active=True)
    if user.is_cadence_admin:
        return salespeople
    if user.is_manager:
        return salespeople.filter(territories__in=territory_ids_managed_by(user)).distinct()
    return salespeople.filter(pk=user.pk)
