"""Which column of the file goes into which field: targets per import kind and
suggestions from header names in English and Chinese."""

import re

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from valuecrm.customers.models import CustomFieldDefinition
from valuecrm.imports.models import ImportKind

CUSTOM_FIELD_PREFIX = "cf:"
SKIP = ""

CUSTOMER_TARGETS = {
    "name": pgettext_lazy("customer name", "Name"),
    "kind": _("Kind (person / organisation)"),
    "company": _("Company name"),
    "job_title": _("Job title"),
    "email": _("Email"),
    "phone": _("Phone"),
    "birthday": _("Birthday"),
    "gender": _("Gender"),
    "age_band": _("Age band"),
    "occupation": _("Occupation"),
    "income_band": _("Income band"),
    "region": _("Region / province"),
    "city": _("City"),
    "preferred_language": _("Preferred language (zh-hans / en)"),
    "acquisition_source": _("Acquisition source"),
    "acquisition_channel": _("Acquisition channel"),
    "acquisition_cost": _("Acquisition cost"),
    "acquired_at": _("Acquired at"),
    "tags": _("Tags"),
    "external_id": _("External id"),
    "consent_email": _("Email consent"),
    "consent_sms": _("SMS consent"),
    "consent_phone": _("Phone consent"),
    "consent_wechat": _("WeChat consent"),
    # Not fields of the customer: each non-empty cell is added to the customer's timeline.
    "note": _("Note (added to the customer's timeline)"),
    "interaction": _("Interaction text (logged on the timeline)"),
    "interaction_kind": _("Interaction type (default: call)"),
    "interaction_at": _("Interaction date (default: now)"),
}
CUSTOMER_REF_TARGETS = {
    "customer_external_id": _("Customer external id"),
    "customer_email": _("Customer email"),
    "customer_phone": _("Customer phone"),
}
ORDER_TARGETS = {
    "external_id": _("Order number"),
    **CUSTOMER_REF_TARGETS,
    "placed_at": _("Placed at"),
    "total_amount": _("Total amount"),
    "total_cost": _("Cost"),
    "status": _("Status"),
    "channel": _("Channel"),
    "currency": _("Currency"),
}
PRODUCT_TARGETS = {
    "sku": _("SKU"),
    "name": _("Name"),
    "category": _("Category"),
    "price": _("Price"),
    "unit_cost": _("Unit cost"),
    "currency": _("Currency"),
    "active": _("Active"),
}
INTERACTION_TARGETS = {
    **CUSTOMER_REF_TARGETS,
    "kind": _("Type"),
    "direction": _("Direction"),
    "occurred_at": _("Occurred at"),
    "subject": _("Subject"),
    "body": pgettext_lazy("interaction body", "Text"),
}
TARGETS = {
    ImportKind.CUSTOMERS: CUSTOMER_TARGETS,
    ImportKind.ORDERS: ORDER_TARGETS,
    ImportKind.PRODUCTS: PRODUCT_TARGETS,
    ImportKind.INTERACTIONS: INTERACTION_TARGETS,
}
REQUIRED = {
    ImportKind.CUSTOMERS: ("name",),
    ImportKind.ORDERS: ("external_id", "placed_at", "total_amount"),
    ImportKind.PRODUCTS: ("sku", "name"),
    ImportKind.INTERACTIONS: ("kind",),
}

