from django.urls import path

from visits import field_views, offline_views, rhythm_views, views

app_name = "visits"

urlpatterns = [
    path("schedule/", views.schedule, name="schedule"),
    path("calls/", views.calls, name="calls"),
    path("near/", field_views.near, name="near"),
    path("route/", field_views.route, name="route"),
    path("route/schedule/", field_views.route_schedule, name="route_schedule"),
    path("route/home/", field_views.route_home, name="route_home"),
    path("plan/", views.plan, name="plan"),
    path("plan/customers/", views.plan_customer_options, name="plan_customer_options"),
    path("plan/contacts/", views.plan_contact_options, name="plan_contact_options"),
    path("log/", views.log, name="log_ad_hoc"),
    path("<int:pk>/", views.visit_detail, name="detail"),
    path("<int:pk>/log/", views.log, name="log"),
    path("<int:pk>/reschedule/", views.reschedule, name="reschedule"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/check-in/", views.check_in, name="check_in"),
    path("<int:pk>/check-in/locate/", views.check_in_locate, name="check_in_locate"),
    path("<int:pk>/check-out/", views.check_out, name="check_out"),
    path("manifest.webmanifest", offline_views.manifest, name="manifest"),
    path("sw.js", offline_views.service_worker, name="service_worker"),
    path("offline/", offline_views.offline, name="offline"),
    path("rhythm/<int:pk>/", rhythm_views.rhythm, name="rhythm"),
    path("rhythm/<int:pk>/end/", rhythm_views.rhythm_end, name="rhythm_end"),
    path("rhythm/<int:pk>/book/", rhythm_views.book, name="series_book"),
    path("calendar/regenerate/", views.calendar_regenerate, name="calendar_regenerate"),
]
