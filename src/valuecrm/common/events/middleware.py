"""Marks events emitted while serving a request as coming from the web (or the API)."""

from valuecrm.common.events.context import ActorKind, reset_origin, set_origin


class EventOriginMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # The API's token check narrows this to "api_token" (valuecrm.api.BearerToken);
        # resetting afterwards keeps a thread's next request from inheriting it.
        token = set_origin(ActorKind.USER, "web")
        try:
            return self.get_response(request)
        finally:
            reset_origin(token)
