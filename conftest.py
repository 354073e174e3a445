"""Root conftest: the suite's pytest plugin (options, settings, fixtures, ledger and report) and
pytest-html's results page, linked from the claims report. Where bnclaims is installed (`pip install -e
.`) its entry points have registered both already, under these names, and pytest loads them once."""

pytest_plugins = ["bnclaims.pytest_plugin", "bnclaims.pytest_html_page"]
