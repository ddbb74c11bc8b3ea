from django.urls import path

from reports import handoff_views, views

app_name = "manage"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("lists/<str:kind>/", views.account_list_view, name="account_list"),
    path("profitability/", views.profitability, name="profitability"),
    path("team/", views.team_schedule, name="team_schedule"),
    path("review/", views.review, name="review"),
    path("review/<int:pk>/act/", views.review_action, name="review_action"),
    path("review/cycle/", views.review_cycle, name="review_cycle"),
    path("hand-off/", handoff_views.hand_off, name="hand_off"),
    path("hand-off/let-go/", handoff_views.let_go, name="let_go"),
    path("outcomes/", handoff_views.outcomes_view, name="outcomes"),
    path("competitors/", handoff_views.competitors_view, name="competitors"),
    path("listening/", views.listening, name="listening"),
    path("reps/<int:pk>/", views.rep, name="rep"),
    path("reps/<int:pk>/target/", views.consistency_target, name="consistency_target"),
]
