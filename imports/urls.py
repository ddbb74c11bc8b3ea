from django.urls import path

from imports import views

app_name = "imports"

urlpatterns = [
    path("", views.import_list, name="list"),
    path("<int:pk>/", views.import_detail, name="detail"),
    path("<int:pk>/mapping/", views.import_mapping, name="mapping"),
    path("<int:pk>/preset/", views.import_preset, name="preset"),
    path("<int:pk>/rejects.csv", views.import_rejects, name="rejects"),
    path("<int:pk>/revert/", views.import_revert_view, name="revert"),
]
