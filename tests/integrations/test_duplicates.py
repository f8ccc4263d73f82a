import pytest

from valuecrm.common.errors import PermissionDenied
from valuecrm.integrations.duplicates import duplicate_scan, name_similarity
from valuecrm.integrations.models import CandidateStatus, DuplicateCandidate
from valuecrm.integrations.services import duplicate_dismiss, duplicate_scan_run


def _pairs():
    return {(c.customer_a_id, c.customer_b_id): c for c in DuplicateCandidate.objects.all()}


def test_scan_finds_phone_email_and_name_matches_and_not_unrelated(make_customer):
    by_phone_1 = make_customer(name="Wang Fang", phone="138 0013 8000")
    by_phone_2 = make_customer(name="Fang Wang", phone="+86 138-0013-8000")
    by_email_1 = make_customer(name="Li Lei", email="li.lei@example.com")
    by_email_2 = make_customer(name="L. Lei", email="LI.LEI＠example.com")
    by_name_1 = make_customer(name="张伟", city="Beijing")
    by_name_2 = make_customer(name="张 伟", city="Shanghai")
    make_customer(name="Zhao Min", email="zhao@example.com", phone="13900139000")
    make_customer(name="Sun Li", email="sun@example.com")

    result = duplicate_scan()

    pairs = _pairs()
    assert set(pairs) == {(by_phone_1.pk, by_phone_2.pk), (by_email_1.pk, by_email_2.pk),
                          (by_name_1.pk, by_name_2.pk)}
    assert result.found == 3 and result.new == 3
    phone = pairs[(by_phone_1.pk, by_phone_2.pk)]
    assert phone.matched_on == ["phone"]
    assert phone.evidence["phones"] == ["+8613800138000"]
    assert phone.evidence["name"] == 100  # token order does not matter
    assert phone.score == 100
    email = pairs[(by_email_1.pk, by_email_2.pk)]
    assert email.matched_on == ["email"]
    assert email.evidence["emails"] == ["li.lei@example.com"]
    assert 70 <= email.score < 100
    name = pairs[(by_name_1.pk, by_name_2.pk)]
    assert name.matched_on == ["name"]
    assert name.score == 100


def test_scan_uses_extra_contact_points(make_customer, admin_user):
    from valuecrm.customers.services import contact_point_add

    a = make_customer(name="Chen Jing", email="cj@work.example")
    b = make_customer(name="Jing Chen", email="jing@home.example")
    contact_point_add(actor=admin_user, customer=b, kind="email", value="cj@work.example")
    duplicate_scan()
    assert list(_pairs()) == [(a.pk, b.pk)]
    assert _pairs()[(a.pk, b.pk)].matched_on == ["email"]


def test_same_name_at_different_companies_is_not_a_pair(make_customer):
    acme = make_customer(name="Acme Trading", kind="organization")
    zenith = make_customer(name="Zenith Foods", kind="organization")
    make_customer(name="Liu Yang", company_id=acme.pk)
    make_customer(name="Liu Yang", company_id=zenith.pk)
    duplicate_scan()
    assert _pairs() == {}


def test_rescan_keeps_dismissed_pairs_dismissed_and_drops_stale(make_customer, admin_user):
    a = make_customer(name="Zhou Xun", phone="13700137000")
    b = make_customer(name="Zhou Xun", phone="13700137000")
    c = make_customer(name="Ma Li", email="ma@example.com")
    d = make_customer(name="Ma Li", email="ma@example.com")
    duplicate_scan()
    pair_ab = _pairs()[(a.pk, b.pk)]
    duplicate_dismiss(actor=admin_user, pk=pair_ab.pk)
    from valuecrm.customers.services import customer_update

    customer_update(actor=admin_user, customer=d, data={"name": "Someone Else", "email": "else@example.com"})
    # the old address stays as a secondary contact point until it is removed too
    d.contact_points.filter(value="ma@example.com").delete()

    result = duplicate_scan()

    pairs = _pairs()
    assert set(pairs) == {(a.pk, b.pk)}
    assert pairs[(a.pk, b.pk)].status == CandidateStatus.DISMISSED
    assert result.removed == 1
    assert (c.pk, d.pk) not in pairs


def test_large_blocks_are_skipped(make_customer):
    for i in range(51):
        make_customer(name=f"Person {i}", phone="13600136000")
    result = duplicate_scan()
    assert result.skipped_blocks == 1
    assert DuplicateCandidate.objects.count() == 0


def test_name_similarity_treats_chinese_names_whole():
    assert name_similarity("王芳", "王 芳") == 100
    assert name_similarity("王芳", "王方") < 90


def test_only_managers_scan_and_dismiss(make_customer, rep_north, manager_north):
    with pytest.raises(PermissionDenied):
        duplicate_scan_run(actor=rep_north)
    assert duplicate_scan_run(actor=manager_north).found == 0
