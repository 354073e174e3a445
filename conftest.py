"""Root conftest: registers the suite's pytest plugin (options, settings, fixtures, ledger and report)."""

pytest_plugins = ["fixtures.plugin"]
pytest_plugins.append("fixtures.report_plugin")   # pytest-html's results page, linked from the claims report
