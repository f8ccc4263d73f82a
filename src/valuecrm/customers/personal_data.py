"""Which customer fields are personal data, and how their copies in change history are scrubbed.

Used by `customer_delete` (a deleted customer's e-mail and phone must not live on in
the history tables) and by the privacy app's erasure, which also anonymises the
live row. Kept here because customers owns these tables and knows their fields;
the privacy app above reads this list instead of repeating it.
"""

from valuecrm.customers.models import Customer, Interaction

ERASED_TEXT = "[erased]"

# Field → the anonymous value it takes. Business facts that identify nobody on their
# own (kind, owner, team, acquisition channel and cost, tags, dates of the record)
# stay, so orders and value scores keep their meaning.
PERSONAL_FIELDS: dict[str, object] = {
    "name": ERASED_TEXT,
    "job_title": "",
    "email": "",
    "phone": "",
    "birthday": None,
    # The blind indexes of the encrypted fields (common/encryption.py) go with them.
    "email_bidx": "",
    "phone_bidx": "",
    "birthday_bidx": "",
    "gender": "",
    "age_band": "",
    "occupation": "",
    "income_band": "",
    "region": "",
    "city": "",
    "acquisition_source": "",
    "external_id": "",
    "custom_fields": {},
    "company_id": None,
    "consent_email": False,
    "consent_sms": False,
    "consent_phone": False,
    "consent_wechat": False,
}
INTERACTION_PERSONAL_FIELDS: dict[str, object] = {"subject": "", "body": ERASED_TEXT}


def erased_name(customer_id: int) -> str:
    return f"{ERASED_TEXT} #{customer_id}"


def anonymous_values(customer_id: int) -> dict[str, object]:
    values = dict(PERSONAL_FIELDS)
    values["name"] = erased_name(customer_id)
    return values


def scrub_history(customer_ids) -> dict[str, int]:
    """Overwrite the personal fields in every historical row of these customers and of
    their interactions. Returns rows touched by history table."""
    customer_ids = list(customer_ids)
    touched: dict[str, int] = {}
    customer_history = Customer.history.model
    for customer_id in customer_ids:
        count = customer_history.objects.filter(id=customer_id).update(**anonymous_values(customer_id))
        touched[customer_history._meta.db_table] = touched.get(customer_history._meta.db_table, 0) + count
    interaction_history = Interaction.history.model
    count = interaction_history.objects.filter(customer_id__in=customer_ids).update(
        **INTERACTION_PERSONAL_FIELDS)
    touched[interaction_history._meta.db_table] = count
    return touched
