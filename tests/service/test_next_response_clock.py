"""The next-response clock of real tickets against the brute-force minute counter.

Random conversations (agent replies, customer messages, waiting / on-hold / open
changes) go through the ticket services on the four calendars of the engine's
property test (调休 weekends, Spring Festival and National Day weeks, New York and
London DST). After every step the ticket's next-response deadline must equal the
oracle of tests/engine/test_sla.py, counted from the customer's first message after
the last public reply, with no pauses (the clock pauses for nothing), or be empty
when no message waits for an answer.
"""

import numpy as np
import pandas as pd
import pytest

from tests.engine.test_sla import CALENDARS, HOT_SPOTS, _brute_due, _oracle_mask
from valuecrm.engine.sla import minute_of, moment_of
from valuecrm.service.models import Ticket
from valuecrm.service.services import (
    calendar_save,
    sla_policy_save,
    ticket_create,
    ticket_customer_message,
    ticket_reply,
    ticket_update,
)

PRIORITY_OF = {"cn": "low", "cn7": "normal", "ny": "high", "lon": "urgent"}
CONVERSATIONS = 40


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _stored(admin, key):
    cal = CALENDARS[key]
    hours = [{"weekday": d, "start": _hhmm(s), "end": _hhmm(e)} for d, spans in enumerate(cal.hours)
             for s, e in spans]
    return calendar_save(actor=admin, data={"name": key, "timezone": cal.timezone, "hours": hours,
                                            "holidays": cal.holidays, "closures": sorted(
                                                d.isoformat() for d in cal.closures)})


@pytest.fixture(scope="module")
def masks():
    return {key: _oracle_mask(cal) for key, cal in CALENDARS.items()}


def test_random_conversations_match_the_minute_counter(admin_user, agent, customer, masks, settings):
    settings.VALUECRM_SERVICE_AUTO_ASSIGN = False
    policies = {key: sla_policy_save(actor=admin_user, data={
        "name": key, "calendar_id": _stored(admin_user, key).pk, "priority": PRIORITY_OF[key],
        "first_response_minutes": 60, "resolution_minutes": 6000}) for key in CALENDARS}
    rng = np.random.default_rng(20261207)
    keys = list(CALENDARS)
    mismatches, checked = [], 0
    for n in range(CONVERSATIONS):
        key = keys[n % len(keys)]
        target = int(rng.choice([1, 30, 60, 240, 480, 960, 2400]) + rng.integers(0, 90))
        sla_policy_save(actor=admin_user, policy=policies[key], data={"next_response_minutes": target})
        lo, hi = HOT_SPOTS[rng.integers(len(HOT_SPOTS))]
        t = minute_of(pd.Timestamp(lo, tz="UTC")) + int(rng.integers(
            0, minute_of(pd.Timestamp(hi, tz="UTC")) - minute_of(pd.Timestamp(lo, tz="UTC"))))
        ticket = ticket_create(actor=agent, data={"customer_id": customer.pk, "subject": f"#{n}",
                                                  "priority": PRIORITY_OF[key]}, now=moment_of(t))
        started = None  # the oracle's own idea of when the running clock started
        for step in range(int(rng.integers(3, 8))):
            t += int(rng.integers(1, 2 * 1440))
            move = "reply" if step == 0 else rng.choice(["reply", "message", "message", "status"])
            if move == "reply":
                ticket_reply(actor=agent, ticket=ticket, body="您好", now=moment_of(t))
                started = None
            elif move == "message":
                ticket_customer_message(ticket=ticket, body="还没好", now=moment_of(t))
                started = t if started is None else started
            else:
                to = str(rng.choice(["waiting", "on_hold", "open"]))
                ticket = ticket_update(actor=agent, ticket=ticket, data={"status": to}, now=moment_of(t))
            due = Ticket.objects.values_list("next_response_due_at", flat=True).get(pk=ticket.pk)
            expected = None if started is None else _brute_due(masks[key], started, target, [])
            got = None if due is None else minute_of(due)
            checked += started is not None
            if got != expected:
                mismatches.append((key, n, step, move, target, started, got, expected))
    assert mismatches == []
    assert checked > CONVERSATIONS  # the clock really ran, and was checked, in many steps
