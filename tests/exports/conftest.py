"""The export tests use the same customers as the merge tests: one row in every related table."""

from tests.duplicates.conftest import fill_customer, make_customer, score_run  # noqa: F401
