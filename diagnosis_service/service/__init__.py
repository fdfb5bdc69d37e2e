"""The HTTP service: a Flask application factory (as flaskr), one blueprint per area.

    create_app()                 settings from the environment (config.Settings)
    create_app({"SETTINGS": Settings(...), "DATABASE_URL": ..., "AUTO_UPGRADE": True, ...})   tests and tools

Views hold no logic of their own: they read the request, check the caller's role and scope, call
the pipeline with the request's ``Snapshot`` and answer.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from werkzeug.routing import IntegerConverter

from ..config import Settings
from ..store.migrate import upgrade
from . import auth, db, logs, problems, request_args, runtime


class AsciiIntegerConverter(IntegerConverter):
    regex = r"[0-9]+"


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__)
    # Before any route is added: ids in paths are ASCII digits (Python's \d also matches ١ and １, which
    # named version 1), and a doubled slash is a 404 in the API's words, not a redirect built from the
    # request's Host header.
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.url_map.merge_slashes = False
    settings: Settings = (test_config or {}).get("SETTINGS") or Settings.from_env()
    app.config.from_mapping(
        DATABASE_URL=settings.db_url(),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        AUTO_UPGRADE=False,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax: a secretary who follows the platform's link arrives signed in; another site still cannot
        # post with the cookie (and every form checks its CSRF token besides).
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
        SESSION_IDLE_SECONDS=settings.session_idle_minutes * 60,
        LOGIN_TICKET_SECONDS=300,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k != "SETTINGS"})
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = settings.secret()
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    logs.configure(settings.log_level)

    rt = runtime.init_app(app, settings)
    if app.config["AUTO_UPGRADE"]:
        upgrade(rt.engine)
    rt.start()

    logs.register(app)
    app.before_request(db.fail_fast)
    app.before_request(auth.load_identity)
    app.before_request(request_args.check_request_text)
    app.teardown_appcontext(db.close_db)
    problems.register(app)

    from . import (
        api_catalog,
        api_data,
        api_diagnoses,
        api_logins,
        api_model,
        api_overview,
        api_points,
        api_prescriptions,
        api_reference,
        api_rules,
        api_webhooks,
        health,
        openapi,
        page_catalog,  # noqa: F401 -- its views register on pages.bp
        page_model,  # noqa: F401 -- its views register on pages.bp
        page_overview,  # noqa: F401 -- its views register on pages.bp
        pages,
    )

    for module in (health, api_reference, api_catalog, api_data, api_diagnoses, api_points, api_prescriptions, api_rules,
                   api_logins, api_model, api_overview,
                   api_webhooks, openapi, pages):
        app.register_blueprint(module.bp)
    return app
