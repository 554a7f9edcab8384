"""`GET /admin`: the operators' dashboard (API guide §8), a page of charts over the admin API.

The page is a shell with no data in it, so it is public: its script (`api/static/admin/`) asks
for the operator's JWT, keeps it in sessionStorage (never in a URL) and calls `/api/admin/*` with
`Authorization: Bearer`, where `require_admin` decides. Chart.js is vendored under
`api/static/chartjs/` (`scripts/vendor-chartjs.sh`): like `/docs`, the page loads nothing from
another origin and runs no inline script, and its Content-Security-Policy says so.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from api.documented import HTML_PAGE, Reply, documented

dashboard = Blueprint("dashboard", __name__)

# Same origin only; unlike /docs no inline styles either (Chart.js sizes its canvases through
# the DOM, which a CSP does not restrict). No form posts anywhere: the script sends the requests.
DASHBOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                 "frame-ancestors 'none'")


@dashboard.get("/admin")
@documented(operation_id="adminDashboard", summary="The operators' dashboard (charts, refunds)",
            tag="admin", auth="public",
            responses={200: Reply("an HTML page with no data in it; its script signs in with "
                                  "an admin JWT and reads /api/admin/*", content=HTML_PAGE)})
def page() -> Response:
    return Response(render_template("admin.html"), mimetype="text/html", headers={
        "Content-Security-Policy": DASHBOARD_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    })
