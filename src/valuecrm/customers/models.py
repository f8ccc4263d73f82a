"""Customers and everything on their timeline.

A customer is a person or an organisation; B2B contact persons point at their
company through `company`. The primary email/phone live on the customer row so
that list search stays a single indexed query; further ones are ContactPoints.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from valuecrm.common.encryption import (
    BlindIndexField,
    EncryptedDateField,
    EncryptedTextField,
    with_blind_indexes,
)
from valuecrm.common.models import TimeStampedModel
from valuecrm.common.money import MoneyField
from valuecrm.customers.visibility import (
    AboutCustomerQuerySet,
    customer_visibility_q,
    task_visibility_q,
)


class CustomerKind(models.TextChoices):
    PERSON = "person", _("Person")
    ORGANIZATION = "organization", _("Organisation")


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "", _("Unknown")


class AgeBand(models.TextChoices):
    UNDER_18 = "<18", "<18"
    A18_24 = "18-24", "18-24"
    A25_34 = "25-34", "25-34"
    A35_44 = "35-44", "35-44"
    A45_54 = "45-54", "45-54"
    A55_64 = "55-64", "55-64"
    A65_UP = "65+", "65+"
    UNKNOWN = "", _("Unknown")


class PreferredLanguage(models.TextChoices):
    """The language messages to this customer are written in; blank = the shop's default
    (for a campaign: its template's language)."""

    ZH_HANS = "zh-hans", "简体中文"
    EN = "en", "English"
    DEFAULT = "", _("Shop default")


class IncomeBand(models.TextChoices):
    LOW = "low", _("Low")
    LOWER_MIDDLE = "lower_middle", _("Lower middle")
    MIDDLE = "middle", _("Middle")
    UPPER_MIDDLE = "upper_middle", _("Upper middle")
    HIGH = "high", _("High")
    UNKNOWN = "", _("Unknown")


class AcquisitionChannel(models.TextChoices):
    ORGANIC = "organic", _("Organic search")
    PAID_SEARCH = "paid_search", _("Paid search")
    SOCIAL = "social", _("Social media")
    WECHAT = "wechat", _("WeChat")
    REFERRAL = "referral", _("Referral")
    STORE = "store", _("Store")
    EVENT = "event", _("Event / trade show")
    DIRECT = "direct", _("Direct / sales")
    MARKETPLACE = "marketplace", _("Marketplace")
    OTHER = "other", _("Other")
    UNKNOWN = "", _("Unknown")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    color = models.CharField(_("colour"), max_length=20, blank=True, default="secondary")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(customer_visibility_q(user))

    def persons(self):
        return self.filter(kind=CustomerKind.PERSON)

    def organizations(self):
        return self.filter(kind=CustomerKind.ORGANIZATION)


class Customer(TimeStampedModel):
    kind = models.CharField(
        _("kind"), max_length=12, choices=CustomerKind.choices, default=CustomerKind.PERSON
    )
    name = models.CharField(_("name"), max_length=200, db_index=True)
    company = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts",
        limit_choices_to={"kind": CustomerKind.ORGANIZATION}, verbose_name=_("company"),
    )
    job_title = models.CharField(_("job title"), max_length=100, blank=True, default="")
    # Encrypted at rest (common/encryption.py); looked up through the blind indexes below
    # (customers.selectors.customers_with_email/_phone) and the search tokens.
    email = EncryptedTextField(_("email"), max_length=254, blank=True, default="")
    phone = EncryptedTextField(_("phone"), max_length=32, blank=True, default="")
    email_bidx = BlindIndexField(source="email", db_index=True)
    phone_bidx = BlindIndexField(source="phone", db_index=True)

    birthday = EncryptedDateField(_("birthday"), null=True, blank=True)
    # HMAC of "MM-DD": birthday schedules find today's birthdays without the date in clear.
    birthday_bidx = BlindIndexField(source="birthday", normalizer="month_day", db_index=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, blank=True, default="")
    age_band = models.CharField(_("age band"), max_length=8, choices=AgeBand.choices, blank=True, default="")
    occupation = models.CharField(_("occupation"), max_length=100, blank=True, default="")
    income_band = models.CharField(
        _("income band"), max_length=16, choices=IncomeBand.choices, blank=True, default=""
    )
    region = models.CharField(_("region"), max_length=100, blank=True, default="")
    city = models.CharField(_("city"), max_length=100, blank=True, default="")
    preferred_language = models.CharField(_("preferred language"), max_length=10,
                                          choices=PreferredLanguage.choices, blank=True, default="",
                                          db_default="")  # raw bulk inserts (demo, imports) leave it out

    acquisition_source = models.CharField(_("acquisition source"), max_length=100, blank=True, default="")
    acquisition_channel = models.CharField(
        _("acquisition channel"), max_length=20, choices=AcquisitionChannel.choices,
        blank=True, default="",
    )
    acquisition_cost = MoneyField(_("acquisition cost"))
    acquired_at = models.DateTimeField(_("acquired at"), null=True, blank=True)

    # owner and team have no single-column index: the (owner, id) and (team, id) indexes
    # in Meta serve every lookup by either, and each extra index slows large imports.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="owned_customers", verbose_name=_("owner"), db_index=False,
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="customers", verbose_name=_("team"), db_index=False,
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers", verbose_name=_("tags"))
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)

    consent_email = models.BooleanField(_("email consent"), default=False)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_phone = models.BooleanField(_("phone consent"), default=False)
    consent_wechat = models.BooleanField(_("WeChat consent"), default=False)

    source = models.CharField(_("source system"), max_length=50, blank=True, default="")
    external_id = models.CharField(_("external id"), max_length=100, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    # Archived customers keep every record (orders stay in the value models) but leave
    # the lists, search and exports unless the "archived" filter asks for them.
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["updated_at"], m2m_fields=[])
    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "id"]),
            models.Index(fields=["team", "id"]),
            models.Index(fields=["kind", "id"]),
            models.Index(fields=["created_at", "id"]),
            models.Index(fields=["source", "external_id"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], condition=~models.Q(external_id=""),
                name="customer_source_external_id_unique",
            ),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = with_blind_indexes(Customer, update_fields)
        super().save(*args, **kwargs)
        if update_fields is None or {"email", "phone"} & set(update_fields):
            from valuecrm.customers.search_tokens import refresh_tokens

            refresh_tokens([self.pk], [self.email], [self.phone], replace=True)
        if update_fields is None or "name" in update_fields:
            from valuecrm.customers import search_index

            search_index.refresh([self.pk], [self.name])


