"""The weekly forecast snapshot and its accuracy (MAPE) against the revenue actually won."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from valuecrm.deals import forecast, services
from valuecrm.deals.models import ForecastSnapshot, LostReason


def _at(y, m, d):
    return timezone.make_aware(datetime(y, m, d, 10, 0), timezone.get_default_timezone())


@pytest.fixture
def quarter_deals(rep_north, north_customer, make_deal):
    """Two deals expected to close in 2027-Q1 (manual probabilities), one expected in Q2."""
    a = make_deal(rep_north, north_customer, name="A", amount="1000", probability=0.5,
                  expected_close_date="2027-02-20")
    b = make_deal(rep_north, north_customer, name="B", amount="3000", probability=0.2,
                  expected_close_date="2027-03-20")
    c = make_deal(rep_north, north_customer, name="C", amount="500", probability=0.9,
                  expected_close_date="2027-04-15")
    return a, b, c


def test_snapshot_on_day_zero_records_the_quarter_per_owner_and_in_total(rep_north, quarter_deals):
    written = forecast.snapshot_take(today=date(2027, 1, 1))
    # This quarter and the next, each: one row for the owner and the total row.
    assert written == 4
    q1 = {s.owner_id: s for s in ForecastSnapshot.objects.filter(period="2027-Q1")}
    assert set(q1) == {rep_north.pk, None}
    for row in q1.values():
        # 1000 × 0.5 + 3000 × 0.2
        assert (row.weighted, row.closed, row.commit, row.best_case) == (
            Decimal("1100.00"), Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
    assert ForecastSnapshot.objects.get(period="2027-Q2", owner=None).weighted == Decimal("450.00")
    # Taking it again the same day replaces, never doubles.
    assert forecast.snapshot_take(today=date(2027, 1, 1)) == 4
    assert ForecastSnapshot.objects.count() == 4


def test_mape_of_the_snapshots_against_what_was_won(rep_north, quarter_deals, stages):
    a, b, c = quarter_deals
    forecast.snapshot_take(today=date(2027, 1, 1))                      # day 0: forecast 1100
    services.deal_move_stage(actor=rep_north, deal=a, stage_id=stages["Won"].pk, when=_at(2027, 2, 10))
    forecast.snapshot_take(today=date(2027, 2, 15))                     # won 1000 + open 3000 × 0.2 = 1600
    # C was expected in Q2 but is won in Q1: the actual revenue the snapshots missed.
    services.deal_move_stage(actor=rep_north, deal=c, stage_id=stages["Won"].pk, when=_at(2027, 3, 1))
    services.deal_move_stage(actor=rep_north, deal=b, stage_id=stages["Lost"].pk, when=_at(2027, 3, 5),
                             lost_reason_id=LostReason.objects.first().pk)
    # A snapshot taken after the quarter ended does not count towards its accuracy.
    forecast.snapshot_take(today=date(2027, 4, 1))

    result = forecast.accuracy(periods=2, today=date(2027, 4, 2))

    actual = Decimal("1500.00")                                          # A 1000 + C 500
    by_hand = (abs(1100 - 1500) / 1500 + abs(1600 - 1500) / 1500) / 2    # = 1/6
    assert len(result) == 1  # 2026-Q4 has no snapshot and no revenue
    row = result[0]
    assert (row["period"], row["snapshots"], row["actual"]) == ("2027-Q1", 2, actual)
    assert row["last_snapshot"] == Decimal("1600.00")
    assert row["mape"] == pytest.approx(by_hand, abs=1e-12)
    assert row["mape"] == pytest.approx(1 / 6, abs=1e-12)


def test_a_quarter_without_revenue_has_no_mape(rep_north, quarter_deals):
    forecast.snapshot_take(today=date(2027, 1, 1))
    assert forecast.accuracy(periods=1, today=date(2027, 4, 2)) == []
