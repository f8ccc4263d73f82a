from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from valuecrm.api import api

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("api/docs", RedirectView.as_view(url="/api/v1/docs", permanent=False)),
    path("", include("valuecrm.accounts.urls")),
    path("", include("valuecrm.customers.urls")),
    path("", include("valuecrm.insights.urls")),
    path("", include("valuecrm.imports.urls")),
    path("", include("valuecrm.duplicates.urls")),
    path("", include("valuecrm.exports.urls")),
    path("", include("valuecrm.webhooks.urls")),
    path("", include("valuecrm.privacy.urls")),
    path("", include("valuecrm.orders.urls")),
    path("", include("valuecrm.automation.urls")),
    path("", include("valuecrm.service.urls")),
    path("", include("valuecrm.loyalty.urls")),
    path("", include("valuecrm.deals.urls")),
    path("", include("valuecrm.marketing.urls")),
]
