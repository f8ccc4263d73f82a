from django.urls import path

from valuecrm.orders import views

urlpatterns = [
    path("orders/", views.order_list, name="order-list"),
    path("orders/export.csv", views.order_export, name="order-export"),
    path("orders/new/", views.order_create, name="order-create"),
    path("orders/<int:pk>/", views.order_detail, name="order-detail"),
    path("orders/<int:pk>/status/", views.order_status_change, name="order-status"),
    path("products/", views.product_list, name="product-list"),
    path("products/new/", views.product_create, name="product-create"),
    path("products/<int:pk>/", views.product_edit, name="product-edit"),
    path("products/<int:pk>/delete/", views.product_delete, name="product-delete"),
]
