"""The exchange across hosts, on one machine: network namespaces on a private bridge
(``python -m bench.cluster``, root only)."""
