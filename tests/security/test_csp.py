"""Content-Security-Policy: scripts only from our own files, no inline script or
handler anywhere in the templates, no eval (the browser check is in
tests/browser/test_security_pages.py)."""

import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "valuecrm"
TEMPLATES = sorted(p for p in SRC.rglob("*.html") if "static/vendor" not in str(p))


def _directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("path", ["/login/", "/customers/", "/api/v1/docs", "/no/such/page/"])
def test_every_page_carries_the_policy(client, admin_user, path):
    client.force_login(admin_user)
    policy = _directives(client.get(path)["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]


def test_templates_have_no_inline_script():
    offenders = []
    for path in TEMPLATES:
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path.relative_to(SRC)}: {tag}")
    assert offenders == []


def test_templates_have_no_inline_handlers_or_eval_attributes():
    pattern = re.compile(r"""\s(on[a-z]+|hx-on[:\w-]*)\s*=\s*["']|["']javascript:|hx-vals=["']js:""")
    offenders = [f"{p.relative_to(SRC)}: {m.group(0).strip()}"
                 for p in TEMPLATES for m in pattern.finditer(p.read_text())]
    assert offenders == []


def test_the_check_above_can_fail(tmp_path):
    sample = '<button onclick="go()">x</button><script>alert(1)</script>'
    assert re.search(r"""\s(on[a-z]+|hx-on[:\w-]*)\s*=\s*["']""", sample)
    assert [t for t in re.findall(r"<script\b[^>]*>", sample) if "src=" not in t]
