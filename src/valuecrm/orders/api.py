"""API v1: products and orders (with nested lines).

POST /orders is idempotent on (source, external_id): the first call creates the
order (201), a repeat returns the stored order unchanged (200), so shops and ERPs
can retry safely.
"""


from ninja import Path, Query, Router, Status

from valuecrm.common.patch import patch_data
from valuecrm.common.schemas import MAX_ID, DayOrMoment, ProblemOut, Text
from valuecrm.orders import selectors, services
from valuecrm.orders.schemas import (
    PRODUCT_PATCH_NOT_NULL,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderStatusPatch,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    StatusValue,
)

router = Router(tags=["orders"])

MAX_PAGE = 200
ERRORS = {403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}
READ_ERRORS = {404: ProblemOut, 422: ProblemOut}
PathId = Path(..., ge=1, le=MAX_ID)


# ---------------------------------------------------------------- products

@router.get("/products", response={200: ProductPage, **READ_ERRORS})
def list_products(request, q: Text = Query("", max_length=200), active: bool | None = None,
                  category: Text = Query("", max_length=100),
                  cursor: Text | None = Query(None, max_length=500),
                  limit: int = Query(50, ge=1, le=MAX_PAGE)):
    rows, next_cursor = selectors.product_list(search=q, active=active, category=category,
                                               after=cursor, limit=limit)
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/products", response={201: ProductOut, **ERRORS})
def create_product(request, payload: ProductIn):
    product = services.product_create(actor=request.auth, data=payload.model_dump(exclude_unset=True))
    return Status(201, product)


@router.get("/products/{product_id}", response={200: ProductOut, **READ_ERRORS})
def get_product(request, product_id: int = PathId):
    return selectors.product_get(pk=product_id)


@router.patch("/products/{product_id}", response={200: ProductOut, **ERRORS})
def update_product(request, payload: ProductPatch, product_id: int = PathId):
    product = selectors.product_get(pk=product_id)
    data = patch_data(payload, PRODUCT_PATCH_NOT_NULL)
    return services.product_update(actor=request.auth, product=product, data=data)


@router.delete("/products/{product_id}", response={204: None, **ERRORS})
def delete_product(request, product_id: int = PathId):
    services.product_delete(actor=request.auth, product=selectors.product_get(pk=product_id))
    return Status(204, None)


# ---------------------------------------------------------------- orders

@router.get("/orders", response={200: OrderPage, **READ_ERRORS})
def list_orders(
    request,
    customer_id: int | None = Query(None, ge=1, le=MAX_ID),
    status: StatusValue | None = None,
    placed_after: DayOrMoment | None = Query(
        None, description="A date (local midnight) or a date-time; inclusive."),
    placed_before: DayOrMoment | None = Query(
        None, description="A date (the whole day is included) or a date-time (exclusive)."),
    cursor: Text | None = Query(None, max_length=500),
    limit: int = Query(50, ge=1, le=MAX_PAGE),
):
    """Orders of the customers you can see, newest first."""
    rows, next_cursor = selectors.order_list(
        user=request.auth, customer_id=customer_id, status=status, placed_after=placed_after,
        placed_before=placed_before, after=cursor, limit=limit,
    )
    return {"items": rows, "next_cursor": next_cursor}


@router.post("/orders", response={200: OrderOut, 201: OrderOut, **ERRORS})
def create_order(request, payload: OrderIn):
    """Create an order; a repeat of the same (source, external_id) returns the stored one (200)."""
    data = payload.model_dump(exclude_unset=True)
    data["lines"] = [line.model_dump(exclude_unset=True) for line in payload.lines]
    order, created = services.order_create(actor=request.auth, data=data)
    return Status(201 if created else 200, selectors.order_get(user=request.auth, pk=order.pk))


@router.get("/orders/{order_id}", response={200: OrderOut, **READ_ERRORS})
def get_order(request, order_id: int = PathId):
    return selectors.order_get(user=request.auth, pk=order_id)


@router.patch("/orders/{order_id}", response={200: OrderOut, **ERRORS})
def update_order_status(request, payload: OrderStatusPatch, order_id: int = PathId):
    order = selectors.order_get(user=request.auth, pk=order_id)
    services.order_update_status(actor=request.auth, order=order, status=payload.status)
    return selectors.order_get(user=request.auth, pk=order_id)
