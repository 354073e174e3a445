"""Root conftest: registers the suite's pytest plugin (options, settings, fixtures, ledger)."""

pytest_plugins = ["fixtures.plugin"]
pytest_plugins.append("fixtures.report_plugin")   # the HTML report: claims table, plots, environment
