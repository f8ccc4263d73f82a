"""API v1 shapes for products and orders."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from ninja import Field, Schema
from pydantic import StrictBool

from valuecrm.common.schemas import Id, Moment, Money, Text, choices_literal
from valuecrm.orders.models import OrderChannel, OrderStatus

StatusValue = choices_literal(OrderStatus)
ChannelValue = choices_literal(OrderChannel)
Currency = Annotated[Text, Field(min_length=3, max_length=3, pattern=r"^[A-Za-z]{3}$")]
Quantity = Annotated[Decimal, Field(max_digits=12, decimal_places=3, gt=0, allow_inf_nan=False)]


# ---------------------------------------------------------------- products

class ProductIn(Schema):
    sku: Annotated[Text, Field(min_length=1, max_length=64)]
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    category: Annotated[Text, Field(max_length=100)] = ""
    price: Money = Decimal("0")
    unit_cost: Money = Decimal("0")
    currency: Currency | None = Field(None, description="Defaults to the site currency.")
    active: StrictBool = True


class ProductPatch(Schema):
    sku: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    category: Annotated[Text, Field(max_length=100)] | None = None
    price: Money | None = None
    unit_cost: Money | None = None
    currency: Currency | None = None
    active: StrictBool | None = None


PRODUCT_PATCH_NOT_NULL = ("sku", "name", "price", "unit_cost", "active")


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    category: str
    price: Decimal
    unit_cost: Decimal
    currency: str
    active: bool


class ProductPage(Schema):
    items: list[ProductOut]
    next_cursor: str | None = None


# ---------------------------------------------------------------- orders

class OrderLineIn(Schema):
    product_id: Id | None = None
    sku: Annotated[Text, Field(max_length=64)] = ""
    name: Annotated[Text, Field(max_length=200)] = ""
    quantity: Quantity = Decimal("1")
    unit_price: Money | None = Field(None, description="Defaults to the product's price.")
    unit_cost: Money | None = Field(None, description="Defaults to the product's unit cost.")


class OrderIn(Schema):
    customer_id: Id
    source: Annotated[Text, Field(min_length=1, max_length=50)] = "manual"
    external_id: Annotated[Text, Field(max_length=100)] = Field(
        "", description="The order's id in `source`. Re-sending the same (source, external_id) "
        "returns the stored order with 200 instead of creating a duplicate."
    )
    channel: ChannelValue = OrderChannel.ONLINE.value
    status: StatusValue = OrderStatus.PAID.value
    placed_at: Moment | None = Field(None, description="Defaults to now; naive times are local.")
    currency: Currency | None = None
    total_amount: Money | None = Field(None, description="Ignored when lines are given.")
    total_cost: Money | None = Field(None, description="Ignored when lines are given.")
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=1000)


class OrderStatusPatch(Schema):
    status: StatusValue


class OrderLineOut(Schema):
    id: int
    product_id: int | None
    sku: str
    name: str
    quantity: Decimal
    unit_price: Decimal
    unit_cost: Decimal


class OrderOut(Schema):
    id: int
    customer_id: int
    source: str
    external_id: str
    channel: str
    status: str
    placed_at: datetime
    currency: str
    total_amount: Decimal
    total_cost: Decimal
    lines: list[OrderLineOut]
    created_at: datetime

    @staticmethod
    def resolve_lines(obj):
        return list(obj.lines.all())


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None = None
