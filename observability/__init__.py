"""What operators watch: Prometheus metrics (``metrics``) and JSON logs (``logs``)."""
