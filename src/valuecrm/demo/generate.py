"""`valuecrm demo`: a believable, deterministic demo dataset.

A tea-and-lifestyle retailer with consumers (mostly Chinese, some English-speaking)
and business customers (with their contact persons), 18 months of orders ending
today that follow buy-till-you-die behaviour (see behaviour.py), and a living
timeline: interactions, open and overdue tasks, notes.

Everything is drawn from one `random.Random(seed)` (names, texts) and one
`numpy.random.Generator(seed)` (behaviour, amounts), so the same seed gives the
same data in a fresh database. Rows go in with raw multi-row inserts inside one
transaction (bulk.py); generated rows get no simple-history entries.
"""

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from valuecrm.accounts.models import Team, User
from valuecrm.accounts.roles import Role
from valuecrm.customers import search_index
from valuecrm.customers.models import (
    Address,
    ContactPoint,
    CustomerKind,
    CustomFieldDefinition,
    CustomFieldType,
    Interaction,
    Note,
    Tag,
    Task,
)
from valuecrm.customers.models import Customer as CustomerModel
from valuecrm.customers.search_tokens import refresh_tokens
from valuecrm.demo import names, texts
from valuecrm.demo import service as service_demo
from valuecrm.demo.behaviour import BehaviourParams, acquisition_days, simulate_purchases
from valuecrm.demo.bulk import db_date, db_datetimes, insert_rows, next_id, reset_sequences
from valuecrm.demo.catalogue import CATEGORIES, catalogue
from valuecrm.demo.deals import demo_deals
from valuecrm.demo.loyalty import loyalty_demo, vip_care_demo
from valuecrm.demo.marketing import demo_marketing
from valuecrm.orders.models import Order, OrderLine, Product

DEMO_SOURCE = "demo"
WINDOW_DAYS = 548  # 18 months of order history
ORG_SHARE = 0.15
PROSPECT_SHARE = 0.15
DAY = 86400

# (name, colour) — colours are Bootstrap contextual names.
TAGS = [("VIP", "danger"), ("批发", "warning"), ("线上", "info"), ("门店", "success"),
        ("企业客户", "primary"), ("新品试用", "secondary"), ("投诉过", "dark")]

TEAMS = ["华东大区", "华南大区", "客户服务部"]
# username, first name, last name, role, team index; `admin` comes from `valuecrm createadmin`.
USERS = [
    ("chen.jing", "静", "陈", Role.SALES_MANAGER, 0),
    ("wang.lei", "磊", "王", Role.SALES_REP, 0),
    ("liu.yang", "洋", "刘", Role.SALES_MANAGER, 1),
    ("huang.ting", "婷", "黄", Role.SALES_REP, 1),
    ("emily.zhou", "Emily", "Zhou", Role.SUPPORT_AGENT, 2),
    ("sun.hao", "浩", "孙", Role.MARKETER, None),
    ("grace.lin", "Grace", "Lin", Role.ANALYST, None),
    ("xu.fang", "芳", "徐", Role.READ_ONLY, 0),
]
# Who owns customers, with relative book sizes.
OWNER_WEIGHTS = {"chen.jing": 0.15, "wang.lei": 0.35, "liu.yang": 0.15, "huang.ting": 0.35}

STORES = ["上海南京西路店", "北京三里屯店", "广州天河店", "深圳万象城店", "杭州湖滨店", "线上旗舰店"]

PERSON_CHANNELS = {"organic": 0.16, "paid_search": 0.12, "social": 0.16, "wechat": 0.18,
                   "referral": 0.12, "store": 0.12, "marketplace": 0.14}
ORG_CHANNELS = {"direct": 0.35, "event": 0.2, "referral": 0.2, "organic": 0.1,
                "paid_search": 0.1, "wechat": 0.05}
# Mean acquisition cost (CNY) per channel: paid channels cost more per customer.
CAC_MEAN = {"organic": 15, "paid_search": 120, "social": 85, "wechat": 60, "referral": 40,
            "store": 25, "marketplace": 55, "event": 600, "direct": 900}

PERSON_ORDER_CHANNELS = (["online", "wechat", "store", "marketplace", "phone"],
                         [0.4, 0.2, 0.15, 0.2, 0.05])
