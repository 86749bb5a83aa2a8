"""The web application: each agency's inbox, the coordinator's picture, review, audit, admin, and a JSON API.

FastAPI + Jinja2 + HTMX, rendered on the server, every asset vendored. `create_app(settings)` builds it,
`serve(settings, host, port)` runs it; `demo_users(session)` makes the demo's users. See README.md here."""

from threadline.web.app import create_app, serve
from threadline.web.config import WebSettings
from threadline.web.demo import DemoUser, demo_users

__all__ = ["DemoUser", "WebSettings", "create_app", "demo_users", "serve"]
