"""The ledger follows the legacy consent booleans when something other than the
privacy services changes them (the customer form, the customers API, an import).

Runs after the change committed, as an outbox subscriber: idempotent, because it
appends only where the boolean and the ledger disagree.
"""

from valuecrm.common import events
from valuecrm.privacy.consent_rules import LEGACY_FIELDS
from valuecrm.privacy.models import Source

_LEGACY = set(LEGACY_FIELDS.values())
_SOURCES = {"web": Source.FORM, "api": Source.API, "import": Source.IMPORT, "cli": Source.IMPORT}


def _customer_changes(envelopes):
    from valuecrm.accounts.models import User
    from valuecrm.privacy.services import consent_follow_legacy

    for envelope in envelopes:
        event = envelope.event
        actor = User.objects.filter(pk=envelope.actor_user_id).first() if envelope.actor_user_id else None
        consent_follow_legacy([event.customer_id], source=_SOURCES.get(envelope.origin, Source.FORM),
                              actor=actor)


def _touches_consent(event) -> bool:
    # An update that leaves the consent booleans alone has nothing to follow.
    return event.name != "customer.updated" or bool(_LEGACY & set(event.changed_fields))


def _imports(envelopes):
    from valuecrm.privacy.services import consent_follow_legacy

    for envelope in envelopes:
        event = envelope.event
        if event.kind != "customers" or not (event.created or event.updated):
            continue
        # The whole table: an import may touch any row, and the compare is one pass.
        consent_follow_legacy(None, source=Source.IMPORT, reference=f"import:{event.run_id}")


def register() -> None:
    events.subscribe("privacy.consent_follows_customer", _customer_changes,
                     interests=frozenset({"customer.created", "customer.updated"}),
                     accepts=_touches_consent)
    events.subscribe("privacy.consent_follows_import", _imports,
                     interests=frozenset({"import.finished"}), inline=False)
