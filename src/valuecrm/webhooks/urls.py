from django.urls import path

from valuecrm.webhooks import views

# The integrations hub keeps its /integrations/ paths (bookmarks and scripts use them).
urlpatterns = [
    path("integrations/", views.integrations_home, name="integrations"),
    path("integrations/webhooks/", views.endpoint_create_view, name="webhook-create"),
    path("integrations/webhooks/<int:pk>/", views.endpoint_action_view, name="webhook-action"),
    path("integrations/deliveries/", views.delivery_list, name="webhook-deliveries"),
    path("integrations/deliveries/<int:pk>/resend/", views.delivery_resend_view, name="webhook-resend"),
    path("integrations/inbound/", views.inbound_source_create_view, name="inbound-source-create"),
]
