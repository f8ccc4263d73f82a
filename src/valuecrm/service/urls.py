from django.urls import path

from valuecrm.service import views

urlpatterns = [
    path("service/", views.ticket_list, name="ticket-list"),
    path("service/dashboard/", views.dashboard, name="service-dashboard"),
    path("service/topics/", views.topics, name="service-topics"),
    path("service/routing/", views.routing, name="service-routing"),
    path("service/tickets/new/", views.ticket_create, name="ticket-create"),
    path("service/tickets/<int:pk>/", views.ticket_detail, name="ticket-detail"),
    path("service/tickets/<int:pk>/reply/", views.ticket_reply, name="ticket-reply"),
    path("service/tickets/<int:pk>/status/", views.ticket_status, name="ticket-status"),
    path("service/attachments/<int:pk>/", views.attachment_download, name="ticket-attachment"),
    path("s/<str:token>/", views.survey_answer, name="survey-answer"),
]
