"""The exchange across hosts, on one machine: network namespaces on a private bridge
(``python -m deploy.cluster``, root only)."""
