from django.urls import path

from visits import views

app_name = "visits"

urlpatterns = [
    path("week/", views.my_week, name="my_week"),
]
