"""The kanban's columns: totals of open and recently closed deals, paging a long column with
"load more", and a fixed number of queries per page however many deals there are."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from valuecrm.common.errors import ValidationFailed
from valuecrm.deals import selectors, services
from valuecrm.deals.models import LostReason
from valuecrm.deals.selectors import DealFilters


@pytest.fixture
def long_column(monkeypatch, rep_north, north_customer, make_deal, stages):
    """Pages of 3 cards; 7 open deals in Qualified (amounts 100..600, two of them equal), one
    won yesterday, one lost 40 days ago (off the board)."""
    monkeypatch.setattr(selectors, "CARDS_PER_COLUMN", 3)
    deals = [make_deal(rep_north, north_customer, name=f"D{i}", amount=str(100 * i)) for i in range(1, 7)]
    deals.append(make_deal(rep_north, north_customer, name="Twin", amount="300"))
    won = make_deal(rep_north, north_customer, name="Won", amount="700")
    services.deal_move_stage(actor=rep_north, deal=won, stage_id=stages["Won"].pk,
                             when=timezone.now() - timedelta(days=1))
    old = make_deal(rep_north, north_customer, name="Old loss", amount="900")
    services.deal_move_stage(actor=rep_north, deal=old, stage_id=stages["Lost"].pk,
                             lost_reason_id=LostReason.objects.first().pk, when=timezone.now() - timedelta(days=40))
    return deals


def test_columns_count_open_deals_and_the_last_30_days_of_closed_ones(rep_north, pipeline, long_column):
    cols = {c.stage.name: c for c in selectors.board(user=rep_north, pipeline=pipeline, filters=DealFilters())}
    q = cols["Qualified"]
    assert (q.count, q.total) == (7, Decimal("2400"))                   # 100 × (1 + … + 6) + 300
    assert q.weighted == Decimal("240.0")                               # stage default 0.1
    assert [d.name for d in q.deals] == ["D6", "D5", "D4"] and q.next_cursor is not None
    won = cols["Won"]
    assert (won.count, won.total, won.weighted, [d.name for d in won.deals]) == (
        1, Decimal("700"), Decimal("700.0"), ["Won"])
    assert won.avg_days == pytest.approx(1, abs=0.01)
    assert (cols["Lost"].count, cols["Lost"].deals, cols["Lost"].next_cursor) == (0, [], None)


def test_load_more_pages_a_column_in_card_order_without_gaps(client, rep_north, pipeline, stages, long_column):
    col = selectors.board(user=rep_north, pipeline=pipeline, filters=DealFilters())[0]
    names, cursor = [d.name for d in col.deals], col.next_cursor
    while cursor:
        more, cursor = selectors.column_cards(user=rep_north, pipeline=pipeline, filters=DealFilters(),
                                              stage=stages["Qualified"], after=cursor)
        names += [d.name for d in more]
    # Equal amounts (D3, Twin): the newer first, neither skipped at the page boundary.
    assert names == ["D6", "D5", "D4", "Twin", "D3", "D2", "D1"]

    client.force_login(rep_north)
    page = client.get(f"/deals/?pipeline={pipeline.pk}").content.decode()
    assert "Load more (3 of 7 deals)" in page
    r = client.get(f"/deals/?pipeline={pipeline.pk}&partial=cards&stage={stages['Qualified'].pk}"
                   f"&after={col.next_cursor}&shown=3&total=7", HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and html.count('class="vc-deal-card') == 3
    assert "Load more (6 of 7 deals)" in html and "<template data-more>" in html
    r = client.get(f"/deals/?pipeline={pipeline.pk}&partial=cards&stage={stages['Qualified'].pk}&after=x_y")
    assert r.status_code == 422 and list(r.json()["errors"]) == ["after"]
    with pytest.raises(ValidationFailed):
        selectors.column_cards(user=rep_north, pipeline=pipeline, filters=DealFilters(), stage=stages["Won"],
                               after="NaN_1")


def test_the_board_page_costs_the_same_queries_for_few_or_many_deals(client, rep_north, north_customer, make_deal,
                                                                     pipeline, stages):
    client.force_login(rep_north)
    url = f"/deals/?pipeline={pipeline.pk}"
    make_deal(rep_north, north_customer, name="First", amount="10")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for i in range(6):
        make_deal(rep_north, north_customer, name=f"More {i}", amount=str(i + 1),
                  stage_id=stages["Proposal" if i % 2 else "Negotiation"].pk)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    # 3 stages with deals now instead of 1: one card query more for each, nothing per deal.
    assert len(many) == len(few) + 2
