"""What a user does with the page chrome, as the browser tests do it: through the UI."""

from playwright.sync_api import Page, expect

LANGUAGE_BUTTON = ".vc-topbar button[data-bs-toggle=dropdown]:has(i.bi-translate)"


def switch_language(pg: Page, code: str) -> None:
    """Pick a language in the top bar's menu; the server answers with the same page, translated."""
    pg.click(LANGUAGE_BUTTON)
    with pg.expect_navigation():
        pg.click(f".vc-topbar .dropdown-menu button[lang='{code}']")
    pg.wait_for_load_state("networkidle")
    expect(pg.locator("html")).to_have_attribute("lang", code)


def toggle_theme(pg: Page, expected: str) -> None:
    """Press the theme button: the page switches at once, the choice is saved in the background."""
    with pg.expect_response(lambda r: r.url.endswith("/preferences/") and r.request.method == "POST"):
        pg.click("[data-vc-theme-toggle]")
    expect(pg.locator("html")).to_have_attribute("data-bs-theme", expected)


def open_page(pg: Page, url: str) -> None:
    pg.goto(url)
    pg.wait_for_load_state("networkidle")


def chart_containers_rendered(pg: Page) -> dict[str, bool]:
    """{chart key: True if ECharts drew a canvas or svg inside the container}."""
    return pg.eval_on_selector_all(
        "[data-vc-chart]",
        "els => Object.fromEntries(els.map(el => [el.dataset.vcChartData || el.dataset.vcChart,"
        " !!el.querySelector('canvas, svg')]))",
    )
