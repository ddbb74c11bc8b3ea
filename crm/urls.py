from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import home
from crm import manager_views, status, views
from visits import views as visits_views

crm_patterns = (
    [
        path("", views.customer_list, name="customer_list"),
        path("<int:pk>/", views.customer_detail, name="customer_detail"),
        path("<int:pk>/edit/", views.customer_edit, name="customer_edit"),
        path("<int:pk>/contacts/new/", views.contact_new, name="contact_new"),
        path("<int:pk>/contacts/<int:contact_pk>/edit/", views.contact_edit, name="contact_edit"),
        path(
            "<int:pk>/flags/<int:flag_pk>/acknowledge/",
            views.flag_acknowledge_view,
            name="flag_acknowledge",
        ),
        path(
            "<int:pk>/contacts/<int:contact_pk>/primary/",
            views.contact_primary,
            name="contact_primary",
        ),
    ],
    "crm",
)

manage_patterns = (
    [
        path("", manager_views.dashboard, name="dashboard"),
        path("lists/<str:kind>/", manager_views.account_list_view, name="account_list"),
        path("profitability/", manager_views.profitability, name="profitability"),
        path("team/", manager_views.team_schedule, name="team_schedule"),
        path("review/", manager_views.review, name="review"),
        path("review/<int:pk>/act/", manager_views.review_action, name="review_action"),
    ],
    "manage",
)

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", include(crm_patterns)),
    path("visits/", include("visits.urls")),
    path("manage/", include(manage_patterns)),
    path("data/imports/", include("imports.urls")),
    path("calendar/<int:user_id>/<str:token>.ics", visits_views.calendar, name="calendar_feed"),
    path("", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("healthz", status.healthz, name="healthz"),
]

handler500 = "crm.status.server_error"
