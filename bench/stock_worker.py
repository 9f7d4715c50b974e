"""The stock side of bench_acs.py: python3-saml exactly as installed, in a process that never imports sp.

Reads {"settings": ..., "messages": [...]} as JSON on stdin, runs OneLogin_Saml2_Auth(...).process_response()
on every message as python3-saml's README shows it, and prints the rate as JSON on stdout.
"""

from __future__ import annotations

import json
import sys
import time

from onelogin.saml2.auth import OneLogin_Saml2_Auth


def main() -> None:
    job = json.load(sys.stdin)
    assert not any(name == "sp" or name.startswith("sp.") for name in sys.modules), "stock must run without our code"
    settings, messages = job["settings"], job["messages"]
    start = time.perf_counter()
    for message in messages:
        request = {
            "https": "on",
            "http_host": job["http_host"],
            "script_name": job["script_name"],
            "get_data": {},
            "post_data": {"SAMLResponse": message},
        }
        auth = OneLogin_Saml2_Auth(request, settings)
        auth.process_response()
        if not auth.is_authenticated():
            raise SystemExit(f"stock python3-saml refused a benchmark response: {auth.get_last_error_reason()}")
    elapsed = time.perf_counter() - start
    json.dump({"per_second": len(messages) / elapsed, "seconds": elapsed}, sys.stdout)


if __name__ == "__main__":
    main()
