"""The API fixtures (a web process, users) serve the operators' tool tests too."""

from tests.api.conftest import alice, api_url, bob, fresh_rate_limits  # noqa: F401
