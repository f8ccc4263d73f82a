"""Merge fields: a template is Django template text rendered against plain values.

    {{ customer.name|default:"朋友" }}  {{ owner.name }}  {{ customer.tier }}
    {% for p in recommended_products %}{{ p.name }}{% endfor %}  {{ unsubscribe_url }}

The context holds plain dicts only (never ORM rows, so a template cannot call methods).
A customer who refused personalised marketing (PIPL Art. 24) gets the same template
with every personal field empty: the fallbacks fill in, recommendations are left out.
HTML is sanitised (nh3: no script, no event handlers), CSS from <style> is inlined
(css-inline) and links are rewritten through the click redirect.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import css_inline
import nh3
from django.template import Context, Engine, TemplateSyntaxError

from valuecrm.common.errors import ValidationFailed

_ENGINE = Engine(debug=False, autoescape=True)
_TEXT_ENGINE = Engine(debug=False, autoescape=False)

_TAGS = set(nh3.ALLOWED_TAGS) | {"table", "thead", "tbody", "tr", "td", "th", "img", "span", "div", "center",
                                 "h1", "h2", "h3", "h4", "p", "br", "hr", "font"}
_ATTRS = {tag: {"style", "class", "align", "width", "height", "bgcolor", "color"} for tag in _TAGS}
_ATTRS["a"] = {"href", "title", "style", "class"}
_ATTRS["img"] = {"src", "alt", "width", "height", "style"}

_HREF = re.compile(r'href="(https?://[^"]+)"')


def sanitise_html(html: str) -> str:
    """Inline <style> rules, then allow-list tags/attributes (no script, no on*=)."""
    if not html.strip():
        return ""
    try:
        inlined = css_inline.inline(html)
    except ValueError:
        inlined = html
    return nh3.clean(inlined, tags=_TAGS, attributes=_ATTRS, link_rel=None,
                     url_schemes={"http", "https", "mailto"})


def check_syntax(field: str, text: str, errors: dict) -> None:
    try:
        _ENGINE.from_string(text or "")
    except TemplateSyntaxError as exc:
        errors.setdefault(field, []).append(str(exc))


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@functools.lru_cache(maxsize=256)
def _compiled(text: str, html: bool):
    return (_ENGINE if html else _TEXT_ENGINE).from_string(text)


def render(template, context: dict, *, click_url=None, pixel_url: str = "") -> Rendered:
    """Render subject/text/html; ``click_url(target)`` wraps each link for click tracking.

    The stored HTML was sanitised and inlined when the template was saved, and merge
    values are auto-escaped, so a rendering cannot bring in a tag the template lacks.
    """
    try:
        subject = _compiled(template.subject or "", False).render(Context(context)).strip()
        text = _compiled(template.body_text or "", False).render(Context(context))
        html = _compiled(template.body_html or "", True).render(Context(context))
    except TemplateSyntaxError as exc:
        raise ValidationFailed(str(exc), errors={"body": [str(exc)]}) from exc
    html = html if html.strip() else ""
    if html and click_url is not None:
        html = _HREF.sub(lambda m: f'href="{click_url(m.group(1))}"', html)
    if html and pixel_url:
        html += f'<img src="{pixel_url}" width="1" height="1" alt="">'
    return Rendered(subject=subject, text=text, html=html)
