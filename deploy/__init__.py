"""What an operator runs the exchange with in production: nginx in front (``deploy.nginx``),
PostgreSQL and Redis settings, systemd units and Prometheus alert rules."""
