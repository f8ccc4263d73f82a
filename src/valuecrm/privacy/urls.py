from django.urls import path

from valuecrm.privacy import views

urlpatterns = [
    path("customers/<int:pk>/privacy/", views.customer_privacy, name="customer-privacy"),
    path("customers/<int:pk>/privacy/consent/", views.consent_change, name="customer-consent-change"),
    path("customers/<int:pk>/privacy/export/", views.personal_data_download, name="customer-personal-data"),
    path("customers/<int:pk>/privacy/erase/", views.customer_erase_confirm, name="customer-erase"),
    path("customers/<int:pk>/value/explain/", views.score_explanation, name="customer-score-explain"),
    path("privacy/erasures/", views.erasure_list, name="privacy-erasures"),
    path("privacy/erasures/<int:pk>/", views.erasure_detail, name="privacy-erasure"),
    path("privacy/consent-texts/", views.consent_texts, name="privacy-consent-texts"),
]
