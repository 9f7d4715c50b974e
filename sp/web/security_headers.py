"""Headers every response carries: no framing, no sniffing, a CSP without inline script."""

from __future__ import annotations

from flask import Flask, Response, current_app


def csp(form_action: str = "'self'") -> str:
    """Our Content-Security-Policy; form_action widens where forms may post (the IdP, for POST binding)."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def csp_for_sign_in_forms() -> str:
    """The CSP of pages whose form leads, through redirects, to a tenant's IdP.

    Browsers apply form-action to every redirect after a form submission, and which IdP the
    redirect ends at is only known after the form is posted: allow any https origin (and http
    when the SP itself runs on http, as in development).
    """
    schemes = "https:" if current_app.config["SP_BASE_URL"].startswith("https://") else "https: http:"
    return csp(f"'self' {schemes}")


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
