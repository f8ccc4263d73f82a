from datetime import date

import pytest

from valuecrm.common.encryption import blind_index
from valuecrm.common.errors import PermissionDenied
from valuecrm.duplicates.duplicate_evidence import (
    THRESHOLD,
    Record,
    compare_names,
    name_form,
    name_frequency,
    name_points,
    score_pair,
)
from valuecrm.duplicates.duplicates import duplicate_scan, reason_text
from valuecrm.duplicates.models import CandidateStatus, DuplicateCandidate
from valuecrm.duplicates.selectors import duplicate_candidates
from valuecrm.duplicates.services import duplicate_dismiss, duplicate_scan_run


def _pairs():
    return {(c.customer_a_id, c.customer_b_id): c for c in DuplicateCandidate.objects.all()}


def _codes(result):
    return [(r.code, r.points) for r in result.reasons]


# ---------------------------------------------------------------- the evidence model


def test_namesakes_with_different_phone_email_and_birth_year_are_not_a_candidate():
    """罗丽 #2 vs #1921 from the demo: the pair the old scan scored 100/100."""
    a = Record(2, "罗丽", city="上海", birthday=date(1990, 3, 1), emails={"luoli12@example.cn"},
               phones={"+8613800138000"})
    b = Record(1921, "罗丽", city="北京", birthday=date(1985, 7, 9), emails={"luoli88@example.cn"},
               phones={"+8613900139000"})
    result = score_pair(a, b, name_counts={"罗丽": 2}, population=5000)
    assert _codes(result) == [
        ("different_email", -5), ("different_phone", -5), ("same_name", 23),
        ("different_birth_year", -15), ("different_city", -5), ("all_differ", -20),
    ]
    assert (result.score, result.total, result.candidate) == (0, -27, False)


def test_same_phone_and_email_reaches_the_top():
    a = Record(3, "王伟", emails={"wangwei@example.cn"}, phones={"+8613800138001"})
    b = Record(4, "王 伟", emails={"wangwei@example.cn"}, phones={"+8613800138001"})
    result = score_pair(a, b)
    assert _codes(result) == [("same_email", 50), ("same_phone", 45), ("same_name", 18)]
    assert (result.score, result.total, result.candidate) == (100, 113, True)
    assert result.matched_on == ["email", "phone", "name"]


def test_common_names_are_weaker_evidence_than_rare_ones():
    assert name_points(name_frequency(name_form("王伟"), 1, 0)) == 18  # prior only
    assert name_points(name_frequency(name_form("欧阳婉清"), 1, 0)) == 30
    # 300 customers called 王伟 in 100,000: the data says it is common
    assert name_points(name_frequency(name_form("王伟"), 300, 100_000)) == 11
    assert name_points(name_frequency(name_form("王伟"), 3000, 100_000)) == 5


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("Wang Fang", "fang  WANG", "same"),
    ("王芳", "王 芳", "same"),
    ("王芳", "Fang Wang", "same_pinyin"),
    ("Jonathan Smith", "Jonathon Smith", "similar"),
    ("王芳", "王方", "similar"),  # same sound, another character: a typing slip
    ("王芳", "李娜", "different"),
    ("Emma Clark", "Lucy King", "different"),
    ("王芳", "Emma Clark", ""),  # an English name beside a Chinese one proves nothing
])
def test_compare_names(a, b, expected):
    assert compare_names(name_form(a), name_form(b)) == expected


def test_a_shared_phone_with_another_name_is_a_household_not_a_duplicate():
    a = Record(1, "王伟", phones={"+8613800138000"}, emails={"wangwei@example.cn"})
    b = Record(2, "李娜", phones={"+8613800138000"}, emails={"lina@example.cn"})
    result = score_pair(a, b)
    assert _codes(result) == [("different_email", -5), ("same_phone", 45), ("different_name", -25)]
    assert result.candidate is False


def test_same_phone_with_a_respelled_email_is_a_candidate():
    a = Record(1, "Emma Clark", phones={"+8613800138000"}, emails={"emma.clark@example.com"})
    b = Record(2, "Emma Clarke", phones={"+8613800138000"}, emails={"emmaclark@example.com"})
    result = score_pair(a, b)
    assert _codes(result) == [("similar_email", 35), ("same_phone", 45), ("similar_name", 18)]
    assert result.candidate is True


def test_one_letter_apart_is_a_typo_one_digit_apart_another_person():
    from valuecrm.duplicates.duplicate_evidence import compare_emails

    assert compare_emails({"wangwei83@example.cn"}, {"wangwie83@example.cn"}) == (
        "similar_typo", "wangwie83@example.cn")
    assert compare_emails({"wangwei83@example.cn"}, {"wangwei85@example.cn"}) == ("different", "")
    assert compare_emails({"pengmeiling818@example.cn"}, {"pengmeiling18@example.cn"}) == ("different", "")
    assert compare_emails({"Wang.Wei+shop@example.cn".lower()}, {"wangwei@example.cn"}) == (
        "similar_key", "wangwei@example.cn")


