"""What may be asked for, and what holds when the ledger says nothing.

Marketing on a channel and the processing of sensitive personal data (PIPL Art. 29)
need an explicit grant. Service messages rest on the contract and hold until the
person objects. Personalised marketing and automated decisions (Art. 24) are
opt-outs: allowed until the person refuses them.
"""

from valuecrm.privacy.models import Channel, Purpose

CONTACT_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.PHONE, Channel.WECHAT, Channel.POST)
# The legacy booleans on Customer mirror marketing consent on these channels.
LEGACY_FIELDS = {
    Channel.EMAIL: "consent_email",
    Channel.SMS: "consent_sms",
    Channel.PHONE: "consent_phone",
    Channel.WECHAT: "consent_wechat",
}
CHANNEL_PURPOSES = (Purpose.MARKETING, Purpose.SERVICE)
PERSON_PURPOSES = (Purpose.PERSONALISED_MARKETING, Purpose.AUTOMATED_DECISIONS, Purpose.SENSITIVE_DATA)

DEFAULT_GRANTED = {
    Purpose.MARKETING: False,
    Purpose.SERVICE: True,
    Purpose.PERSONALISED_MARKETING: True,
    Purpose.AUTOMATED_DECISIONS: True,
    Purpose.SENSITIVE_DATA: False,
}


def valid_pair(channel: str, purpose: str) -> bool:
    if purpose in CHANNEL_PURPOSES:
        return channel in CONTACT_CHANNELS
    return purpose in PERSON_PURPOSES and channel == Channel.ANY


def all_pairs() -> list[tuple[str, str]]:
    pairs = [(c.value, p.value) for p in CHANNEL_PURPOSES for c in CONTACT_CHANNELS]
    return pairs + [(Channel.ANY.value, p.value) for p in PERSON_PURPOSES]
