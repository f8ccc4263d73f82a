from django.urls import path

from valuecrm.loyalty import views

urlpatterns = [
    path("loyalty/", views.dashboard, name="loyalty-dashboard"),
    path("loyalty/program/", views.program, name="loyalty-program"),
    path("loyalty/vip/", views.vip, name="loyalty-vip"),
    path("loyalty/customers/<int:pk>/", views.customer_ledger, name="loyalty-ledger"),
    path("loyalty/customers/<int:pk>/redeem/", views.redeem, name="loyalty-redeem"),
    path("loyalty/customers/<int:pk>/adjust/", views.adjust, name="loyalty-adjust"),
]