# Header spellings seen in real exports (shops, ERPs, WeChat tools, spreadsheets),
# compared after lower-casing and dropping spaces, underscores, dashes and colons.
_SYNONYMS = {
    "name": ["name", "fullname", "customername", "customer", "contactname", "姓名", "名字",
             "客户名称", "客户姓名", "客户名", "联系人", "名称"],
    "kind": ["kind", "type", "customertype", "客户类型", "类型"],
    "company": ["company", "companyname", "organisation", "organization", "account", "公司",
                "公司名称", "单位", "企业", "所属公司"],
    "job_title": ["jobtitle", "title", "position", "职位", "职务", "岗位"],
    "email": ["email", "e-mail", "mail", "emailaddress", "邮箱", "电子邮件", "电子邮箱", "邮件"],
    "phone": ["phone", "mobile", "tel", "telephone", "phonenumber", "mobilephone", "cell",
              "手机", "手机号", "手机号码", "电话", "电话号码", "联系电话", "联系方式"],
    "birthday": ["birthday", "birthdate", "dateofbirth", "dob", "生日", "出生日期"],
    "gender": ["gender", "sex", "性别"],
    "age_band": ["ageband", "agegroup", "age", "年龄段", "年龄"],
    "occupation": ["occupation", "profession", "职业"],
    "income_band": ["incomeband", "income", "收入", "收入水平"],
    "region": ["region", "province", "state", "area", "省份", "省", "地区", "区域", "省市"],
    "city": ["city", "town", "城市", "市"],
    "preferred_language": ["preferredlanguage", "language", "lang", "locale", "语言", "首选语言",
                           "偏好语言"],
    "acquisition_source": ["source", "acquisitionsource", "leadsource", "来源", "客户来源"],
    "acquisition_channel": ["channel", "acquisitionchannel", "获客渠道", "渠道"],
    "acquisition_cost": ["acquisitioncost", "cac", "获客成本"],
    "acquired_at": ["acquiredat", "signupdate", "registeredat", "createdat", "注册时间",
                    "注册日期", "创建时间"],
    "tags": ["tags", "tag", "labels", "标签"],
    "external_id": ["externalid", "id", "customerid", "customerno", "customernumber",
                    "客户id", "客户编号", "会员号", "会员编号", "编号"],
    "consent_email": ["consentemail", "emailconsent", "emailoptin", "邮件订阅"],
    "consent_sms": ["consentsms", "smsconsent", "smsoptin", "短信订阅"],
    "consent_phone": ["consentphone", "phoneconsent"],
    "consent_wechat": ["consentwechat", "wechatconsent", "微信订阅"],
    "note": ["note", "notes", "remark", "remarks", "memo", "comment", "comments", "备注",
             "备注信息", "说明", "留言"],
    "interaction": ["interaction", "contactlog", "followup", "followupnote", "跟进记录",
                    "沟通记录", "联系记录", "拜访记录", "通话记录"],
    "interaction_kind": ["interactiontype", "interactionkind", "contacttype", "跟进方式",
                         "沟通方式"],
    "interaction_at": ["interactiondate", "interactionat", "lastcontact", "lastcontacted",
                       "跟进时间", "沟通时间", "最近联系时间", "最后联系时间"],
}
_ORDER_SYNONYMS = {
    "external_id": ["externalid", "orderid", "orderno", "ordernumber", "order", "id",
                    "订单号", "订单编号", "订单id"],
    "customer_external_id": ["customerid", "customerno", "customerexternalid", "customernumber",
                             "客户id", "客户编号", "会员号", "会员编号"],
    "customer_email": ["email", "customeremail", "邮箱", "客户邮箱", "电子邮件"],
    "customer_phone": ["phone", "mobile", "customerphone", "手机", "手机号", "电话", "客户电话",
                       "联系电话"],
    "placed_at": ["placedat", "orderdate", "date", "ordertime", "createdat", "下单时间",
                  "订单日期", "下单日期", "日期", "时间", "订单时间", "付款时间"],
    "total_amount": ["totalamount", "total", "amount", "ordertotal", "value", "revenue", "金额",
                     "订单金额", "实付金额", "总金额", "实付", "付款金额", "应付金额"],
    "total_cost": ["totalcost", "cost", "成本"],
    "status": ["status", "orderstatus", "状态", "订单状态"],
    "channel": ["channel", "saleschannel", "渠道", "销售渠道"],
    "currency": ["currency", "币种", "货币"],
}
_PRODUCT_SYNONYMS = {
    "sku": ["sku", "productcode", "itemcode", "code", "货号", "商品编码", "商品编号", "sku编码"],
    "name": ["name", "productname", "title", "商品名称", "名称", "品名"],
    "category": ["category", "分类", "类目", "品类"],
    "price": ["price", "unitprice", "价格", "售价", "单价"],
    "unit_cost": ["unitcost", "cost", "成本", "进价"],
    "currency": ["currency", "币种"],
    "active": ["active", "enabled", "onsale", "上架", "启用"],
}
_INTERACTION_SYNONYMS = {
    "customer_external_id": _ORDER_SYNONYMS["customer_external_id"],
    "customer_email": _ORDER_SYNONYMS["customer_email"],
    "customer_phone": _ORDER_SYNONYMS["customer_phone"],
    "kind": ["kind", "type", "类型", "方式", "互动类型"],
    "direction": ["direction", "方向"],
    "occurred_at": ["occurredat", "date", "time", "datetime", "时间", "日期", "发生时间"],
    "subject": ["subject", "title", "主题", "标题"],
    "body": ["body", "text", "notes", "content", "description", "内容", "备注", "记录"],
}
SYNONYMS = {
    ImportKind.CUSTOMERS: _SYNONYMS,
    ImportKind.ORDERS: _ORDER_SYNONYMS,
    ImportKind.PRODUCTS: _PRODUCT_SYNONYMS,
    ImportKind.INTERACTIONS: _INTERACTION_SYNONYMS,
}
_NOISE = re.compile(r"[\s_\-:：()（）/.*]+")


