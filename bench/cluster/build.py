"""Build the cluster: hosts on a private bridge, PostgreSQL with a replica, Redis, the
schema and the demo markets, the Procfile's processes on their hosts, nginx in front. Every
process is told where the others are as an operator's would be: DATABASE_URL,
DATABASE_ADMIN_URL, DATABASE_REPLICA_URL, REDIS_URL and the secrets, nothing embedded."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

import config
from bench.cluster import servers
from bench.cluster.hosts import Host, Network
from deploy.nginx.certificates import self_signed
from deploy.nginx.render import Edge, write
from deploy.nginx.standalone import NGINX
from tools.supervise import procfile

# (host, last byte of its address): the same on every run, so logs read alike.
HOSTS = (("db", 10), ("replica", 11), ("redis", 12), ("web1", 21), ("web2", 22),
         ("match1", 31), ("match2", 32), ("work", 40), ("edge", 50))
PROCESSES = {"web1": ("web",), "web2": ("web",), "match1": ("matcher",),
             "match2": ("matcher",), "work": ("worker", "scheduler")}
WEB_PORT = 8000
READY_TIMEOUT_SECONDS = 90
# The outside world's settings must not leak in (a test session names its own servers).
_NOT_INHERITED = ("DATABASE_URL", "DATABASE_ADMIN_URL", "DATABASE_REPLICA_URL", "REDIS_URL",
                  "VAR_DIR", "PORT", "SITE_PORT", "EMBEDDED_DATABASE",
                  "EMBEDDED_REDIS_DATABASE", "BIND_HOST", "TRUSTED_PROXIES", "CONCURRENCY")
SECRETS = ("SECRET_KEY", "WALLET_SEED", "BACKUP_KEY", "BACKUP_PASSWORD")


@dataclass
class Cluster:
    var_dir: Path
    network: Network
    env: dict[str, str] = field(default_factory=dict)       # what every process is told
    primary: servers.HostPostgres | None = None
    replica: servers.HostPostgres | None = None
    certificate: Path | None = None

    def host(self, name: str) -> Host:
        return self.network.hosts[name]

    @property
    def public_url(self) -> str:
        return f"https://{self.host('edge').address}"

    def web_urls(self) -> list[str]:
        return [f"http://{self.host(name).address}:{WEB_PORT}" for name in ("web1", "web2")]

    def settings(self) -> config.Settings:
        return config.load(self.env)

    def admin_url(self, host: str = "db") -> str:
        return servers.url("postgres", self.passwords["postgres"], self.host(host))

    passwords: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        """Everything started, stopped; the hosts and the bridge, gone."""
        self.network.close()


def build(var_dir: Path) -> Cluster:
    """The whole cluster, ready for orders; on any failure, torn down before raising."""
    if var_dir.exists():
        shutil.rmtree(var_dir)
    var_dir.mkdir(parents=True)
    cluster = Cluster(var_dir, Network(var_dir / "logs"))
    try:
        for name, number in HOSTS:
            cluster.network.add(name, number)
        _databases(cluster)
        _processes(cluster)
        _edge(cluster)
    except BaseException:
        cluster.close()
        raise
    return cluster


def _databases(cluster: Cluster) -> None:
    cluster.passwords = {name: secrets.token_hex(16)
                         for name in ("postgres", "app", "replication", "redis")}
    db, replica = cluster.host("db"), cluster.host("replica")
    cluster.primary = servers.HostPostgres(cluster.var_dir / "db", db)
    cluster.primary.initialise_primary(cluster.network.subnet)
    cluster.primary.start_on_host()
    app_role = config.APP_ROLE_DEFAULT
    servers.prepare_roles(cluster.primary, app_role, cluster.passwords)
    cluster.replica = servers.HostPostgres(cluster.var_dir / "replica", replica)
    cluster.replica.clone_from(db, cluster.passwords["replication"])
    cluster.replica.start_on_host()
    servers.wait_for_replica(cluster.primary, replica)
    redis_url = servers.start_redis(cluster.host("redis"), cluster.var_dir / "redis-data",
                                    cluster.passwords["redis"])
    app = cluster.passwords["app"]
    cluster.env = {
        **{name: value for name, value in os.environ.items() if name not in _NOT_INHERITED},
        "DATABASE_URL": servers.url(app_role, app, db),
        "DATABASE_ADMIN_URL": servers.url("postgres", cluster.passwords["postgres"], db),
        "DATABASE_REPLICA_URL": servers.url(app_role, app, replica,
                                            application_name="exchange-market-data"),
        "REDIS_URL": redis_url,
        "DEMO_MODE": "true",                   # the demo markets and the simulated chains
        "BACKUP_INTERVAL_SECONDS": "0",
        "LOG_FORMAT": "text",
        **{name: secrets.token_hex(32) for name in SECRETS}}
    # The schema and the demo markets, from the workers' host as an operator would.
    work = cluster.host("work")
    python = str(config.PROJECT_DIR / ".venv" / "bin" / "python")
    work.run([python, "-m", "db.migrate"], _env(cluster, work))
    work.run([python, "-m", "admin.demo"], _env(cluster, work))


def _env(cluster: Cluster, host: Host, **extra: str) -> dict[str, str]:
    return {**cluster.env, "VAR_DIR": str(cluster.var_dir / host.name),
            "BIND_HOST": host.address, **extra}


def _processes(cluster: Cluster) -> None:
    commands = dict(procfile(config.PROJECT_DIR / "Procfile"))
    edge = cluster.host("edge").address
    web = {"PORT": str(WEB_PORT), "TRUSTED_PROXIES": edge,
           "SITE_ORIGIN": cluster.public_url, "API_PUBLIC_URL": cluster.public_url,
           # The load is a few bots from one address: the edge and the application would
           # otherwise count it as one abusive client.
           "RATE_LIMIT_PER_IP": "1000000/minute", "RATE_LIMIT_PER_USER": "1000000/minute"}
    for name, kinds in PROCESSES.items():
        host = cluster.host(name)
        for kind in kinds:
            argv = shlex.split(commands[kind])
            argv[0] = str(config.PROJECT_DIR / argv[0])
            host.start(kind, argv, _env(cluster, host, **(web if kind == "web" else {})))
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    for url in cluster.web_urls():
        while not _ready(url):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} never became ready; see {cluster.var_dir}/logs")
            time.sleep(0.2)


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _edge(cluster: Cluster) -> None:
    edge = cluster.host("edge")
    directory = cluster.var_dir / "edge" / "nginx"
    certificate, key = self_signed(directory / "tls", edge.address)
    cluster.certificate = certificate
    write(Edge(web_servers=tuple(f"{cluster.host(n).address}:{WEB_PORT}"
                                 for n in ("web1", "web2")),
               public_url=cluster.public_url, certificate=str(certificate),
               certificate_key=str(key),
               site_root=str(config.PROJECT_DIR / "site" / "static"),
               runtime_dir=str(directory), server_name=edge.address,
               listen_address=edge.address, edge_rate="100000r/s", edge_burst=100000,
               worker_processes="1"), directory)
    edge.start("nginx", [NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"),
                         "-e", str(directory / "error.log"), "-g", "daemon off;"], env={})
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            if requests.get(cluster.public_url + "/readyz", verify=str(certificate),
                            timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nginx on {edge.name} never answered; see {directory}")
        time.sleep(0.2)
