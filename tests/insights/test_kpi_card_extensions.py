"""KPI cards other apps register in customers/extensions.py appear on the value
dashboard after its own cards, with their figures for the viewer and period; a card
whose compute returns None is left out for that viewer."""

import datetime as dt

import pytest

from valuecrm.customers.extensions import KpiCard, registry


@pytest.fixture
def registered_cards():
    seen = []

    def points_liability(user, start, end):
        seen.append((user.username, start, end))
        return {"value": 1234, "kind": "money", "url": "/customers/?tag=member", "change": 0.25, "good": True,
                "help": "Points not yet redeemed, in CNY"}

    def managers_only(user, start, end):
        return None if user.role != "admin" else {"value": 7, "kind": "count", "url": "/customers/"}

    before = list(registry.kpi_cards)
    registry.add_kpi_card(KpiCard(key="test_points", label="Points liability", compute=points_liability, order=5))
    registry.add_kpi_card(KpiCard(key="test_admin_only", label="Admin-only figure", compute=managers_only))
    yield seen
    registry.kpi_cards[:] = before


def test_registered_card_shows_its_figures_for_the_requested_period(client, admin_user, registered_cards):
    client.force_login(admin_user)
    response = client.get("/value/?start=2026-01-01&end=2026-03-31")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kpi="test_points"' in html and "Points liability" in html
    assert 'href="/customers/?tag=member"' in html and "Points not yet redeemed, in CNY" in html
    assert 'data-kpi="test_admin_only"' in html
    assert registered_cards == [(admin_user.username, dt.date(2026, 1, 1), dt.date(2026, 3, 31))]
    # after the dashboard's own cards
    assert html.index('data-kpi="customer_equity"') < html.index('data-kpi="test_points"')


def test_card_returning_none_is_left_out_for_that_viewer(client, rep_north, registered_cards):
    client.force_login(rep_north)
    html = client.get("/value/").content.decode()
    assert 'data-kpi="test_points"' in html
    assert 'data-kpi="test_admin_only"' not in html


def test_registration_is_idempotent_by_key_and_ordered(registered_cards):
    count = len(registry.kpi_cards)
    registry.add_kpi_card(KpiCard(key="test_points", label="Points liability", compute=lambda u, s, e: None, order=5))
    assert len(registry.kpi_cards) == count
    orders = [card.order for card in registry.kpi_cards]
    assert orders == sorted(orders)
