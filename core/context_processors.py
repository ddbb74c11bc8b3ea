from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse


def cadence(request: HttpRequest) -> dict:
    """The currency and the navigation the signed-in user's role gets."""
    user = getattr(request, "user", None)
    nav: list[tuple[str, str]] = []
    if user is not None and user.is_authenticated:
        if user.is_cadence_admin:
            nav.append(("Data", reverse("accounts:admin_home")))
            nav.append(("Imports", reverse("imports:list")))
        if user.is_cadence_admin or user.is_manager:
            nav.append(("Dashboard", reverse("manage:dashboard")))
            nav.append(("Profitability", reverse("manage:profitability")))
            nav.append(("Review", reverse("manage:review")))
            nav.append(("Outcomes", reverse("manage:outcomes")))
            nav.append(("Competitors", reverse("manage:competitors")))
            nav.append(("Listening", reverse("manage:listening")))
            nav.append(("Team", reverse("manage:team_schedule")))
        if user.is_inside_sales:
            nav.append(("Calls", reverse("visits:calls")))
        if not user.is_cadence_admin and not user.is_manager:
            nav.append(("Schedule", reverse("visits:schedule")))
        if user.is_salesperson:
            nav.append(("Near me", reverse("visits:near")))
            nav.append(("Route", reverse("visits:route")))
        nav.append(("Asks", reverse("asks:list")))
        nav.append(
            ("Accounts" if user.serves_accounts else "Customers", reverse("crm:customer_list"))
        )
        if not user.is_inside_sales:
            nav.append(("Map", reverse("crm:customer_map")))
        if user.is_staff:
            nav.append(("Django admin", reverse("admin:index")))
    return {"CURRENCY": settings.CADENCE_CURRENCY, "nav_items": nav}
