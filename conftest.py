"""Root conftest: registers the suite's pytest plugin (options, settings, fixtures, ledger)."""

pytest_plugins = ["fixtures.plugin"]
