"""Headers every response carries: no framing, no sniffing, a CSP without inline script."""

from __future__ import annotations

from flask import Flask, Response



def csp(form_action: str = "'self'") -> str:
    """Our Content-Security-Policy; form_action widens where forms may post (the IdP, for POST binding)."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )



def init_app(app: Flask) -> None:
    https = app.config["SP_BASE_URL"].startswith("https://")

    @app.after_request
    def add_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", csp())
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
