"""Demo service data: a Beijing support calendar, value-aware SLA policies, a second
agent and a year of tickets with conversations, complaints, SLA outcomes and CSAT answers
whose comments (中文 and English) track the score; then their feedback analysis.

Due times come from the real SLA clock (service.clocks), so the dashboard's compliance
and the countdowns in the queue are what the product itself would have computed.
"""

import random
from datetime import datetime, timedelta

from valuecrm.accounts.models import Team, User
from valuecrm.accounts.roles import Role
from valuecrm.customers.models import Customer
from valuecrm.service import clocks, feedback
from valuecrm.service.models import (
    AgentProfile,
    BusinessCalendar,
    Channel,
    MessageKind,
    Priority,
    ServiceTeam,
    SlaPolicy,
    Survey,
    SurveyKind,
    Ticket,
    TicketEscalation,
    TicketMessage,
    TicketStatus,
    TicketStatusChange,
)

HOURS = [{"weekday": d, "start": "09:00", "end": "18:00"} for d in range(5)] + [
    {"weekday": 5, "start": "10:00", "end": "16:00"}]
# (priority, tier, first response, resolution) in business minutes; tier "" = any tier.
POLICIES = [  # priority, tier, first response, resolution, next response (business minutes)
    ("urgent", "A", 15, 240, 30), ("urgent", "", 30, 480, 60),
    ("high", "A", 30, 480, 60), ("high", "", 60, 960, 120),
    ("normal", "A", 60, 960, 120), ("normal", "", 240, 1620, 240),
    ("low", "", 480, 3240, 480),
]
FOLLOW_UPS = ["请问处理得怎么样了？", "还没有收到回复，麻烦跟进一下。", "Any update on this?"]
TOPICS = [
    ("快递破损，茶叶罐子压坏了", "收到的包裹外箱破了，里面的罐子也压扁了，请尽快处理。", "物流", True),
    ("发票抬头开错了", "上周的订单发票抬头写错了，麻烦重新开一张。", "发票", False),
    ("会员积分没有到账", "上个月消费后积分一直没有到账。", "会员", False),
    ("想退货：尺码不合适", "衣服偏小，想换大一号或者退货。", "退换货", False),
    ("客服态度很差，要投诉", "电话里客服很不耐烦，问题也没有解决。", "投诉", True),
    ("Order arrived late", "My order took two weeks instead of three days.", "Delivery", False),
    ("Wrong item in the parcel", "I ordered green tea but received black tea.", "Fulfilment", True),
    ("How do I change my address?", "I moved last month; please update my delivery address.", "Account", False),
    ("Refund not received", "I returned the item ten days ago but have no refund yet.", "Refund", True),
]
REPLIES = ["您好，非常抱歉给您带来不便，我们已为您安排处理。", "已为您重新开具，请查收邮件。",
           "Sorry for the trouble — we have sent a replacement today.", "Thanks for waiting, the refund is on its way."]
THANKS = ["好的，谢谢！", "收到，问题解决了。", "Thanks, all sorted.", "还是没有解决，请再看看。"]


# CSAT comments whose sentiment tracks the score: (low 1–2, middle 3, high 4–5).
COMMENTS = {
    "low": ["客服态度很差，问题拖了很久也没有解决，非常失望。", "快递太慢了，包装也破了，很不满意。",
            "退款等了两周还没到账，太差了。", "The refund took forever and nobody answered my e-mails."],
    "mid": ["问题解决了，但是等待时间有点长。", "还行吧，物流一般。", "It was fixed, but it took a few days."],
    "high": ["客服很耐心，问题很快就解决了，非常满意！", "处理速度很快，服务态度很好，谢谢。",
             "茶叶很好喝，包装也很精美，会再来买。", "Quick and friendly support, thank you!"],
}


def _surveys(rnd: random.Random, tickets: list[Ticket], now: datetime) -> list[Survey]:
    """CSAT answers for about half of the solved tickets, most with a comment."""
    out = []
    for ticket in tickets:
        if ticket.solved_at is None or rnd.random() > 0.5:
            continue
        sent = ticket.solved_at + timedelta(minutes=rnd.randint(5, 120))
        answered = sent + timedelta(hours=rnd.randint(1, 48))
        if answered >= now:
            continue
        # Complaints are rated lower; most answers are 4–5.
        weights = [0.25, 0.2, 0.2, 0.2, 0.15] if ticket.is_complaint else [0.04, 0.06, 0.15, 0.35, 0.4]
        score = rnd.choices([1, 2, 3, 4, 5], weights)[0]
        band = "low" if score <= 2 else "mid" if score == 3 else "high"
        comment = rnd.choice(COMMENTS[band]) if rnd.random() < 0.8 else ""
        out.append(Survey(kind=SurveyKind.CSAT, customer_id=ticket.customer_id, ticket=ticket,
                          agent=ticket.assignee, sent_at=sent, expires_at=sent + timedelta(days=14),
                          answered_at=answered, score=score, comment=comment))
    return out


