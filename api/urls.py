from django.contrib.auth.decorators import login_not_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from api import views

app_name = "api"

router = SimpleRouter()
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("visits", views.VisitViewSet, basename="visit")

# The API answers 401 itself (JSON), so the site's log-in redirect does not apply.
urlpatterns = [
    re_path(route.pattern.regex.pattern, login_not_required(route.callback), name=route.name)
    for route in router.urls
] + [
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="schema"),
    path(
        "docs/",
        login_not_required(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
]
