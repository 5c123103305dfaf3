"""Driving Streamlit pages in the browser: open and wait, read tables, edit a data editor cell."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

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


def edit_last_column(page: Page, grid: Locator, *, row: int, text: str) -> None:
    """Replace a data editor cell's value in its last column (the grid is a canvas, so by position
    and keyboard): a click takes the focus, a double click opens the cell's editor; select all,
    insert the text (typed keys race the editor's first render and get lost), Enter commits."""
    page.wait_for_function("() => [...document.images].every(image => image.complete)")  # no layout shift
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(200)
    box = grid.bounding_box()
    assert box is not None, "the data editor is not on the page"
    header_height, row_height = 35, 35
    x, y = box["x"] + box["width"] - 30, box["y"] + header_height + row_height * row + row_height / 2
    page.mouse.click(x, y)  # takes the focus (from a text area, say) and selects the cell
    page.wait_for_timeout(300)
    page.mouse.dblclick(x, y)
    page.wait_for_function("() => document.activeElement?.classList.contains('gdg-input')", timeout=10_000)
    page.wait_for_timeout(300)  # the editor fills in the cell's value just after it takes the focus
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)
    page.wait_for_timeout(100)
    for _ in range(3):  # Enter commits and closes the editor; one pressed too early is ignored
        page.keyboard.press("Enter")
        try:
            page.wait_for_function("() => !document.querySelector('.gdg-input')", timeout=2_000)
            page.wait_for_timeout(500)  # the grid hands its edit to the widget state a moment later
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError("the data editor's cell editor did not close")


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
    """Pick `option` in the st.selectbox labelled `label`: type to filter the list (a long one
    renders only what fits, a low one opens off screen), then Enter on it."""
    box = (scope or page).get_by_role("combobox", name=label)
    wait_idle(page)
    if box.input_value() == option:
        return
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):  # a rerun that lands meanwhile re-mounts the box and closes its list
        wait_idle(page)
        box.click()
        box.fill(option)
        try:
            expect(wanted).to_have_count(1, timeout=3_000)
            break
        except AssertionError:
            page.keyboard.press("Escape")
    listed = [text.strip() for text in page.get_by_role("option").all_inner_texts()]
    for _ in range(listed.index(option)):  # typing focuses the first match; Enter picks the focused one
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(box).to_have_value(option)
    wait_idle(page)


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def upload(page: Page, path: Any, *, uploader: Locator | None = None) -> None:
    """Choose a file in an st.file_uploader and wait until Streamlit has it (its name shows)."""
    target = uploader or page.locator('[data-testid="stFileUploader"]').first
    target.locator('input[type="file"]').set_input_files(str(path))
    expect(target.get_by_text(Path(str(path)).name)).to_be_visible(timeout=60_000)
    wait_idle(page)