def test_profile_agreement_without_contact_points_needs_a_rare_name():
    rare = [Record(i, "欧阳婉清", city="上海", birthday=date(1990, 3, 1)) for i in (1, 2)]
    result = score_pair(*rare)
    assert _codes(result) == [("same_name", 30), ("same_birthday", 25), ("same_city", 5)]
    assert result.candidate is True
    common = [Record(i, "王伟", city="上海", birthday=date(1990, 3, 1)) for i in (1, 2)]
    result = score_pair(*common, name_counts={"王伟": 300}, population=100_000)
    assert result.total == 41 and result.candidate is False


def test_name_and_city_alone_never_make_a_candidate():
    a, b = Record(1, "欧阳婉清", city="上海"), Record(2, "欧阳婉清", city="上海")
    result = score_pair(a, b, threshold=0)
    assert result.total == 35 and result.candidate is False


def test_reasons_are_translated(settings):
    from django.utils import translation

    with translation.override("zh-hans"):
        assert reason_text({"code": "same_phone", "points": 45}) == "电话相同"
        assert reason_text({"code": "same_name", "points": 11, "detail": "312"}) == "姓名相同（312 位客户同名）"
    assert reason_text({"code": "different_birth_year", "detail": "1990/1985"}) == \
        "different birth year (1990/1985)"


# ---------------------------------------------------------------- the scan


def test_scan_finds_contact_point_matches_ranked_by_evidence(make_customer, admin_user):
    by_both_1 = make_customer(name="Zhao Min", email="zhao.min@example.com", phone="13900139000")
    by_both_2 = make_customer(name="Min Zhao", email="ZHAO.MIN＠example.com", phone="+86 139-0013-9000")
    by_phone_1 = make_customer(name="Wang Fang", phone="138 0013 8000")
    by_phone_2 = make_customer(name="Fang Wang", phone="+86 138-0013-8000")
    by_email_1 = make_customer(name="Li Lei", email="li.lei@example.com")
    by_email_2 = make_customer(name="Li Lei", email="LI.LEI＠example.com", phone="13700137000")
    # namesakes: nothing in common but the name
    make_customer(name="罗丽", email="luoli12@example.cn", phone="13600136000", birthday="1990-03-01")
    make_customer(name="罗丽", email="luoli88@example.cn", phone="13500135000", birthday="1985-07-09")
    # a household sharing a line
    make_customer(name="Sun Li", phone="13300133000")
    make_customer(name="Zhou Jie", phone="13300133000")

    result = duplicate_scan()

    pairs = _pairs()
    assert set(pairs) == {(by_both_1.pk, by_both_2.pk), (by_phone_1.pk, by_phone_2.pk),
                          (by_email_1.pk, by_email_2.pk)}
    assert result.found == 3 and result.new == 3
    ranked = [(c.customer_a_id, c.customer_b_id) for c in duplicate_candidates(user=admin_user)]
    assert ranked[0] == (by_both_1.pk, by_both_2.pk)
    top = pairs[(by_both_1.pk, by_both_2.pk)]
    assert top.score == 100 and top.matched_on == ["email", "phone", "name"]
    assert top.evidence["reasons"][1] == {"code": "same_phone", "points": 45, "detail": "+8613900139000"}
    phone = pairs[(by_phone_1.pk, by_phone_2.pk)]
    assert phone.matched_on == ["phone", "name"]
    assert phone.score >= THRESHOLD


def test_scan_uses_extra_contact_points(make_customer, admin_user):
    from valuecrm.customers.services import contact_point_add

    a = make_customer(name="Chen Jing", email="cj@work.example")
    b = make_customer(name="Jing Chen", email="jing@home.example")
    contact_point_add(actor=admin_user, customer=b, kind="email", value="cj@work.example")
    duplicate_scan()
    assert list(_pairs()) == [(a.pk, b.pk)]
    assert _pairs()[(a.pk, b.pk)].matched_on == ["email", "name"]


def test_a_company_and_its_contact_sharing_a_phone_are_not_compared(make_customer):
    acme = make_customer(name="Acme Trading", kind="organization", phone="02161234567")
    make_customer(name="Acme Trading", company_id=acme.pk, phone="02161234567")
    assert duplicate_scan().compared == 0


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
    d.contact_points.filter(value_bidx=blind_index("contact", "ma@example.com")).delete()

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


def test_only_managers_scan_and_dismiss(make_customer, rep_north, manager_north):
    with pytest.raises(PermissionDenied):
        duplicate_scan_run(actor=rep_north)
    assert duplicate_scan_run(actor=manager_north).found == 0


def test_duplicates_page_shows_each_reason_with_its_points(client, admin_user, make_customer):
    make_customer(name="Li Lei", email="li.lei@example.com", phone="13700137000")
    make_customer(name="Li Lei", email="li.lei@example.com")
    duplicate_scan()
    client.force_login(admin_user)
    html = client.get("/duplicates/").content.decode()
    assert "same e-mail <span class=\"fw-semibold\">+50</span>" in html
    assert "same name <span class=\"fw-semibold\">+23</span>" in html
