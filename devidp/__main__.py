"""Run the development IdP: ``python -m devidp`` (listens on 127.0.0.1 only)."""

from __future__ import annotations

import logging
import os

from . import create_app

HOST = "127.0.0.1"


def main() -> None:
    """Start the IdP on ``127.0.0.1:$DEVIDP_PORT`` (default 5001) with Werkzeug's server."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = int(os.environ.get("DEVIDP_PORT", "5001"))
    # Unless told otherwise, advertise the URL we actually listen on.
    overrides = None if os.environ.get("DEVIDP_BASE_URL") else {"BASE_URL": f"http://{HOST}:{port}"}
    create_app(overrides).run(host=HOST, port=port, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