def _agents(now: datetime) -> list[User]:
    extra = User.objects.filter(username="zhao.min").first()
    if extra is None:
        extra = User(username="zhao.min", first_name="敏", last_name="赵", role=Role.SUPPORT_AGENT,
                     email="zhao.min@valuecrm.example.cn")
        extra.set_unusable_password()
        extra.save()
    return list(User.objects.filter(role=Role.SUPPORT_AGENT, is_active=True).order_by("pk"))


def _desk(calendar: BusinessCalendar, agents: list[User]) -> tuple[Team, User | None]:
    """The support team: round-robin routing, tier-A/at-risk first, the first agent as lead and
    an administrator as manager; each agent's skills (ticket categories) and working hours."""
    team, _ = Team.objects.get_or_create(name="客服一组")
    User.objects.filter(pk__in=[a.pk for a in agents], team__isnull=True).update(team=team)
    manager = User.objects.filter(role=Role.ADMIN, is_active=True).exclude(username="automation").order_by(
        "pk").first()
    lead = agents[0] if agents else None
    ServiceTeam.objects.get_or_create(team=team, defaults={"routing": "round_robin", "lead": lead,
                                                           "manager": manager})
    categories = sorted({t[2].lower() for t in TOPICS})
    for i, agent in enumerate(agents):
        AgentProfile.objects.get_or_create(user=agent, defaults={
            "skills": categories[i % 2::2] if len(agents) > 1 else categories, "calendar": calendar})
    return team, lead


