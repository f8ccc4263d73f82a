from django import template

register = template.Library()


@register.filter
def get(mapping, key):
    """{{ slot|get:param.name }}: a dict value by a variable key."""
    if isinstance(mapping, dict):
        value = mapping.get(key, "")
        return "" if value is None else value
    return ""


@register.filter
def as_str(value):
    return "" if value is None else str(value)
