"""Driving Streamlit pages in the browser: open and wait, read tables, edit a data editor cell."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import Locator, Page, expect

RENDER_TIMEOUT_MS = 30_000


def open_page(page: Page, path: str, title: str) -> float:
    """Go to `path`, wait until its title shows and the script has finished; the seconds it took."""
    started = time.monotonic()
    page.goto(path)
    expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    wait_idle(page)
    return time.monotonic() - started


_SCRIPT_STATE = "document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state')"


def wait_idle(page: Page, *, settle_ms: int = 300) -> None:
    """Until the page's script run has finished and no new one started for `settle_ms`.

    Streamlit marks its app `data-test-script-state` initial, running, then notRunning; a rerun a
    click asked for starts a few milliseconds after the click, which the settling time covers.
    """
    deadline = time.monotonic() + RENDER_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        page.wait_for_function(f"() => {_SCRIPT_STATE} === 'notRunning'", timeout=RENDER_TIMEOUT_MS)
        page.wait_for_timeout(settle_ms)
        if page.evaluate(f"() => {_SCRIPT_STATE}") == "notRunning":
            return
    raise AssertionError("the page kept running its script")


def table_rows(table: Locator) -> list[dict[str, str]]:
    """An st.table as a list of {header: cell text}."""
    headers = [cell.inner_text().strip() for cell in table.locator("thead th").all()]
    rows = []
    for row in table.locator("tbody tr").all():
        cells = [cell.inner_text().strip() for cell in row.locator("th, td").all()]
        rows.append(dict(zip(headers[-len(cells) :], cells, strict=False)))
    return rows


def edit_grid_cell(page: Page, grid: Locator, *, row: int, column: int, text: str) -> None:
    """Type `text` into a data editor cell (a canvas grid): select row 0 col 0, move, type, Enter."""
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None, "the data editor is not on the page"
    header_height, row_height = 35, 35
    page.mouse.click(box["x"] + 20, box["y"] + header_height + row_height * row + row_height / 2)
    for _ in range(column):
        page.keyboard.press("ArrowRight")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def page_text(page: Page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def no_traceback(page: Page) -> None:
    """A page shows sentences, never a Python traceback or Streamlit's exception box."""
    text = page_text(page)
    assert "Traceback" not in text, text[:2000]
    assert page.locator('[data-testid="stException"]').count() == 0


def first(items: list[Any]) -> Any:
    assert items, "nothing found"
    return items[0]


def choose(page: Page, label: str, option: str, *, scope: Locator | None = None) -> None:
    """Pick `option` in the st.selectbox labelled `label`."""
    where = scope or page
    where.get_by_role("combobox", name=label).click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
