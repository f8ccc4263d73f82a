from django.urls import path

from valuecrm.marketing import views

urlpatterns = [
    path("marketing/", views.campaign_list, name="marketing-campaigns"),
    path("marketing/campaigns/new/", views.campaign_create, name="marketing-campaign-create"),
    path("marketing/campaigns/<int:pk>/", views.campaign_detail, name="marketing-campaign"),
    path("marketing/campaigns/<int:pk>/launch/", views.campaign_launch, name="marketing-campaign-launch"),
    path("marketing/uplift/", views.uplift, name="marketing-uplift"),
    path("marketing/uplift/train/", views.uplift_train, name="marketing-uplift-train"),
    path("marketing/segments/", views.segment_list, name="marketing-segments"),
    path("marketing/segments/<int:pk>/", views.segment_detail, name="marketing-segment"),
    path("marketing/segments/<int:pk>/snapshot/", views.segment_snapshot, name="marketing-segment-snapshot"),
    path("marketing/templates/", views.template_list, name="marketing-templates"),
    path("marketing/templates/new/", views.template_edit, name="marketing-template-create"),
    path("marketing/templates/<int:pk>/", views.template_edit, name="marketing-template"),
    # The recipient's links (no login; the message token is the key).
    path("m/o/<str:token>.gif", views.track_open, name="marketing-open"),
    path("m/c/<str:token>/", views.track_click, name="marketing-click"),
    path("m/u/<str:token>/", views.unsubscribe, name="marketing-unsubscribe"),
]
