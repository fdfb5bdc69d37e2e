"""Database failures as the operator should read them: one line saying what is wrong and what fixes it."""

from __future__ import annotations

from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..errors import Conflict, DatabaseDown, DiagnosisError, Problem, StoreError

UPGRADE = "run `diagnosis-service db upgrade`"


def describe(exc: BaseException, url: str = "", strict: bool = False) -> DiagnosisError | None:
    """A StoreError (or a Conflict, for a write that lost a race) for a failure of the database or its
    driver (``url`` shown without its password). ``strict``: None for a failure that is not the
    database's (a bug: the caller reports it as one) instead of a generic StoreError."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    lowered = text.lower()
    where = f" ({url})" if url else ""
    if isinstance(exc, IntegrityError):
        return Conflict(Problem("a concurrent request changed the same data first", suggestion="send it again"))
    if isinstance(exc, PoolTimeout):
        return StoreError(Problem(f"the database{where} is busy: no connection was free in time",
                                  suggestion="try again in a moment"))
    if isinstance(exc, ArgumentError) and "url" in lowered:
        return StoreError(Problem("DATABASE_URL is not a database URL",
                                  suggestion="e.g. sqlite:///var/diagnosis.db or postgresql+psycopg2://USER@HOST:5432/DB"))
    if isinstance(exc, NoSuchModuleError) or "can't load plugin" in lowered:
        return StoreError(Problem(f"DATABASE_URL{where} names a database driver that is not installed",
                                  suggestion="use sqlite:///PATH or postgresql+psycopg2://USER@HOST:PORT/DB"))
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return StoreError(Problem(f"the database{where} has no schema", suggestion=UPGRADE))
    if "database" in lowered and "does not exist" in lowered:
        return StoreError(Problem(f"the database named in DATABASE_URL{where} does not exist",
                                  suggestion="create it (e.g. createdb NAME), or fix DATABASE_URL"))
    if any(k in lowered for k in ("could not connect", "connection refused", "unable to open database",
                                  "timeout expired", "could not translate host", "not currently accepting connections",
                                  "the database system is")):
        return DatabaseDown(Problem(f"cannot reach the database{where}: {text[:200]}",
                                    suggestion="check that it runs and that DATABASE_URL is right"))
    if isinstance(exc, DBAPIError) and exc.connection_invalidated or any(
            k in lowered for k in ("server closed the connection", "terminating connection", "connection already closed")):
        # It answered before: a restart, a failover or an administrator ended the connection under the call.
        return DatabaseDown(Problem(f"the database{where} closed the connection: {text[:200]}",
                                    suggestion="try again in a moment (it was restarted or stopped); if it goes on, "
                                               "check that it runs"))
    if "canceling statement due to statement timeout" in lowered or "database is locked" in lowered:
        return StoreError(Problem(f"the database{where} is too slow to answer: {text[:200]}",
                                  suggestion="try again in a moment"))
    if "did not answer within" in lowered or "could not receive data" in lowered or "terminating connection" in lowered:
        return DatabaseDown(Problem(f"the database{where} did not answer in time", suggestion="try again in a moment"))
    if strict and not (isinstance(exc, DBAPIError) and exc.__class__.__name__ in ("OperationalError", "InterfaceError")):
        return None
    return StoreError(Problem(f"the database{where} failed: {exc.__class__.__name__}: {text[:200]}"))


__all__ = ["SQLAlchemyError", "describe"]