ORG_ORDER_CHANNELS = (["sales", "phone", "online"], [0.6, 0.2, 0.2])

AGE_BANDS = [((18, 24), 0.14), ((25, 34), 0.34), ((35, 44), 0.26), ((45, 54), 0.15),
             ((55, 64), 0.08), ((65, 78), 0.03)]
INCOME_BANDS = (["low", "lower_middle", "middle", "upper_middle", "high", ""],
                [0.1, 0.2, 0.3, 0.2, 0.1, 0.1])
ORDER_HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 2, 3, 4, 4.5, 5, 4.5,
                               4, 4, 4.2, 4.5, 5, 6, 7, 7, 5, 2.5])


@dataclass
class DemoResult:
    customers: int = 0
    organisations: int = 0
    contacts: int = 0
    orders: int = 0
    order_lines: int = 0
    interactions: int = 0
    tasks: int = 0
    notes: int = 0
    users: int = 0
    products: int = 0
    seconds: float = 0.0


ProgressFn = Callable[[str], None]

STEPS = ["users and catalogue", "customers", "orders", "timeline"]


def demo_data_exists() -> bool:
    return CustomerModel.objects.exists()


def demo_generate(
    *,
    customers: int = 5000,
    seed: int = 42,
    now: datetime | None = None,
    password: str | None = None,
    behaviour: BehaviourParams = BehaviourParams(),
    progress: ProgressFn | None = None,
    operations: bool = True,
) -> DemoResult:
    """Generate the demo dataset in one transaction; returns what was written.

    `operations=False` writes only the customers, orders and timeline, without the loyalty,
    service, deals and marketing demos (tests of the population's shape need nothing more,
    and the four apps' demos are most of the time at 1,000+ customers).

    `password` is set for the demo users (None → they cannot log in, which is what
    tests want: hashing is slow and pointless there).
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    started = time.perf_counter()
    now = now or timezone.now()
    builder = _Builder(customers=customers, seed=seed, now=now, behaviour=behaviour)
    report = progress or (lambda step: None)
    with transaction.atomic():
        report(STEPS[0])
        builder.users_and_catalogue(password)
        report(STEPS[1])
        builder.customers()
        report(STEPS[2])
        builder.orders()
        builder.customers_insert()
        builder.orders_insert()
        report(STEPS[3])
        builder.timeline()
        if operations:
            loyalty_demo(now=now, seed=seed, actor=builder.users["sun.hao"])  # a marketer runs the programme
        reset_sequences([CustomerModel, Order, OrderLine, Interaction, Task, Note,
                         ContactPoint, Address])
        if operations:
            vip_care_demo(now=now, actor=builder.users["sun.hao"])  # after the Task sequence is reset
            service_demo.generate(now=now, seed=seed)
            demo_deals(now=now, seed=seed, customers=customers)  # valuecrm.deals: pipelines, deals, pool rules
            demo_marketing(seed=seed, now=now)
    builder.result.seconds = time.perf_counter() - started
    return builder.result


class _Builder:
    """Holds the population arrays between the steps; one instance per run."""

    def __init__(self, *, customers: int, seed: int, now: datetime, behaviour: BehaviourParams):
        self.n = customers
        self.rnd = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.behaviour = behaviour
        self.tz = ZoneInfo(settings.TIME_ZONE)
        self.now = now
        self.now_epoch = int(now.timestamp())
        self.today = now.astimezone(self.tz).date()
        start = self.today - timedelta(days=WINDOW_DAYS - 1)
        self.start_epoch = int(datetime(start.year, start.month, start.day, tzinfo=self.tz).timestamp())
        self.result = DemoResult()

    # -- users, tags, custom fields, products -------------------------------------------

    def users_and_catalogue(self, password: str | None) -> None:
        teams = [Team.objects.get_or_create(name=name)[0] for name in TEAMS]
        self.team_ids = [team.pk for team in teams]
        self.users: dict[str, User] = {}
        for username, first, last, role, team_index in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, first_name=first, last_name=last, role=role,
                            team=teams[team_index] if team_index is not None else None,
                            email=f"{username}@valuecrm.example.cn")
                if password:
                    user.set_password(password)
                else:
                    user.set_unusable_password()
                user.save()
                self.result.users += 1
            self.users[username] = user
        self.tags = {name: Tag.objects.get_or_create(name=name, defaults={"color": color})[0]
                     for name, color in TAGS}
        CustomFieldDefinition.objects.get_or_create(
            key="membership_no",
            defaults={"label": "Membership no.", "label_zh": "会员卡号",
                      "field_type": CustomFieldType.TEXT, "position": 1},
        )
        CustomFieldDefinition.objects.get_or_create(
            key="preferred_store",
            defaults={"label": "Preferred store", "label_zh": "常去门店",
                      "field_type": CustomFieldType.CHOICE, "choices": STORES, "position": 2},
        )
        items = catalogue()
        existing = set(Product.objects.filter(sku__in=[i.sku for i in items]).values_list("sku", flat=True))
        new = [Product(sku=i.sku, name=i.name, category=i.category, price=i.price,
                       unit_cost=i.unit_cost) for i in items if i.sku not in existing]
        Product.objects.bulk_create(new)
        self.result.products = len(new)
        by_sku = dict(Product.objects.filter(sku__in=[i.sku for i in items]).values_list("sku", "id"))
        self.catalogue = items
        self.product_ids = [by_sku[i.sku] for i in items]

    # -- the population ----------------------------------------------------------------

    def customers(self) -> None:
        rng, n = self.rng, self.n
        n_org = int(round(n * ORG_SHARE))
        contacts_per_org = rng.choice([1, 2, 3, 4], p=[0.45, 0.3, 0.15, 0.1], size=n_org)
        # Keep the total at exactly n: trim contacts when n is tiny.
        budget = n - n_org
        cumulative = np.cumsum(contacts_per_org)
        contacts_per_org = np.where(cumulative <= budget, contacts_per_org, 0)
        n_contacts = int(contacts_per_org.sum())
        n_consumers = n - n_org - n_contacts

        # Population layout before sorting by acquisition: [orgs | consumers | contacts].
        kind = np.array([CustomerKind.ORGANIZATION] * n_org + [CustomerKind.PERSON] * (n - n_org),
                        dtype=object)
        company_of = np.full(n, -1)
        company_of[n_org + n_consumers:] = np.repeat(np.arange(n_org), contacts_per_org)
        is_contact = company_of >= 0
        acquired_day = acquisition_days(rng, n, WINDOW_DAYS)
        contact_rows = np.flatnonzero(is_contact)
        # Contacts become known within a few weeks after their company.
        company_day = acquired_day[company_of[contact_rows]]
        acquired_day[contact_rows] = company_day + rng.random(contact_rows.size) * np.minimum(
            20.0, WINDOW_DAYS - company_day
        )
        acquired_epoch = (self.start_epoch + acquired_day * DAY).astype("int64")
        acquired_epoch = np.minimum(acquired_epoch, self.now_epoch - 3600)
        # Buyers are organisations and consumers; a share of them never order (prospects).
        can_buy = ~is_contact & (rng.random(n) >= PROSPECT_SHARE)

        self.n_org, self.n_contacts = n_org, n_contacts
        self.kind, self.company_of, self.is_contact = kind, company_of, is_contact
        self.acquired_day, self.acquired_epoch, self.can_buy = acquired_day, acquired_epoch, can_buy
        self.is_org = kind == CustomerKind.ORGANIZATION
        # Organisations come first in the layout, so a contact's company record exists.
        self.records: list[dict] = []
        for i in range(n):
            self.records.append(self._record(i))
        self.result.customers = n
        self.result.organisations = n_org
        self.result.contacts = n_contacts

    def _record(self, i: int) -> dict:
        rnd = self.rnd
        if self.is_contact[i]:
            org = self.records[self.company_of[i]]
            person = names.person_name(rnd)
            return {
                "kind": CustomerKind.PERSON, "name": person.name, "chinese": person.chinese,
                "gender": person.gender, "region": org["region"], "city": org["city"],
                "city_py": org["city_py"], "job_title": rnd.choice(
                    names.JOB_TITLES_CN if person.chinese else names.JOB_TITLES_EN),
                "email": f"{person.email_local}@{org['slug']}.example.cn",
                "phone": names.mobile_cn(rnd), "channel": org["channel"],
                "source": org["source"], "cac": Decimal("0"), "owner": org["owner"],
                "team": org["team"], "occupation": "", "income": "", "birthday": None,
                "custom": {},
            }
        if self.is_org[i]:
            region, city, city_py = names.city(rnd)
            name, slug = names.company_name(rnd, city)
            channel = _pick(rnd, ORG_CHANNELS)
            owner = _pick(rnd, OWNER_WEIGHTS) if rnd.random() < 0.95 else None
            return {
                "kind": CustomerKind.ORGANIZATION, "name": name, "chinese": not name.isascii(),
                "gender": "", "region": region, "city": city, "city_py": city_py, "slug": slug,
                "job_title": "", "email": f"{rnd.choice(['info', 'purchasing', 'office'])}@{slug}.example.cn",
                "phone": names.phone_for(rnd, city_py, landline=True), "channel": channel,
                "source": rnd.choice(texts.SOURCES_BY_CHANNEL[channel]), "cac": _cac(rnd, channel),
                "owner": owner, "team": self._team_of(owner), "occupation": "", "income": "",
                "birthday": None, "custom": {},
            }
        person = names.person_name(rnd)
        abroad = not person.chinese and rnd.random() < 0.3
        region, city, city_py = names.city(rnd, abroad=abroad)
        suffix = str(rnd.randrange(1, 100)) if rnd.random() < 0.7 else ""
        domains = names.EMAIL_DOMAINS_CN if person.chinese else names.EMAIL_DOMAINS_EN
        channel = _pick(rnd, PERSON_CHANNELS)
        owner = _pick(rnd, OWNER_WEIGHTS) if rnd.random() < 0.7 else None
        custom = {}
        if rnd.random() < 0.6:
            custom["membership_no"] = f"M{rnd.randrange(10**7):07d}"
        if rnd.random() < 0.5:
            custom["preferred_store"] = rnd.choice(STORES)
        birthday = None
        if rnd.random() < 0.9:
            (low, high), = rnd.choices([band for band, _ in AGE_BANDS],
                                       weights=[w for _, w in AGE_BANDS])
            birthday = self.today - timedelta(days=rnd.randrange(low * 365, (high + 1) * 365 - 1))
        return {
            "kind": CustomerKind.PERSON, "name": person.name, "chinese": person.chinese,
            "gender": person.gender if rnd.random() < 0.95 else "", "region": region,
            "city": city, "city_py": city_py, "job_title": "",
            "email": f"{person.email_local}{suffix}@{rnd.choice(domains)}",
            "phone": names.phone_for(rnd, city_py), "channel": channel,
            "source": rnd.choice(texts.SOURCES_BY_CHANNEL[channel]), "cac": _cac(rnd, channel),
            # Unowned customers sit in the shared pool (公海) or in a sales team's pool.
            "owner": owner, "team": self._team_of(owner) if owner else (
                rnd.choice([None, None, self.team_ids[0], self.team_ids[1]])),
            "occupation": rnd.choice(names.OCCUPATIONS_CN if person.chinese else names.OCCUPATIONS_EN)
            if rnd.random() < 0.85 else "",
            "income": rnd.choices(*INCOME_BANDS)[0], "birthday": birthday, "custom": custom,
        }

    def _team_of(self, owner: str | None) -> int | None:
        return self.users[owner].team_id if owner else None

    # -- orders ------------------------------------------------------------------------

    def orders(self) -> None:
        rng = self.rng
        buyers = np.flatnonzero(self.can_buy)
        org_buyer = self.is_org[buyers]
        log = simulate_purchases(
            rng, acquired_day=self.acquired_day[buyers], window_days=WINDOW_DAYS,
            rate_multiplier=np.where(org_buyer, 2.0, 1.0),
            spend_multiplier=np.where(org_buyer, 5.0, 1.0), params=self.behaviour,
        )
        cust = buyers[log.customer]
        m = cust.size
        hour = rng.choice(24, size=m, p=ORDER_HOUR_WEIGHTS / ORDER_HOUR_WEIGHTS.sum())
        placed = (self.start_epoch + np.floor(log.day).astype("int64") * DAY
                  + hour * 3600 + rng.integers(0, 3600, m))
        # The first order sits on the acquisition day; never before acquisition, never after now.
        placed = np.maximum(placed, self.acquired_epoch[cust] + 60)
        placed = np.minimum(placed, self.now_epoch - rng.integers(60, 3600, m))
        first_order = np.full(self.n, np.iinfo("int64").max)
        np.minimum.at(first_order, cust, placed)
        self.acquired_epoch = np.minimum(self.acquired_epoch, first_order - 600)

        # Status: 2.5 % cancelled or refunded; recent ones paid or pending; older ones fulfilled.
        age_days = (self.now_epoch - placed) / DAY
        u = rng.random(m)
        status = np.where(age_days < 2, np.where(u < 0.4, "pending", "paid"),
                          np.where(age_days < 10, "paid", np.where(u < 0.92, "fulfilled", "paid")))
        bad = rng.random(m)
        status = np.where(bad < 0.015, "cancelled", np.where(bad < 0.025, "refunded", status))
        person_channel = rng.choice(PERSON_ORDER_CHANNELS[0], size=m, p=PERSON_ORDER_CHANNELS[1])
        org_channel = rng.choice(ORG_ORDER_CHANNELS[0], size=m, p=ORG_ORDER_CHANNELS[1])
        channel = np.where(self.is_org[cust], org_channel, person_channel)

        # Lines: 1–4 products, mostly from the customer's favourite category, quantities
        # chosen so the order value lands near the simulated spend.
        n_lines = rng.choice([1, 2, 3, 4], p=[0.45, 0.3, 0.15, 0.1], size=m)
        line_order = np.repeat(np.arange(m), n_lines)
        line_cust = cust[line_order]
        categories = [item.category for item in self.catalogue]
        cat_names = list(dict.fromkeys(categories))
        cat_index = np.array([cat_names.index(c) for c in categories])
        cat_start = np.array([categories.index(c) for c in cat_names])
        cat_size = np.bincount(cat_index, minlength=len(cat_names))
        favourite = rng.integers(0, len(cat_names), self.n)
        office = cat_names.index(CATEGORIES[-1])
        favourite[self.is_org & (rng.random(self.n) < 0.5)] = office
        k = line_order.size
        line_cat = np.where(rng.random(k) < 0.65, favourite[line_cust], rng.integers(0, len(cat_names), k))
        product = cat_start[line_cat] + (rng.random(k) * cat_size[line_cat]).astype("int64")
        price_cents = np.array([int(i.price * 100) for i in self.catalogue])[product]
        cost_cents = np.array([int(i.unit_cost * 100) for i in self.catalogue])[product]
        share = log.spend[line_order] / n_lines[line_order]
        cap = np.where(self.is_org[line_cust], 60, 12)
        quantity = np.clip(np.rint(share * 100 / price_cents), 1, cap).astype("int64")
        total_cents = np.bincount(line_order, weights=quantity * price_cents, minlength=m).astype("int64")
        cost_total_cents = np.bincount(line_order, weights=quantity * cost_cents, minlength=m).astype("int64")

        # Order ids follow time, as in a live shop; it also turns the inserts into the
        # placed_at/created_at indexes into appends, which is most of the bulk-load cost.
        by_time = np.argsort(placed, kind="stable")
        position = np.empty(m, dtype="int64")
        position[by_time] = np.arange(m)
        line_position = position[line_order]
        line_sorted = np.argsort(line_position, kind="stable")
        self.order_cust, self.order_placed, self.order_status = cust[by_time], placed[by_time], status[by_time]
        self.order_channel = channel[by_time]
        self.order_total, self.order_cost = total_cents[by_time], cost_total_cents[by_time]
        self.line_order = line_position[line_sorted]
        self.line_product, self.line_quantity = product[line_sorted], quantity[line_sorted]
        revenue = np.isin(status, ["paid", "fulfilled"])
        self.customer_revenue = np.bincount(cust, weights=np.where(revenue, total_cents, 0),
                                            minlength=self.n)
        self.customer_orders = np.bincount(cust, minlength=self.n)

    # -- inserts -----------------------------------------------------------------------

    def customers_insert(self) -> None:
        # Ids follow acquisition time, as they would in a real system.
        order = np.argsort(self.acquired_epoch, kind="stable")
        base = next_id(CustomerModel)
        self.customer_id = np.empty(self.n, dtype="int64")
        self.customer_id[order] = base + np.arange(self.n)
        stamps = db_datetimes(self.acquired_epoch)
        acquired = stamps
        users = {name: u.pk for name, u in self.users.items()}

        def rows():
            for i in order.tolist():
                rec = self.records[i]
                company = int(self.customer_id[self.company_of[i]]) if self.is_contact[i] else None
                birthday = rec["birthday"]
                chinese = rec["chinese"]
                consent = self.rnd.random
                yield (
                    int(self.customer_id[i]), rec["kind"], rec["name"], company, rec["job_title"],
                    rec["email"], rec["phone"], db_date(birthday) if birthday else None,
                    rec["gender"], _age_band(birthday, self.today) if birthday else "",
                    rec["occupation"], rec["income"], rec["region"], rec["city"], rec["source"],
                    rec["channel"], rec["cac"], acquired[i],
                    users[rec["owner"]] if rec["owner"] else None,
                    rec["team"],
                    json.dumps(rec["custom"], ensure_ascii=False),
                    consent() < 0.6, consent() < 0.45, consent() < 0.35,
                    consent() < (0.55 if chinese else 0.1),
                    DEMO_SOURCE, f"DEMO-{int(self.customer_id[i]):07d}", None, stamps[i], stamps[i],
                )

        insert_rows(CustomerModel, [
            "id", "kind", "name", "company", "job_title", "email", "phone", "birthday", "gender",
            "age_band", "occupation", "income_band", "region", "city", "acquisition_source",
            "acquisition_channel", "acquisition_cost", "acquired_at", "owner", "team",
            "custom_fields", "consent_email", "consent_sms", "consent_phone", "consent_wechat",
            "source", "external_id", "created_by", "created_at", "updated_at",
        ], rows())
        refresh_tokens([int(self.customer_id[i]) for i in range(self.n)],
                       [rec["email"] for rec in self.records], [rec["phone"] for rec in self.records],
                       replace=False)
        search_index.refresh([int(self.customer_id[i]) for i in range(self.n)],
                             [rec["name"] for rec in self.records])
        self._contact_details(stamps)
        self._tags()

    def _contact_details(self, stamps: list) -> None:
        rnd = self.rnd
        points, addresses = [], []
        for i in range(self.n):
            rec, cid = self.records[i], int(self.customer_id[i])
            if rec["kind"] == CustomerKind.PERSON and rec["chinese"] and rnd.random() < 0.35:
                points.append((cid, "wechat", f"wxid_{rec['email'].split('@')[0].replace('.', '')}"
                               f"{rnd.randrange(100, 999)}", "微信", False, stamps[i], stamps[i]))
            if rnd.random() < 0.1:
                phone = names.mobile_cn(rnd)
                if phone != rec["phone"]:
                    points.append((cid, "phone", phone, "work" if rec["kind"] == "person" else "sales",
                                   False, stamps[i], stamps[i]))
            if not self.is_contact[i] and rnd.random() < 0.55:
                country = names.country_of(rec["city_py"])
                line1 = (f"{rec['city']}{rnd.choice(names.STREETS)}{rnd.randrange(1, 999)}号"
                         if country == "CN" else f"{rnd.randrange(1, 300)} Harbour Road")
                addresses.append((cid, "默认" if rec["chinese"] else "Home", line1,
                                  f"{rnd.randrange(1, 30)}楼" if rnd.random() < 0.5 else "",
                                  rec["city"], rec["region"],
                                  f"{rnd.randrange(100000, 999999)}" if country == "CN" else "",
                                  country, stamps[i], stamps[i]))
        insert_rows(ContactPoint, ["customer", "kind", "value", "label", "is_primary",
                                   "created_at", "updated_at"], points)
        insert_rows(Address, ["customer", "label", "line1", "line2", "city", "region",
                              "postal_code", "country", "created_at", "updated_at"], addresses)

    def _tags(self) -> None:
        rnd, tag = self.rnd, self.tags
        revenue = self.customer_revenue
        vip_cut = np.quantile(revenue[revenue > 0], 0.95) if (revenue > 0).any() else np.inf
        online = {"organic", "paid_search", "social", "wechat", "marketplace"}
        pairs = []
        for i in range(self.n):
            rec, cid = self.records[i], int(self.customer_id[i])
            chosen = []
            if revenue[i] >= vip_cut:
                chosen.append("VIP")
            if self.is_org[i]:
                chosen.append("企业客户")
                if rnd.random() < 0.6:
                    chosen.append("批发")
            elif not self.is_contact[i]:
                if rec["channel"] in online and rnd.random() < 0.5:
                    chosen.append("线上")
                if rec["channel"] == "store":
                    chosen.append("门店")
            if rnd.random() < 0.05:
                chosen.append("新品试用")
            if self.customer_orders[i] and rnd.random() < 0.03:
                chosen.append("投诉过")
            pairs.extend((cid, tag[name].pk) for name in chosen)
        insert_rows(CustomerModel.tags.through, ["customer", "tag"], pairs)

    def orders_insert(self) -> None:
        m = self.order_cust.size
        base = next_id(Order)
        order_ids = base + np.arange(m)
        placed = db_datetimes(self.order_placed)
        currency = settings.VALUECRM_CURRENCY
        totals = _decimals(self.order_total)
        costs = _decimals(self.order_cost)
        cust_ids = self.customer_id[self.order_cust].tolist()
        ids = order_ids.tolist()
        rows = zip(ids, cust_ids, [DEMO_SOURCE] * m, [f"DEMO-{i:08d}" for i in ids],
                   self.order_channel.tolist(), self.order_status.tolist(), placed,
                   [currency] * m, totals, costs, [None] * m, placed, placed, strict=True)
        insert_rows(Order, ["id", "customer", "source", "external_id", "channel", "status",
                            "placed_at", "currency", "total_amount", "total_cost", "created_by",
                            "created_at", "updated_at"], rows)
        items = self.catalogue
        product_ids = [self.product_ids[p] for p in range(len(items))]
        quantities = [Decimal(q) for q in range(int(self.line_quantity.max(initial=1)) + 1)]
        line_rows = (
            (ids[o], product_ids[p], items[p].sku, items[p].name, quantities[q],
             items[p].price, items[p].unit_cost)
            for o, p, q in zip(self.line_order.tolist(), self.line_product.tolist(),
                               self.line_quantity.tolist(), strict=True)
        )
        insert_rows(OrderLine, ["order", "product", "sku", "name", "quantity", "unit_price",
                                "unit_cost"], line_rows)
        self.result.orders = m
        self.result.order_lines = int(self.line_order.size)

    # -- timeline: interactions, tasks, notes ------------------------------------------

    def timeline(self) -> None:
        rnd, rng = self.rnd, self.rng
        users = self.users
        support = users["emily.zhou"].pk
        product_names = [item.name for item in self.catalogue]
        mean = np.where(self.is_org, 4.0, np.where(self.is_contact, 1.5, 1.2))
        mean = mean + np.minimum(self.customer_orders, 20) * 0.15
        counts = rng.poisson(mean)
        rows = []
        for i in np.flatnonzero(counts).tolist():
            rec, cid = self.records[i], int(self.customer_id[i])
            catalogue_zh = texts.INTERACTIONS_ZH if rec["chinese"] else texts.INTERACTIONS_EN
            owner = users[rec["owner"]].pk if rec["owner"] else support
            start = int(self.acquired_epoch[i])
            for _ in range(int(counts[i])):
                kinds = (["meeting", "email", "call", "chat"] if rec["kind"] == "organization"
                         or self.is_contact[i] else
                         ["chat", "web_visit", "call", "email", "store_visit", "social"])
                kind = rnd.choice(kinds)
                direction = rnd.choice(sorted(catalogue_zh[kind]))
                subject, body = rnd.choice(catalogue_zh[kind][direction])
                moment = rnd.randrange(start, max(start + 1, self.now_epoch - 60))
                author = owner if kind in ("call", "meeting", "email") else (
                    support if direction == "inbound" else owner)
                rows.append((cid, kind, direction, moment,
                             author if kind not in ("web_visit", "social") else None,
                             subject, body.format(product=rnd.choice(product_names))))
        stamps = db_datetimes(np.array([row[3] for row in rows], dtype="int64"))
        insert_rows(Interaction, ["customer", "kind", "direction", "occurred_at", "author",
                                  "subject", "body", "created_at", "updated_at"],
                    ((c, k, d, s, a, sub, b, s, s) for (c, k, d, _, a, sub, b), s
                     in zip(rows, stamps, strict=True)))
        self.result.interactions = len(rows)
        self.result.tasks = self._tasks()
        self.result.notes = self._notes()

    def _tasks(self) -> int:
        rnd, tz = self.rnd, self.tz
        owned: dict[str, list[int]] = {name: [] for name in OWNER_WEIGHTS}
        for i, rec in enumerate(self.records):
            if rec["owner"]:
                owned[rec["owner"]].append(i)
        everyone = list(range(self.n))
        now_local = self.now.astimezone(tz)
        today_start = now_local.replace(hour=0, minute=0, second=0, microsecond=0)
        rows = []
        per_user_done = max(3, self.n // 400)
        # Every demo user gets an inbox with something due today and something overdue.
        for username, user in self.users.items():
            pool = owned.get(username) or everyone
            plan = ([("today", False)] * rnd.randint(2, 3) + [("overdue", False)] * rnd.randint(2, 4)
                    + [("future", False)] * rnd.randint(3, 6) + [("past", True)] * per_user_done)
            for when, done in plan:
                i = rnd.choice(pool)
                rec = self.records[i]
                title = rnd.choice(texts.TASKS_ZH if rec["chinese"] else texts.TASKS_EN)
                if when == "today":
                    due = today_start + timedelta(hours=rnd.choice([10, 14, 17, 20]))
                elif when == "overdue":
                    due = today_start - timedelta(days=rnd.randint(1, 10), hours=-rnd.randint(9, 18))
                elif when == "future":
                    due = today_start + timedelta(days=rnd.randint(1, 14), hours=rnd.randint(9, 18))
                else:
                    due = today_start - timedelta(days=rnd.randint(1, 120), hours=-rnd.randint(9, 18))
                created = due - timedelta(days=rnd.randint(1, 14))
                done_at = due - timedelta(hours=rnd.randint(0, 48)) if done else None
                rows.append((int(self.customer_id[i]), title.format(name=rec["name"]), "",
                             int(due.timestamp()), user.pk, done,
                             int(done_at.timestamp()) if done_at else None, user.pk,
                             int(created.timestamp())))
        due_s = db_datetimes(np.array([r[3] for r in rows], dtype="int64"))
        created_s = db_datetimes(np.array([r[8] for r in rows], dtype="int64"))
        done_s = db_datetimes(np.array([r[6] or 0 for r in rows], dtype="int64"))
        return insert_rows(Task, ["customer", "title", "description", "due_at", "assignee", "done",
                                  "done_at", "created_by", "created_at", "updated_at"],
                           ((r[0], r[1], r[2], due_s[k], r[4], r[5],
                             done_s[k] if r[6] is not None else None, r[7], created_s[k],
                             created_s[k]) for k, r in enumerate(rows)))

    def _notes(self) -> int:
        rnd = self.rnd
        rows = []
        for i, rec in enumerate(self.records):
            if rnd.random() >= 0.12:
                continue
            start = int(self.acquired_epoch[i])
            author = self.users[rec["owner"]].pk if rec["owner"] else self.users["emily.zhou"].pk
            rows.append((int(self.customer_id[i]), author,
                         rnd.choice(texts.NOTES_ZH if rec["chinese"] else texts.NOTES_EN),
                         rnd.randrange(start, max(start + 1, self.now_epoch - 60))))
        stamps = db_datetimes(np.array([r[3] for r in rows], dtype="int64"))
        return insert_rows(Note, ["customer", "author", "body", "created_at", "updated_at"],
                           ((c, a, b, s, s) for (c, a, b, _), s in zip(rows, stamps, strict=True)))


def _pick(rnd: random.Random, weights: dict):
    return rnd.choices(list(weights), weights=list(weights.values()))[0]


def _cac(rnd: random.Random, channel: str) -> Decimal:
    # Gamma noise around the channel mean: some customers are cheap, some very expensive.
    return Decimal(str(round(rnd.gammavariate(4.0, CAC_MEAN[channel] / 4.0), 2)))


def _age_band(birthday, today) -> str:
    age = today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))
    for low, high, band in ((0, 17, "<18"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"),
                            (45, 54, "45-54"), (55, 64, "55-64")):
        if low <= age <= high:
            return band
    return "65+"


def _decimals(cents: np.ndarray) -> list[Decimal]:
    return [Decimal(c).scaleb(-2) for c in cents.tolist()]
