"""One file row → the values to store, or the reasons it cannot be stored.

A `RowCleaner` is built once per run from the mapping (which column feeds which
field) and then cleans rows without touching the database, so the whole file is
validated before anything is written. Errors name the column as the file names it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from valuecrm.customers.custom_fields import clean_value
from valuecrm.customers.models import (
    AcquisitionChannel,
    AgeBand,
    CustomerKind,
    CustomFieldDefinition,
    CustomFieldType,
    Direction,
    Gender,
    IncomeBand,
    InteractionKind,
    PreferredLanguage,
)
from valuecrm.imports import fastpath
from valuecrm.imports import normalize_values as nv
from valuecrm.imports.mapping import CUSTOM_FIELD_PREFIX
from valuecrm.imports.models import ImportKind
from valuecrm.imports.readers import Row
from valuecrm.imports.row_errors import RowProblem
from valuecrm.orders.models import OrderChannel, OrderStatus

TAG_MAX_LENGTH = 50


def _choices(enum) -> dict[str, str]:
    return {value: str(label) for value, label in enum.choices}


# Spellings seen in Chinese and Western exports, lower-case → stored value.
GENDER_WORDS = {"男": "male", "m": "male", "man": "male", "先生": "male", "男性": "male",
                "女": "female", "f": "female", "w": "female", "woman": "female", "女士": "female",
                "女性": "female", "其他": "other", "未知": "", "unknown": "", "保密": ""}
KIND_WORDS = {"个人": "person", "individual": "person", "企业": "organization",
              "公司": "organization", "organisation": "organization", "company": "organization",
              "机构": "organization", "组织": "organization", "b2b": "organization",
              "b2c": "person"}
CHANNEL_WORDS = {"微信": "wechat", "门店": "store", "线下": "store", "推荐": "referral",
                 "转介绍": "referral", "活动": "event", "展会": "event", "自然搜索": "organic",
                 "seo": "organic", "付费搜索": "paid_search", "sem": "paid_search",
                 "社交媒体": "social", "抖音": "social", "小红书": "social", "直销": "direct",
                 "电商平台": "marketplace", "天猫": "marketplace", "京东": "marketplace",
                 "淘宝": "marketplace", "其他": "other"}
LANGUAGE_WORDS = {"zh": "zh-hans", "zh-cn": "zh-hans", "zh_cn": "zh-hans", "zh-hans-cn": "zh-hans",
                  "chinese": "zh-hans", "中文": "zh-hans", "简体中文": "zh-hans", "汉语": "zh-hans",
                  "en-us": "en", "en-gb": "en", "english": "en", "英文": "en", "英语": "en"}
INCOME_WORDS = {"低": "low", "中低": "lower_middle", "中等": "middle", "中": "middle",
                "中高": "upper_middle", "高": "high"}
STATUS_WORDS = {"待付款": "pending", "待支付": "pending", "未付款": "pending", "已付款": "paid",
                "已支付": "paid", "付款成功": "paid", "交易成功": "fulfilled", "已完成": "fulfilled",
                "完成": "fulfilled", "已发货": "fulfilled", "已签收": "fulfilled",
                "shipped": "fulfilled", "completed": "fulfilled", "complete": "fulfilled",
                "已取消": "cancelled", "取消": "cancelled", "交易关闭": "cancelled",
                "canceled": "cancelled", "已退款": "refunded", "退款": "refunded",
                "退款成功": "refunded"}
ORDER_CHANNEL_WORDS = {"网店": "online", "线上": "online", "官网": "online", "门店": "store",
                       "线下": "store", "电话": "phone", "天猫": "marketplace", "京东": "marketplace",
                       "淘宝": "marketplace", "拼多多": "marketplace", "平台": "marketplace",
                       "小程序": "wechat", "微信": "wechat", "销售": "sales", "其他": "other"}
INTERACTION_WORDS = {"电话": "call", "通话": "call", "phone": "call", "邮件": "email",
                     "e-mail": "email", "会议": "meeting", "拜访": "meeting", "面谈": "meeting",
                     "visit": "meeting", "聊天": "chat", "微信": "chat", "在线": "chat",
                     "社交": "social", "网站访问": "web_visit", "到店": "store_visit",
                     "门店": "store_visit"}
DIRECTION_WORDS = {"呼入": "inbound", "来电": "inbound", "in": "inbound", "呼出": "outbound",
                   "去电": "outbound", "out": "outbound"}
CURRENCY_WORDS = {"¥": "CNY", "￥": "CNY", "rmb": "CNY", "人民币": "CNY", "元": "CNY", "$": "USD",
                  "美元": "USD", "€": "EUR", "欧元": "EUR", "港币": "HKD", "港元": "HKD"}


@dataclass
class CleanRow:
    number: int
    raw: list
    values: dict = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, reason)


class RowCleaner:
    """Turns rows of one file into CleanRows for one import kind."""

    def __init__(self, kind: str, headers: list[str], mapping: dict[str, str], options: dict):
        self.kind = kind
        self.headers = headers
        self.dayfirst = bool(options.get("dayfirst"))
        self.decimal_comma = bool(options.get("decimal_comma"))
        self.region = options.get("phone_region") or settings.VALUECRM_PHONE_REGION
        self.definitions = {}
        if kind == ImportKind.CUSTOMERS:
            self.definitions = {d.key: d for d in CustomFieldDefinition.objects.all()}
        handlers = self._handlers()
        # (column index, header, target, handler) for every mapped column
        self.columns: list[tuple[int, str, str, Callable]] = []
        for index, header in enumerate(headers):
            target = mapping.get(header) or ""
            if not target:
                continue
            if target.startswith(CUSTOM_FIELD_PREFIX):
                definition = self.definitions.get(target[len(CUSTOM_FIELD_PREFIX):])
                if definition is not None:
                    self.columns.append((index, header, target, self._custom(definition)))
                continue
            if target in handlers:
                self.columns.append((index, header, target, handlers[target]))
        self.required = {t for t in _REQUIRED_ROW[kind]}
        self.mapped = {target: header for _i, header, target, _h in self.columns}
        self.unmapped_required = [t for t in _REQUIRED_ROW[kind] if t not in self.mapped]
        self.batch_columns = [(index, header, target, self._batch_column(target, handle))
                              for index, header, target, handle in self.columns]

    # ------------------------------------------------------------ value handlers

    def _text(self, max_length: int) -> Callable:
        def handle(value):
            text = nv.clean_text(value)
            if len(text) > max_length:
                raise RowProblem("too_long", n=max_length)
            if "\x00" in text:
                raise RowProblem("null_character")
            return text
        handle.max_length = max_length
        return handle

    def _choice(self, enum, words) -> Callable:
        choices = _choices(enum)
        return lambda value: nv.parse_choice(value, choices, words)

    def _amount(self, allow_negative=False) -> Callable:
        return lambda value: nv.parse_amount(value, decimal_comma=self.decimal_comma,
                                             allow_negative=allow_negative)

    def _moment(self, value):
        return nv.parse_datetime(value, dayfirst=self.dayfirst)

    def _currency(self, value):
        text = nv.clean_text(value)
        if not text:
            return settings.VALUECRM_CURRENCY
        code = CURRENCY_WORDS.get(text.lower(), text.upper())
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise RowProblem("currency")
        return code

    def _custom(self, definition) -> Callable:
        def handle(value):
            text = nv.clean_text(value)
            if not text:
                return None
            if definition.field_type == CustomFieldType.DATE:
                return nv.parse_date(value, dayfirst=self.dayfirst).isoformat()
            if definition.field_type == CustomFieldType.NUMBER:
                text = text.replace(",", "")
            return clean_value(definition, text)
        return handle

    def _handlers(self) -> dict[str, Callable]:
        phone = lambda value: nv.phone_e164(value, self.region)  # noqa: E731
        if self.kind == ImportKind.CUSTOMERS:
            return {
                "name": self._text(200), "company": self._text(200), "job_title": self._text(100),
                "kind": self._choice(CustomerKind, KIND_WORDS),
                "email": nv.email_address, "phone": phone,
                "birthday": lambda v: nv.parse_date(v, dayfirst=self.dayfirst),
                "gender": self._choice(Gender, GENDER_WORDS),
                "age_band": self._choice(AgeBand, {}),
                "occupation": self._text(100),
                "income_band": self._choice(IncomeBand, INCOME_WORDS),
                "region": self._text(100), "city": self._text(100),
                "preferred_language": self._choice(PreferredLanguage, LANGUAGE_WORDS),
                "acquisition_source": self._text(100),
                "acquisition_channel": self._choice(AcquisitionChannel, CHANNEL_WORDS),
                "acquisition_cost": self._amount(), "acquired_at": self._moment,
                "tags": self._tags, "external_id": self._text(100),
                "consent_email": nv.parse_bool, "consent_sms": nv.parse_bool,
                "consent_phone": nv.parse_bool, "consent_wechat": nv.parse_bool,
                "note": self._text(20000), "interaction": self._text(20000),
                "interaction_kind": self._choice(InteractionKind, INTERACTION_WORDS),
                "interaction_at": self._moment,
            }
        refs = {"customer_external_id": self._text(100), "customer_email": nv.email_address,
                "customer_phone": phone}
        if self.kind == ImportKind.ORDERS:
            return {
                **refs, "external_id": self._text(100), "placed_at": self._moment,
                "total_amount": self._amount(), "total_cost": self._amount(),
                "status": self._choice(OrderStatus, STATUS_WORDS),
                "channel": self._choice(OrderChannel, ORDER_CHANNEL_WORDS),
                "currency": self._currency,
            }
        if self.kind == ImportKind.PRODUCTS:
            return {
                "sku": self._text(64), "name": self._text(200), "category": self._text(100),
                "price": self._amount(), "unit_cost": self._amount(),
                "currency": self._currency, "active": nv.parse_bool,
            }
        return {
            **refs, "kind": self._choice(InteractionKind, INTERACTION_WORDS),
            "direction": self._choice(Direction, DIRECTION_WORDS),
            "occurred_at": self._moment, "subject": self._text(200), "body": self._text(20000),
        }

    def _batch_column(self, target: str, handle: Callable) -> Callable:
        """The column cleaner `clean_batch` uses: a fast path where one exists that is
        sure to agree with `handle`, memoised `handle` for pure value-lists."""
        if target in ("birthday",):
            return fastpath.column(handle, fastpath.date, memo=True)
        if target in ("placed_at", "occurred_at", "acquired_at", "interaction_at"):
            return fastpath.column(handle, fastpath.moment(timezone.get_default_timezone()),
                                   memo=True)
        if target in ("email", "customer_email"):
            return fastpath.column(handle, fastpath.email)
        if target in ("phone", "customer_phone"):
            return fastpath.column(handle, fastpath.phone(self.region or ""))
        if target in ("total_amount", "total_cost", "acquisition_cost", "price", "unit_cost"):
            return fastpath.column(handle, fastpath.amount(self.decimal_comma))
        if getattr(handle, "max_length", None):
            return fastpath.text_column(handle, handle.max_length)
        if target == "tags":
            return fastpath.column(handle)  # lists: never shared between rows
        # choices, yes/no, currencies, custom fields: pure functions of the cell
        return fastpath.column(handle, memo=True)

    def _tags(self, value):
        tags = nv.split_tags(value)
        for tag in tags:
            if len(tag) > TAG_MAX_LENGTH:
                raise RowProblem("tag_too_long", n=TAG_MAX_LENGTH)
        return tags

    # ------------------------------------------------------------ rows

    def clean(self, number: int, raw: list, problem: str = "") -> CleanRow:
        row = CleanRow(number, raw)
        if problem:
            row.errors.append(("", problem))
            return row
        values = row.values
        for index, header, target, handle in self.columns:
            cell = raw[index] if index < len(raw) else None
            if cell is None or (isinstance(cell, str) and not cell.strip()):
                if target in self.required:
                    row.errors.append((header, RowProblem("required")))
                continue
            try:
                value = handle(cell)
            except ValueError as exc:
                row.errors.append((header, exc if isinstance(exc, RowProblem) else str(exc)))
                continue
            if target.startswith(CUSTOM_FIELD_PREFIX):
                if value is not None:
                    values.setdefault("custom_fields", {})[target[len(CUSTOM_FIELD_PREFIX):]] = value
            else:
                values[target] = value
        for target in self.unmapped_required:
            row.errors.append(("", RowProblem("column_unmapped", field=target)))
        if self.kind in (ImportKind.ORDERS, ImportKind.INTERACTIONS) and not row.errors and not (
            values.get("customer_external_id") or values.get("customer_email")
            or values.get("customer_phone")
        ):
            columns = [self.mapped[t] for t in ("customer_external_id", "customer_email",
                                                "customer_phone") if t in self.mapped]
            row.errors.append((" / ".join(columns), RowProblem("customer_ref_missing")))
        return row

    def clean_batch(self, rows: list) -> list[CleanRow]:
        """`clean` for a batch of reader Rows, one column at a time (see fastpath):
        the same values and the same errors, in the same order, as `clean` row by row."""
        if len(set(self.mapped)) != len(self.columns):  # a target fed twice: the slow way
            return [self.clean(row.number, row.values, row.problem) for row in rows]
        return self.clean_columns(rows).clean_rows()

    def clean_columns(self, rows: list) -> "CleanBatch":
        """A batch of reader Rows cleaned one column at a time, kept as columns (see
        CleanBatch); `clean_batch` turns it into CleanRows."""
        if len(set(self.mapped)) != len(self.columns):  # a target fed twice: the slow way
            return CleanBatch.from_rows([self.clean(row.number, row.values, row.problem)
                                         for row in rows], list(self.mapped))
        good = [row for row in rows if not row.problem]
        raws = [row.values for row in good]
        widest = max((index for index, *_rest in self.batch_columns), default=-1)
        # Readers give every row the header's width; then one zip turns rows into columns
        # (cut to the shortest row, which still holds every mapped column).
        transposed = (list(zip(*raws, strict=False)) if raws and min(map(len, raws)) > widest
                      else None)
        errors: dict[int, list[tuple[str, str]]] = {}
        columns: dict[str, list] = {}
        required_message = RowProblem("required")
        empty, failed = fastpath.EMPTY, fastpath.Failed
        for index, header, target, run in self.batch_columns:
            cells = (transposed[index] if transposed is not None
                     else [raw[index] if index < len(raw) else None for raw in raws])
            values, special = run(cells)
            if target.startswith(CUSTOM_FIELD_PREFIX):
                special = range(len(values))
            required = target in self.required
            # Every cell goes in at once; the few empty or failed ones are taken out again.
            for position in special:
                value = values[position]
                if value is empty:
                    values[position] = None
                    if required:
                        errors.setdefault(position, []).append((header, required_message))
                elif type(value) is failed:
                    values[position] = None
                    errors.setdefault(position, []).append((header, value.message))
            columns[target] = values
        refs = [t for t in ("customer_external_id", "customer_email", "customer_phone")
                if t in columns]
        needs_ref = self.kind in (ImportKind.ORDERS, ImportKind.INTERACTIONS)
        if self.unmapped_required or needs_ref:
            ref_columns = [columns[t] for t in refs]
            ref_message = (" / ".join(self.mapped[t] for t in refs),
                           RowProblem("customer_ref_missing"))
            for target in self.unmapped_required:
                message = ("", RowProblem("column_unmapped", field=target))
                for position in range(len(good)):
                    errors.setdefault(position, []).append(message)
            if needs_ref:
                if len(ref_columns) == 1:
                    named = ref_columns[0]
                elif ref_columns:
                    named = [any(cells) for cells in zip(*ref_columns, strict=True)]
                else:
                    named = [False] * len(good)
                for position in [i for i, given in enumerate(named) if not given]:
                    if position not in errors:
                        errors[position] = [ref_message]
        batch = CleanBatch(good, columns, errors)
        if len(good) != len(rows):
            batch = batch.with_problems(rows)
        return batch


class CleanBatch:
    """Rows cleaned column by column, for writers that work on columns (orders).

    `columns[target][i]` is the value to store for `rows[i]`, or None where the cell
    was empty or did not clean; `errors[i]` lists the row's (column, reason) problems
    in the order `RowCleaner.clean` finds them. A writer adds its own with `fail`.
    """

    __slots__ = ("rows", "columns", "errors")

    def __init__(self, rows: list, columns: dict[str, list], errors: dict[int, list]):
        self.rows = rows
        self.columns = columns
        self.errors = errors

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def from_rows(cls, rows: list[CleanRow], targets: list[str]) -> "CleanBatch":
        """CleanRows as a batch; `fail` on the batch adds to the rows' own error lists."""
        columns = {target: [row.values.get(target) for row in rows] for target in targets}
        return cls([Row(row.number, row.raw) for row in rows], columns,
                   {i: row.errors for i, row in enumerate(rows)})

    def fail(self, position: int, column: str, reason: str) -> None:
        self.errors.setdefault(position, []).append((column, reason))

    def valid(self) -> list[int]:
        """Positions of the rows without errors."""
        errors = self.errors
        return [i for i in range(len(self.rows)) if not errors.get(i)] if errors \
            else list(range(len(self.rows)))

    def with_problems(self, rows: list) -> "CleanBatch":
        """This batch (of the well-formed rows) spread over all `rows`, the malformed
        ones carrying their reader problem and no values."""
        positions = [i for i, row in enumerate(rows) if not row.problem]
        columns = {target: [None] * len(rows) for target in self.columns}
        for target, values in self.columns.items():
            spread = columns[target]
            for position, value in zip(positions, values, strict=True):
                spread[position] = value
        errors = {positions[i]: found for i, found in self.errors.items()}
        errors.update({i: [("", row.problem)] for i, row in enumerate(rows) if row.problem})
        return CleanBatch(rows, columns, errors)

    def clean_rows(self) -> list[CleanRow]:
        """The batch as CleanRows (values hold only the cells that cleaned; custom
        fields under "custom_fields"), for writers that work row by row."""
        plain = [(t, v) for t, v in self.columns.items() if not t.startswith(CUSTOM_FIELD_PREFIX)]
        custom = [(t[len(CUSTOM_FIELD_PREFIX):], v) for t, v in self.columns.items()
                  if t.startswith(CUSTOM_FIELD_PREFIX)]
        targets = [t for t, _v in plain]
        if plain:
            dicts = [dict(zip(targets, values, strict=True))
                     for values in zip(*(v for _t, v in plain), strict=True)]
        else:
            dicts = [{} for _row in self.rows]
        errors = self.errors
        cleaned = []
        for position, (row, values) in enumerate(zip(self.rows, dicts, strict=True)):
            if row.problem:
                cleaned.append(CleanRow(row.number, row.values, {}, [("", row.problem)]))
                continue
            if None in values.values():
                values = {t: v for t, v in values.items() if v is not None}
            for key, column in custom:
                if column[position] is not None:
                    values.setdefault("custom_fields", {})[key] = column[position]
            cleaned.append(CleanRow(row.number, row.values, values, errors.get(position, [])))
        return cleaned


_REQUIRED_ROW = {
    ImportKind.CUSTOMERS: ("name",),
    ImportKind.ORDERS: ("external_id", "placed_at", "total_amount"),
    ImportKind.PRODUCTS: ("sku", "name"),
    ImportKind.INTERACTIONS: ("kind",),
}
