from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts.views import home
from crm import views

crm_patterns = (
    [
        path("", views.customer_list, name="customer_list"),
        path("<int:pk>/", views.customer_detail, name="customer_detail"),
    ],
    "crm",
)

urlpatterns = [
    path("", home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("customers/", include(crm_patterns)),
    path("visits/", include("visits.urls")),
    path("", include("accounts.urls")),
    path("admin/", admin.site.urls),
]
