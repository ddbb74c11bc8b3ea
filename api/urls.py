from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.urls import path, re_path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from api import account_views, ask_views, integration_views, read_views, visit_views

app_name = "api"


class ByNumber(SimpleRouter):
    """Every resource is found by its number (up to 18 digits, a bigint): `/customers/abc/` is
    the resolver's 404 (JSON under /api/), never a query that fails with a 500."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        field = getattr(viewset, "lookup_url_kwarg", None) or getattr(viewset, "lookup_field", "pk")
        return f"(?P<{lookup_prefix}{field}>[0-9]{{1,18}})"


router = ByNumber()

# Swagger UI sets style attributes as it draws: its page alone allows inline styles (never
# inline scripts; the split view serves its script as a file).
SWAGGER_CSP = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}
router.register("customers", account_views.CustomerViewSet, basename="customer")
router.register("visits", visit_views.VisitViewSet, basename="visit")
router.register("contacts", account_views.ContactViewSet, basename="contact")
router.register("asks", ask_views.AskViewSet, basename="ask")
router.register("invoices", integration_views.InvoiceViewSet, basename="invoice")
router.register("support-cases", integration_views.SupportCaseViewSet, basename="support-case")
router.register("flags", read_views.FlagViewSet, basename="flag")
router.register("metrics", read_views.MetricsViewSet, basename="metrics")
router.register("territories", read_views.TerritoryViewSet, basename="territory")
router.register("users", read_views.UserViewSet, basename="user")

# The API answers 401 itself (JSON), so the site's log-in redirect does not apply.
urlpatterns = [
    re_path(route.pattern.regex.pattern, login_not_required(route.callback), name=route.name)
    for route in router.urls
] + [
    path("field-pack/", login_not_required(read_views.FieldPackView.as_view()), name="field_pack"),
    path("schedule/", login_not_required(read_views.ScheduleView.as_view()), name="schedule"),
    path(
        "who-to-visit/",
        login_not_required(read_views.WhoToVisitView.as_view()),
        name="who_to_visit",
    ),
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path(
        "docs/",
        login_not_required(
            csp_override(SWAGGER_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api:schema"))
        ),
        name="docs",
    ),
]
