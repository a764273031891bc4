"""Headless Chromium (Debian's chromium and chromium-driver packages) driven by Selenium, for the tests that
look at the MLflow UI as a user's browser renders it. No network: Chromium's background services are off
(its connections would be refused on a closed network), and every run gets a fresh profile, so that the
page is what a first visit shows."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CHROMIUM", "CHROMEDRIVER", "RUN_NAME", "browser_problem", "Browser", "GridCell"]

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
RUN_NAME = "attributes.`Run Name`"  # the run-name column's id in MLflow's runs table
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync")

# Every cell of MLflow's runs table (ag-grid) by row: ag-grid draws the pinned columns (run name, created) and
# the scrolling ones in separate containers, so a row's cells are gathered by the rows' shared row-index.
_GRID_JS = """
const rows = {};
for (const part of document.querySelectorAll('.ag-row')) {
  const index = part.getAttribute('row-index');
  for (const cell of part.querySelectorAll('.ag-cell')) {
    const r = cell.getBoundingClientRect();
    const visible = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
                    && r.right <= window.innerWidth && r.bottom <= window.innerHeight;
    (rows[index] = rows[index] || {})[cell.getAttribute('col-id')] = [cell.innerText.trim(), visible];
  }
}
return Object.values(rows);
"""


@dataclass(frozen=True)
class GridCell:
    text: str
    visible: bool  # wholly inside the browser window, not scrolled away


def browser_problem() -> str | None:
    """Why no browser test can run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing (apt-get install {package}; .ci/run installs it)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


class Browser:
    """``with Browser(1600, 1000) as b: b.open(url); b.grid()``; the profile folder is removed afterwards."""

    def __init__(self, width: int, height: int):
        self.size = (width, height)

    def __enter__(self) -> "Browser":
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="snn-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*_FLAGS, f"--user-data-dir={self.profile}", f"--window-size={self.size[0]},{self.size[1]}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        return self

    def __exit__(self, *exc) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def grid(self) -> list[dict[str, GridCell]]:
        """The runs table's rows as rendered: column id -> cell."""
        rows = [{column: GridCell(*cell) for column, cell in row.items()} for row in self.driver.execute_script(_GRID_JS)]
        for row in rows:  # the run-name cell also holds the run's colour ("#8ddda8") on a line before the name
            if RUN_NAME in row:
                row[RUN_NAME] = GridCell(row[RUN_NAME].text.splitlines()[-1] if row[RUN_NAME].text else "", row[RUN_NAME].visible)
        return rows

    def wait_for_grid(self, names: set[str], timeout: float = 60.0) -> list[dict[str, GridCell]]:
        """The grid once every run in ``names`` has a row (MLflow loads the runs after the page)."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        def loaded(_):
            rows = self.grid()
            return rows if names <= {row.get(RUN_NAME, GridCell("", False)).text for row in rows} else False

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(loaded)
        except TimeoutException:
            shown = sorted(row.get(RUN_NAME, GridCell("", False)).text for row in self.grid())
            raise AssertionError(f"after {timeout:.0f} s the runs table shows {shown}, not all of {sorted(names)}; "
                                 f"the page reads: {self.text()[:2000]!r}") from None

    def text(self) -> str:
        return self.driver.find_element("tag name", "body").text

    def screenshot(self, path: Path) -> Path:
        self.driver.save_screenshot(str(path))
        return path
