"""The bridge from a service's ValidationFailed to a Django form.

Forms only parse and present input; services decide what is valid. When a service
refuses, `form.add_service_errors(exc)` puts each message under the field its key
names ("owner_id" → "owner", "lines.2.quantity" → that line's form via a subclass),
and marks the control invalid so Bootstrap shows the message next to it.
"""


class ServiceErrorsMixin:
    # Service error keys that name a form field differently (e.g. {"team_id": "team"}).
    error_key_to_field: dict[str, str] = {}

    def add_error(self, field, error):
        super().add_error(field, error)
        # Bootstrap shows the message only next to an .is-invalid control.
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                if "is-invalid" not in attrs.get("class", ""):
                    attrs["class"] = (attrs.get("class", "") + " is-invalid").strip()
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = f"{self[name].id_for_label}_errors"

    def add_service_errors(self, exc) -> None:
        """Put each message of a ValidationFailed under the field it names."""
        for key, messages in (exc.errors or {"__all__": [exc.detail]}).items():
            name = self.field_for_error_key(key)
            for message in messages:
                if name is None:
                    self.add_error(None, f"{key}: {message}" if key != "__all__" else message)
                else:
                    self.add_error(name, message)

    def field_for_error_key(self, key: str) -> str | None:
        name = self.error_key_to_field.get(key, key.split(".", 1)[0])
        return name if name in self.fields else None
