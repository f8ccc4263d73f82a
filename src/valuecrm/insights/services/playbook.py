"""Next-best actions: the editable stage × tier playbook, its defaults, and reason texts."""

from __future__ import annotations

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from valuecrm.insights.models import PlaybookEntry, Stage

# (stage, tier or "" for any tier, action code, English, 中文) — DESIGN.md "Next-best actions".
DEFAULT_PLAYBOOK = [
    (Stage.PROSPECT, "", "first_purchase_offer", "Send nurture content and a first-purchase offer",
     "发送培育内容和首单优惠"),
    (Stage.NEW, "", "second_purchase_nudge", "Welcome series; nudge a second purchase within their usual cycle",
     "发送欢迎系列，在常规周期内促成第二次购买"),
    (Stage.GROWING, "", "cross_sell", "Recommend related products and invite to the loyalty programme",
     "推荐相关产品并邀请加入会员计划"),
    (Stage.LOYAL, "A", "vip_care", "VIP care: dedicated manager and priority service; invite referrals",
     "VIP 关怀：专属客户经理和优先服务；邀请推荐"),
    (Stage.LOYAL, "", "referral_invite", "Invite to refer friends and send a satisfaction survey",
     "邀请推荐好友并发送满意度调查"),
    (Stage.AT_RISK, "A", "owner_call_48h", "Owner calls within 48 hours with a retention offer",
     "负责人 48 小时内致电并提供挽留优惠"),
    (Stage.AT_RISK, "B", "personal_win_back", "Send a personalised win-back message",
     "发送个性化召回消息"),
    (Stage.AT_RISK, "C", "automated_reminder", "Send an automated reminder", "发送自动提醒"),
    (Stage.CHURNED, "", "win_back_campaign", "Win-back campaign, churn-reason survey; check open complaints",
     "召回活动、流失原因调查；检查未解决的投诉"),
    (Stage.REACTIVATED, "", "thank_you_bonus", "Thank them with bonus points and watch closely",
     "致谢并赠送积分，密切关注"),
]


def ensure_default_playbook() -> None:
    """Seed the default playbook into an empty table. Only then: once there is a
    playbook, a default entry an administrator removed (a tier going back to its
    stage's all-tiers action) must stay removed."""
    if PlaybookEntry.objects.exists():
        return
    PlaybookEntry.objects.bulk_create([
        PlaybookEntry(stage=stage, tier=tier, action_code=code, text_en=en, text_zh=zh)
        for stage, tier, code, en, zh in DEFAULT_PLAYBOOK
    ], ignore_conflicts=True)


def playbook_lookup() -> dict[tuple[str, str], PlaybookEntry]:
    ensure_default_playbook()
    return {(e.stage, e.tier): e for e in PlaybookEntry.objects.all()}


def action_for(table: dict, stage: str, tier: str) -> PlaybookEntry | None:
    return table.get((stage, tier)) or table.get((stage, ""))


def action_text(entry: PlaybookEntry | None) -> str:
    if entry is None:
        return ""
    return entry.text_zh if (get_language() or "").startswith("zh") else entry.text_en


def reason_text(reason: dict) -> str:
    """A stage reason (code + numbers) in plain words, in the active language."""
    code = (reason or {}).get("code", "")
    p = reason or {}
    if code == "gap":
        return _("last order %(gap)s days ago; usually orders every %(interval)s days") % {
            "gap": p["gap_days"], "interval": p["interval_days"]}
    if code == "long_gap":
        return _("no order for %(gap)s days; usually orders every %(interval)s days") % {
            "gap": p["gap_days"], "interval": p["interval_days"]}
    if code == "p_alive_low":
        return _("only %(pct)s%% likely to still be a customer; last order %(gap)s days ago") % {
            "pct": round(100 * p["p_alive"]), "gap": p["gap_days"]}
    if code == "p_alive":
        return _("%(pct)s%% likely to still be a customer; last order %(gap)s days ago") % {
            "pct": round(100 * p["p_alive"]), "gap": p["gap_days"]}
    if code == "spend_down":
        return _("spend down %(pct)s%% on the previous period") % {"pct": p["drop_pct"]}
    if code == "no_second_order":
        return _("one order %(gap)s days ago and no second order yet") % {"gap": p["gap_days"]}
    if code == "came_back":
        return _("ordered again after a quiet spell; last order %(gap)s days ago") % {"gap": p["gap_days"]}
    if code == "loyal":
        return _("%(orders)s orders over %(months)s months") % {"orders": p["orders"], "months": p["months"]}
    if code == "repeat":
        return _("%(orders)s orders; usually orders every %(interval)s days") % {
            "orders": p["orders"], "interval": p["interval_days"]}
    if code == "first_order":
        return _("first order %(gap)s days ago") % {"gap": p["gap_days"]}
    if code == "no_order":
        return _("no paid order yet")
    if code == "slowing":
        return _("last order %(gap)s days ago; usually orders every %(interval)s days") % {
            "gap": p["gap_days"], "interval": p["interval_days"]}
    if code == "slowing_expected":
        return _("slowing down — last order %(gap)s days ago, usually every %(interval)s days; "
                 "the model still expects a purchase (%(pct)s%%)") % {
            "gap": p["gap_days"], "interval": p["interval_days"], "pct": round(100 * p["p_purchase"])}
    if code == "spend_drop":
        return _("spent %(last)s in the last %(days)s days; usually about %(baseline)s") % {
            "last": p["last"], "days": p["window_days"], "baseline": p["baseline"]}
    if code == "p_alive_drop":
        return _("chance of still being a customer fell to %(pct)s%%; last order %(gap)s days ago") % {
            "pct": round(100 * p["p_alive"]), "gap": p["gap_days"]}
    if code == "negative_feedback":
        return _("negative %(source)s (sentiment %(score)s): “%(excerpt)s”") % {
            "source": {"ticket": _("ticket"), "message": _("message"), "survey": _("survey comment")}.get(
                p.get("source", ""), p.get("source", "")),
            "score": p.get("score"), "excerpt": p.get("excerpt", "")}
    return ""
