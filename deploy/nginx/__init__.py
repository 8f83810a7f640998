"""nginx in front of the exchange: templates, their renderer, a self-signed pair for tests."""
