from django.urls import path

from visits import ask_views

app_name = "asks"
urlpatterns = [
    path("", ask_views.asks, name="list"),
    path("new/", ask_views.ask_new, name="new"),
    path("<int:pk>/", ask_views.answer, name="answer"),
    path("<int:pk>/decide/", ask_views.decide, name="decide"),
]
