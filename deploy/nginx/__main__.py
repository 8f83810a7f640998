"""``python -m deploy.nginx render --out DIR --web HOST:PORT ... --public-url URL ...`` and
``python -m deploy.nginx self-signed --out DIR --name HOST``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import config
from deploy.nginx.certificates import self_signed
from deploy.nginx.render import Edge, RenderError, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.nginx")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write exchange.conf and nginx.conf")
    render.add_argument("--out", type=Path, required=True)
    render.add_argument("--web", action="append", required=True, metavar="HOST:PORT")
    render.add_argument("--public-url", required=True, help="https://exchange.example")
    render.add_argument("--certificate", required=True)
    render.add_argument("--certificate-key", required=True)
    render.add_argument("--site-root", default=str(config.PROJECT_DIR / "site" / "static"))
    render.add_argument("--runtime-dir", help="for nginx.conf; default: --out")
    for option in dataclasses.fields(Edge):
        if option.name not in {"web_servers", "public_url", "certificate", "certificate_key",
                               "site_root", "runtime_dir"}:
            render.add_argument("--" + option.name.replace("_", "-"),
                                type=type(option.default), default=option.default)
    pair = commands.add_parser("self-signed", help="a certificate and key for trying it out")
    pair.add_argument("--out", type=Path, required=True)
    pair.add_argument("--name", default="localhost")
    options = parser.parse_args(argv)
    if options.command == "self-signed":
        for path in self_signed(options.out, options.name):
            print(path)
        return 0
    chosen = {name: value for name, value in vars(options).items()
              if name in {f.name for f in dataclasses.fields(Edge)}}
    chosen["runtime_dir"] = str((options.runtime_dir and Path(options.runtime_dir)
                                 or options.out).resolve())
    try:
        for path in write(Edge(web_servers=tuple(options.web), **chosen), options.out):
            print(path)
    except RenderError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
