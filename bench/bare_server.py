"""A bare Bottle endpoint on gevent's WSGI server with TCP_NODELAY: the stack's floor."""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

import bottle  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402

from api.server import Handler  # noqa: E402

app = bottle.Bottle()


@app.get("/bare")
def bare() -> str:
    bottle.response.content_type = "application/json"
    return '{"items":[]}'


if __name__ == "__main__":
    WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=Handler,
               log=None).serve_forever()