def generate(*, now: datetime, seed: int, per_customer: float = 0.35) -> int:
    """Write the service demo; returns the number of tickets."""
    rnd = random.Random(seed + 14)
    extra = random.Random(seed + 15)  # routing/escalation additions, leaving the tickets' draws as they were
    calendar, _ = BusinessCalendar.objects.get_or_create(
        name="北京客服中心", defaults={"timezone": "Asia/Shanghai", "hours": HOURS, "holidays": "CN"})
    policies = {}
    for priority, tier, first, resolution, following in POLICIES:
        label = f"{Priority(priority).label} · {tier or '*'}"
        policies[(priority, tier)], _ = SlaPolicy.objects.get_or_create(
            priority=priority, tier=tier, defaults={"name": str(label), "calendar": calendar,
                                                    "first_response_minutes": first,
                                                    "resolution_minutes": resolution,
                                                    "next_response_minutes": following,
                                                    # Tier-A: the lead hears at 90 %; urgent: the manager 2 h after.
                                                    "escalate_lead_at": 90 if tier == "A" else 100,
                                                    "escalate_manager_after": 120 if priority == "urgent"
                                                    else None})
    agents = _agents(now)
    team, lead = _desk(calendar, agents)
    customers = list(Customer.objects.exclude(email="").values_list("pk", flat=True))
    rnd.shuffle(customers)
    chosen = customers[:int(len(customers) * per_customer)]
    tickets, plans = [], []
    for cid in chosen:
        opened = now - timedelta(minutes=rnd.randint(30, 365 * 1440))
        topic = rnd.choice(TOPICS)
        priority = rnd.choices(["low", "normal", "high", "urgent"], [0.2, 0.55, 0.2, 0.05])[0]
        policy = policies.get((priority, "A")) if rnd.random() < 0.2 else None
        policy = policy or policies[(priority, "")]
        age_days = (now - opened).days
        first_gap = int(rnd.lognormvariate(4.2, 1.0))  # wall minutes to the first reply
        fix_gap = int(rnd.lognormvariate(7.2, 1.0))
        responded = opened + timedelta(minutes=first_gap) if opened + timedelta(minutes=first_gap) < now else None
        solved = opened + timedelta(minutes=fix_gap) if age_days > 2 and rnd.random() < 0.97 else None
        if solved and solved > now:
            solved = None
        status = (TicketStatus.CLOSED if solved and age_days > 14 else TicketStatus.SOLVED if solved else
                  rnd.choice([TicketStatus.OPEN, TicketStatus.WAITING, TicketStatus.ON_HOLD]) if responded
                  else TicketStatus.NEW)
        first_due = clocks.due_at(calendar, opened, policy.first_response_minutes)
        resolution_due = clocks.due_at(calendar, opened, policy.resolution_minutes)
        breached = bool((responded and first_due and responded > first_due)
                        or (solved and resolution_due and solved > resolution_due)
                        or (not solved and resolution_due and resolution_due < now))
        paused = status in (TicketStatus.WAITING, TicketStatus.ON_HOLD)
        # Some open tickets have a customer follow-up waiting for the agent: the next-response clock.
        follow_up = None
        if status == TicketStatus.OPEN and responded and rnd.random() < 0.5:
            follow_up = min(now - timedelta(minutes=5), responded + timedelta(minutes=rnd.randint(30, 3 * 1440)))
            follow_up = follow_up if follow_up > responded else None
        tickets.append(Ticket(
            customer_id=cid, subject=topic[0], description=topic[1], category=topic[2], is_complaint=topic[3],
            channel=rnd.choice([Channel.EMAIL, Channel.EMAIL, Channel.PHONE, Channel.WEB, Channel.CHAT,
                                Channel.SOCIAL]),
            priority=priority, status=status, assignee=rnd.choice(agents) if agents else None, opened_at=opened,
            created_at=opened, sla_policy=policy, first_response_due_at=first_due, first_responded_at=responded,
            resolution_due_at=None if (solved or paused) else resolution_due, solved_at=solved,
            resolution_running_since=None if (solved or paused) else opened,
            resolution_consumed=clocks.minutes_between(calendar, opened, solved or now) if (solved or paused) else 0,
            sla_alert_level=100 if breached else 0,
            next_response_started_at=follow_up,
            next_response_due_at=follow_up and clocks.due_at(calendar, follow_up, policy.next_response_minutes),
            team=team,
        ))
        # An earlier follow-up answered before the ticket was solved: a finished next-response clock.
        earlier = None
        if solved and responded and extra.random() < 0.4:
            asked = responded + timedelta(minutes=extra.randint(30, 1440))
            answered = asked + timedelta(minutes=int(extra.lognormvariate(4.5, 1.0)))
            if answered < solved:
                earlier = (asked, answered)
                due = clocks.due_at(calendar, asked, policy.next_response_minutes)
                tickets[-1].next_response_started = 1
                tickets[-1].next_response_breaches = int(bool(due and answered > due))
        if follow_up:
            tickets[-1].next_response_started += 1
            due = tickets[-1].next_response_due_at
            if due and due < now:
                tickets[-1].next_response_breaches += 1
                tickets[-1].next_response_alert_level = 100
        plans.append((responded, solved, status, earlier, resolution_due))
    Ticket.objects.bulk_create(tickets, batch_size=500)
    messages, changes = [], []
    escalations = []
    for ticket, (responded, solved, status, earlier, resolution_due) in zip(tickets, plans, strict=True):
        if earlier:
            messages.append(TicketMessage(ticket=ticket, kind=MessageKind.INBOUND,
                                          body=extra.choice(FOLLOW_UPS), created_at=earlier[0]))
            messages.append(TicketMessage(ticket=ticket, kind=MessageKind.REPLY, body=extra.choice(REPLIES),
                                          author=ticket.assignee, created_at=earlier[1]))
        # A breached clock went to the team lead when it breached (the sweep's escalation).
        if lead and ticket.sla_alert_level >= 100:
            first_late = not responded or responded > ticket.first_response_due_at
            clock = "first_response" if first_late else "resolution"
            at = ticket.first_response_due_at if first_late else resolution_due
            if at:
                escalations.append(TicketEscalation(ticket=ticket, level=1, target=lead, clock=clock, percent=100,
                                                    at=at))
                ticket.escalation_level = 1
        messages.append(TicketMessage(ticket=ticket, kind=MessageKind.INBOUND, body=ticket.description,
                                      created_at=ticket.opened_at))
        changes.append(TicketStatusChange(ticket=ticket, to_status=TicketStatus.NEW, at=ticket.opened_at))
        if responded:
            messages.append(TicketMessage(ticket=ticket, kind=MessageKind.REPLY, body=rnd.choice(REPLIES),
                                          author=ticket.assignee, created_at=responded))
            changes.append(TicketStatusChange(ticket=ticket, from_status=TicketStatus.NEW,
                                              to_status=TicketStatus.OPEN, actor=ticket.assignee, at=responded))
        if ticket.next_response_started_at:
            messages.append(TicketMessage(ticket=ticket, kind=MessageKind.INBOUND, body=rnd.choice(FOLLOW_UPS),
                                          created_at=ticket.next_response_started_at))
        if solved:
            changes.append(TicketStatusChange(ticket=ticket, from_status=TicketStatus.OPEN,
                                              to_status=TicketStatus.SOLVED, actor=ticket.assignee, at=solved))
            messages.append(TicketMessage(ticket=ticket, kind=MessageKind.INBOUND, body=rnd.choice(THANKS),
                                          created_at=solved + timedelta(minutes=rnd.randint(5, 600))))
            if status == TicketStatus.CLOSED:
                changes.append(TicketStatusChange(ticket=ticket, from_status=TicketStatus.SOLVED,
                                                  to_status=TicketStatus.CLOSED, at=solved + timedelta(days=7)))
        elif status in (TicketStatus.WAITING, TicketStatus.ON_HOLD) and responded:
            changes.append(TicketStatusChange(ticket=ticket, from_status=TicketStatus.OPEN, to_status=status,
                                              actor=ticket.assignee, at=responded))
    TicketMessage.objects.bulk_create(messages, batch_size=1000)
    TicketStatusChange.objects.bulk_create(changes, batch_size=1000)
    TicketEscalation.objects.bulk_create(escalations, batch_size=1000)
    Ticket.objects.filter(pk__in=[e.ticket_id for e in escalations]).update(escalation_level=1)
    Survey.objects.bulk_create(_surveys(rnd, tickets, now), batch_size=1000)
    # The stored feedback analysis (language, keywords, topics) of every customer-written text.
    # Without training: sentiment comes when `make demo` runs `analyse_feedback` after scoring
    # (it trains the model once, scores the texts, and raises the tier-A negative-feedback alerts).
    feedback.feedback_backfill(train=False)
    return len(tickets)