def header_key(header: str) -> str:
    from valuecrm.customers.normalize import half_width

    return _NOISE.sub("", half_width(str(header)).lower())


def targets_for(kind: str) -> dict[str, str]:
    """All mapping targets of `kind`, custom fields as cf:<key> for customers."""
    targets = {key: str(label) for key, label in TARGETS[kind].items()}
    if kind == ImportKind.CUSTOMERS:
        suffix = _("custom field")
        for definition in CustomFieldDefinition.objects.all():
            targets[CUSTOM_FIELD_PREFIX + definition.key] = f"{definition.label} ({suffix})"
    return targets


def suggest_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """{header: target or ""}; each target is suggested for at most one column."""
    lookup: dict[str, str] = {}
    for target, words in SYNONYMS[kind].items():
        for word in words:
            lookup.setdefault(header_key(word), target)
    if kind == ImportKind.CUSTOMERS:
        for definition in CustomFieldDefinition.objects.all():
            for word in (definition.key, definition.label, definition.label_zh):
                if word:
                    lookup.setdefault(header_key(word), CUSTOM_FIELD_PREFIX + definition.key)
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for header in headers:
        target = lookup.get(header_key(header), SKIP)
        if target in taken:
            target = SKIP
        if target:
            taken.add(target)
        mapping[header] = target
    return mapping


def check_mapping(kind: str, mapping: dict, headers: list[str]) -> dict[str, list[str]]:
    """Errors of a mapping: unknown headers/targets, a target used twice, a required one missing."""
    errors: dict[str, list[str]] = {}
    if not isinstance(mapping, dict):
        return {"mapping": [str(_("Expected an object of column → field."))]}
    valid = targets_for(kind)
    used: dict[str, str] = {}
    for header, target in mapping.items():
        if header not in headers:
            errors.setdefault("mapping", []).append(
                str(_("The file has no column “%(column)s”.")) % {"column": header})
            continue
        if target in (None, SKIP):
            continue
        if target not in valid:
            errors.setdefault(f"mapping.{header}", []).append(
                str(_("Unknown field “%(field)s”.")) % {"field": target})
            continue
        if target in used:
            errors.setdefault(f"mapping.{header}", []).append(
                str(_("“%(field)s” is already mapped from column “%(column)s”."))
                % {"field": valid[target], "column": used[target]})
            continue
        used[target] = header
    for target in REQUIRED[kind]:
        if target not in used:
            errors.setdefault("mapping", []).append(
                str(_("Map a column to the required field “%(field)s”.")) % {"field": valid[target]})
    if kind in (ImportKind.ORDERS, ImportKind.INTERACTIONS) and not (
        set(used) & set(CUSTOMER_REF_TARGETS)
    ):
        errors.setdefault("mapping", []).append(
            str(_("Map a column that identifies the customer (external id, email or phone).")))
    return errors
