from django.urls import path

from valuecrm.deals import views

urlpatterns = [
    path("deals/", views.deal_board, name="deal-board"),
    path("deals/list/", views.deal_list, name="deal-list"),
    path("deals/export.csv", views.deal_export, name="deal-export"),
    path("deals/new/", views.deal_create, name="deal-create"),
    path("deals/views/", views.deal_view_create, name="deal-view-create"),
    path("deals/views/<int:pk>/", views.deal_view_action, name="deal-view-action"),
    path("deals/forecast/", views.deal_forecast, name="deal-forecast"),
    path("deals/dashboard/", views.deal_dashboard, name="deal-dashboard"),
    path("deals/<int:pk>/", views.deal_detail, name="deal-detail"),
    path("deals/<int:pk>/move/", views.deal_move, name="deal-move"),
    path("pool/", views.pool_list, name="pool"),
    path("pool/rules/", views.pool_rules, name="pool-rules"),
    path("pool/<int:customer_id>/claim/", views.pool_claim, name="pool-claim"),
    path("pool/<int:customer_id>/release/", views.pool_release, name="pool-release"),
]