class CustomerSearchToken(models.Model):
    """Keyed hashes (common.encryption.search_token) of a customer's phone prefixes and
    suffixes and e-mail parts: phone and e-mail search without the numbers in clear."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    token = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["token", "customer"]), models.Index(fields=["customer"])]


class ContactPointKind(models.TextChoices):
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    WECHAT = "wechat", _("WeChat")
    OTHER = "other", _("Other")


class ContactPoint(TimeStampedModel):
    # No index of its own: the unique (customer, kind, value) index below leads with it.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contact_points",
                                 db_index=False)
    kind = models.CharField(_("kind"), max_length=10, choices=ContactPointKind.choices)
    value = EncryptedTextField(_("value"), max_length=254)
    value_bidx = BlindIndexField(source="value", purpose="contact", db_index=True)
    label = models.CharField(_("label"), max_length=50, blank=True, default="")
    is_primary = models.BooleanField(_("primary"), default=False)

    objects = AboutCustomerQuerySet.as_manager()

    def save(self, *args, **kwargs):
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = with_blind_indexes(ContactPoint, kwargs["update_fields"])
        super().save(*args, **kwargs)

    class Meta:
        ordering = ["-is_primary", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "kind", "value_bidx"], name="contact_point_unique"),
        ]


class Address(TimeStampedModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(_("label"), max_length=50, blank=True, default="")
    line1 = EncryptedTextField(_("address"), max_length=200)
    line2 = EncryptedTextField(_("address line 2"), max_length=200, blank=True, default="")
    city = models.CharField(_("city"), max_length=100, blank=True, default="")
    region = models.CharField(_("region"), max_length=100, blank=True, default="")
    postal_code = EncryptedTextField(_("postal code"), max_length=20, blank=True, default="")
    country = models.CharField(_("country"), max_length=2, default="CN")

    objects = AboutCustomerQuerySet.as_manager()


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes / no")
    CHOICE = "choice", _("Choice")


class CustomFieldDefinition(models.Model):
    """Admin-defined field on customers; values live in Customer.custom_fields[key]."""

    key = models.SlugField(_("key"), max_length=50, unique=True)
    label = models.CharField(_("label"), max_length=100)
    label_zh = models.CharField(_("Chinese label"), max_length=100, blank=True, default="")
    field_type = models.CharField(_("type"), max_length=10, choices=CustomFieldType.choices)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]

    def __str__(self):
        return self.label


class InteractionKind(models.TextChoices):
    CALL = "call", _("Call")
    EMAIL = "email", _("Email")
    MEETING = "meeting", _("Meeting")
    CHAT = "chat", _("Chat")
    SOCIAL = "social", _("Social")
    WEB_VISIT = "web_visit", _("Web visit")
    STORE_VISIT = "store_visit", _("Store visit")


class Direction(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class Interaction(TimeStampedModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions")
    kind = models.CharField(_("type"), max_length=12, choices=InteractionKind.choices)
    direction = models.CharField(
        _("direction"), max_length=10, choices=Direction.choices, default=Direction.OUTBOUND
    )
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="interactions", verbose_name=_("author"),
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True, default="")
    body = models.TextField(_("text"), blank=True, default="")

    objects = AboutCustomerQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "-occurred_at"])]


class TaskQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(task_visibility_q(user))

    def open(self):
        return self.filter(done=False)

    def due_by(self, moment):
        return self.open().filter(due_at__lte=moment)


class Task(TimeStampedModel):
    """A follow-up: something a user must do, usually about a customer."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="tasks", verbose_name=_("assignee"),
    )
    done = models.BooleanField(_("done"), default=False)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    # Who gave the task to its assignee, when that was someone else; the assignee's inbox
    # shows it as new until they have seen it (assignment_seen_at).
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("assigned by"),
    )
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    assignment_seen_at = models.DateTimeField(_("assignment seen at"), null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["done", "due_at", "id"]
        indexes = [
            models.Index(fields=["assignee", "done", "due_at"]),
            models.Index(fields=["customer", "done"]),
        ]


class Note(TimeStampedModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(_("note"))

    objects = AboutCustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]


class SavedView(TimeStampedModel):
    """A saved customer-list view: filters, sort and columns; private or shared."""

    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    shared = models.BooleanField(_("shared with everyone"), default=False)
    query = models.JSONField(default=dict)  # {"filters": {...}, "sort": "...", "columns": [...]}

    class Meta:
        ordering = ["name"]
