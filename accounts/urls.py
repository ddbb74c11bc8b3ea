from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("data/", views.admin_home, name="admin_home"),
]
