"""API v1: inbound orders from shops and ERPs.

POST /inbound/orders/{source} is authenticated by its HMAC signature, not by a
token: a shop holds a shared secret, not a user account (see webhooks.inbound).
The tag and the operation id are the ones it had in the integrations app.
"""

from ninja import Path, Router, Status

from valuecrm.common.schemas import ProblemOut
from valuecrm.orders.schemas import OrderOut
from valuecrm.webhooks.inbound import inbound_order, verify

router = Router(tags=["integrations"])
ERRORS = {401: ProblemOut, 403: ProblemOut, 404: ProblemOut, 409: ProblemOut, 422: ProblemOut}


@router.post("/inbound/orders/{source}", auth=None, operation_id="valuecrm_integrations_api_receive_order",
             response={200: OrderOut, 201: OrderOut, **ERRORS},
             summary="Receive an order from a shop or ERP (HMAC-signed, idempotent)")
def receive_order(request, source: str = Path(..., max_length=50)):
    """Sign with the source's secret: `X-ValueCRM-Timestamp: <unix s>` and
    `X-ValueCRM-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>`.
    201 when the order is new, 200 with the stored order when (source, external_id) was seen."""
    found = verify(source, request.body, request.headers.get("X-ValueCRM-Timestamp"),
                   request.headers.get("X-ValueCRM-Signature"))
    order, created = inbound_order(found, request.body)
    return Status(201 if created else 200, order)
