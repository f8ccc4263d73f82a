from django.test import Client
from django.urls import reverse

from valuecrm.accounts.models import ApiToken


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_login_page_renders_and_logs_in(rep_north):
    client = Client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode() and "vc-auth-card" in page.content.decode()

    bad = client.post(reverse("login"), {"username": "rep_north", "password": "wrong"})
    assert bad.status_code == 200 and "alert-danger" in bad.content.decode()

    ok = client.post(reverse("login"), {"username": "rep_north", "password": "pw-123456789"})
    assert ok.status_code == 302 and ok["Location"] == reverse("home")


def test_login_page_in_chinese_via_accept_language():
    page = Client().get(reverse("login"), HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    html = page.content.decode()
    assert '<html lang="zh-hans"' in html
    assert "欢迎回来" in html and "用户名" in html


def test_profile_creates_token_shows_it_once_and_stores_only_its_hash(rep_north):
    client = client_for(rep_north)
    response = client.post(reverse("profile"), {"name": "shop"})
    html = response.content.decode()

    token = ApiToken.objects.get(user=rep_north)
    raw = html.split('data-testid="new-token">')[1].split("<")[0]
    assert raw.startswith("vcrm_") and len(raw) > 30
    assert token.name == "shop"
    assert token.digest == ApiToken.digest_of(raw) and raw not in token.digest
    # Shown once: the next page view lists the token by its hint only.
    again = client.get(reverse("profile")).content.decode()
    assert raw not in again
    assert token.hint in again


def test_revoke_token(rep_north, rep_south):
    client = client_for(rep_north)
    client.post(reverse("profile"), {"name": "laptop"})
    token = ApiToken.objects.get(user=rep_north)

    # Someone else's token is not found.
    assert client_for(rep_south).post(reverse("token-revoke", args=[token.pk])).status_code == 404
    response = client.post(reverse("token-revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Revoked" in client.get(reverse("profile")).content.decode()


def test_switching_language_to_chinese_translates_the_pages(rep_north):
    client = client_for(rep_north)
    assert "Customers" in client.get(reverse("customer-list")).content.decode()

    response = client.post(reverse("preferences"), {"language": "zh-hans", "next": "/customers/"})
    assert response.status_code == 302 and response["Location"] == "/customers/"
    rep_north.refresh_from_db()
    assert rep_north.language == "zh-hans"

    html = client.get(reverse("customer-list")).content.decode()
    assert '<html lang="zh-hans"' in html
    assert "我的待办" in html and "导出 CSV" in html and "搜索客户和页面" in html
    profile = client.get(reverse("profile")).content.decode()
    assert "偏好设置" in profile and "销售代表" in profile


def test_switching_theme(rep_north):
    client = client_for(rep_north)
    assert 'data-bs-theme="light"' in client.get(reverse("profile")).content.decode()
    client.post(reverse("preferences"), {"theme": "dark", "next": "/profile/"})
    rep_north.refresh_from_db()
    assert rep_north.theme == "dark"
    assert 'data-bs-theme="dark"' in client.get(reverse("profile")).content.decode()
    # Unknown values change nothing.
    client.post(reverse("preferences"), {"theme": "neon"})
    rep_north.refresh_from_db()
    assert rep_north.theme == "dark"


def test_preferences_never_redirect_off_site(rep_north):
    client = client_for(rep_north)
    response = client.post(reverse("preferences"), {"theme": "dark", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"
    response = client.post(reverse("preferences"), {"theme": "dark", "next": "//evil.example/x"})
    assert response["Location"] == "/"


def test_error_pages_render(rep_north):
    from django.template.loader import render_to_string

    assert "500" in render_to_string("500.html")
    response = client_for(rep_north).get("/customers/999999/does-not-exist/")
    assert response.status_code == 404
