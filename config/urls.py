from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views as accounts_views
from accounts.views import home
from api import token_views
from core import status
from crm import views as crm_views
from imports import views as import_views
from reports import account_views
from visits import views as visits_views

crm_patterns = (
    [
        path("", crm_views.customer_list, name="customer_list"),
        path("map/", crm_views.customer_map, name="customer_map"),
        path("map.json", crm_views.customer_map_data, name="customer_map_data"),
        path("<int:pk>/", account_views.customer_detail, name="customer_detail"),
        path("<int:pk>/edit/", account_views.customer_edit, name="customer_edit"),
        path("<int:pk>/contacts/new/", crm_views.contact_new, name="contact_new"),
        path("<int:pk>/cases/new/", crm_views.support_case_new, name="support_case_new"),
        path(
            "<int:pk>/cases/<int:case_pk>/close/",
            crm_views.support_case_close_view,
            name="support_case_close",
        ),
        path(
            "<int:pk>/contacts/<int:contact_pk>/edit/", crm_views.contact_edit, name="contact_edit"
        ),
        path(
            "<int:pk>/flags/<int:flag_pk>/acknowledge/",
            account_views.flag_acknowledge_view,
            name="flag_acknowledge",
        ),
        path(
            "<int:pk>/contacts/<int:contact_pk>/primary/",
            crm_views.contact_primary,
            name="contact_primary",
        ),
    ],
    "crm",
)

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", include(crm_patterns)),
    path("visits/", include("visits.urls")),
    path("asks/", include("visits.ask_urls")),
    path("api/v1/", include("api.urls")),
    path("account/tokens/", token_views.tokens, name="api_tokens"),
    path("account/reminders/", accounts_views.reminders, name="reminders"),
    path("account/push/", accounts_views.push_subscribe, name="push_subscribe"),
    path("account/push/remove/", accounts_views.push_unsubscribe, name="push_unsubscribe"),
    path("account/push/test/", accounts_views.push_test, name="push_test"),
    path("account/tokens/<int:pk>/revoke/", token_views.token_revoke, name="api_token_revoke"),
    path("manage/", include("reports.urls")),
    path("data/imports/", include("imports.urls")),
    path("calendar/<int:user_id>/<str:token>.ics", visits_views.calendar, name="calendar_feed"),
    path("", include(([path("data/", import_views.admin_home, name="admin_home")], "accounts"))),
    path("admin/", admin.site.urls),
    path("healthz", status.healthz, name="healthz"),
]

handler500 = "core.status.server_error"
handler404 = "core.status.page_not_found"
handler400 = "core.status.bad_request"
