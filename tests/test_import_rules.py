"""The layout's import rules, checked two ways: what importing a package really loads
(in a fresh interpreter), and every import statement written (ast, lazy ones too).

Imports point one way: api/, workers/ and scheduler/ use trading/, matcher/, the ledger
and currencies/, never the reverse; the matcher's core and money load no database,
queue or Redis module, so that they can be tested, benchmarked and replayed alone.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("admin", "api", "backups", "currencies", "custody", "db", "demo_maker", "deploy",
            "embedded", "events", "ledger", "matcher", "observability", "scheduler", "tools",
            "trading", "users", "workers")
MODULES = ("config", "money")
IO_MODULES = ("sqlalchemy", "psycopg2", "psycogreen", "redis", "dramatiq", "gevent", "bottle",
              "alembic")
# (the importing package or module, what it must never import, why)
RULES: tuple[tuple[str, frozenset[str], str], ...] = (
    ("matcher", frozenset(IO_MODULES + ("db", "ledger", "trading", "events", "api", "workers",
                                        "scheduler", "custody", "users", "config", "observability")),
     "the matching core is pure"),
    ("money", frozenset(IO_MODULES + PACKAGES + ("config",)), "money is arithmetic only"),
    ("api", frozenset({"workers"}), "api/ reaches the workers through events/"),
    ("ledger", frozenset({"api", "workers", "scheduler"}), "imports point one way"),
    ("db", frozenset({"api", "workers", "scheduler", "admin", "users", "ledger", "currencies",
                      "custody", "matcher", "trading", "events"}),
     "db/ is the bottom layer (config apart)"),
    ("matcher", frozenset({"api", "workers", "scheduler"}), "imports point one way"),
    ("currencies", frozenset({"api", "workers", "scheduler"}), "imports point one way"),
    ("trading", frozenset({"api", "workers", "scheduler"}), "imports point one way"),
    ("config", frozenset({"embedded"}), "config builds the embedded servers' URLs itself"),
    ("demo_maker", frozenset(IO_MODULES + tuple(p for p in PACKAGES
                                                 if p not in ("demo_maker", "observability"))),
     "the demo maker is a client of the API, as any bot (it logs as the others do)"),
) + tuple((name, frozenset({"bench", "tests"}), "what ships never imports its harness")
          for name in PACKAGES + MODULES)


def _sources(name: str) -> list[Path]:
    path = ROOT / name
    if path.is_dir():
        return sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return [ROOT / f"{name}.py"] if (ROOT / f"{name}.py").exists() else []


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import statement in ``path``, nested ones too."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:   # relative: resolved against the file's package
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def _offences() -> list[str]:
    offences = []
    for source_name, forbidden, why in RULES:
        for path in _sources(source_name):
            for line, module in _imported(path):
                if module.split(".")[0] in forbidden:
                    offences.append(f"{path.relative_to(ROOT)}:{line} imports {module} ({why})")
    return offences


def test_no_package_imports_against_the_direction_of_the_layout():
    assert _offences() == []


def _loaded_by(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a fresh interpreter holds after running ``code`` in the project."""
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-B", "-c", script], cwd=ROOT, text=True,
                            capture_output=True, timeout=120,
                            env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def _top_levels(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_importing_every_module_of_the_matcher_and_money_loads_no_database_queue_or_redis():
    modules = ["money"] + [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in _sources("matcher")]
    loaded = _top_levels(_loaded_by("\n".join(f"import {name}" for name in modules)))
    assert loaded & set(IO_MODULES + ("db", "ledger", "trading", "events", "workers")) == set()


def test_importing_the_api_loads_no_worker_module():
    loaded = _loaded_by("import api.app, api.server")
    assert sorted(name for name in loaded if name.split(".")[0] == "workers") == []


@pytest.mark.parametrize("unset", [True, False], ids=["embedded", "external"])
def test_loading_the_settings_imports_nothing_of_embedded(tmp_path, unset):
    urls = {} if unset else {"DATABASE_URL": "postgresql://u@/d?host=/nowhere",
                             "REDIS_URL": "unix:///nowhere/redis.sock?db=0"}
    code = ("import os, config\n"
            "for name in ('DATABASE_URL', 'REDIS_URL'):\n"
            f"    os.environ.pop(name, None) if {unset} else None\n"
            "config.load()")
    loaded = _loaded_by(code, {"VAR_DIR": str(tmp_path), "SECRET_KEY": "ab" * 32, **urls})
    assert "embedded" not in _top_levels(loaded)
