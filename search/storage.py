"""Optuna storage from the URL in a study's manifest.

``sqlite:///path`` (one machine), ``postgresql://user@host:port/db`` (a cluster: every node's trials and the
driver share the database), or ``journal:///path/to/file`` for Optuna's journal file on a shared file system
(NFS, a cluster's shared volume: no database server needed).
"""

from __future__ import annotations

from snn.errors import UserError

__all__ = ["make_storage", "database_url", "JOURNAL_SCHEME", "is_sqlite"]

JOURNAL_SCHEME = "journal://"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def database_url(url: str) -> str:
    """SQLAlchemy 2.1 reads ``postgresql://`` as psycopg 3, which is not installed; the pinned driver is
    psycopg2, so a plain PostgreSQL URL is given that driver explicitly."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def make_storage(url: str):
    """The Optuna storage at ``url``; one that cannot be opened (a malformed URL, a database server that
    does not answer, a missing folder, an uninstalled driver) is a ``UserError`` naming the URL and the fix."""
    import optuna
    from sqlalchemy.exc import ArgumentError, OperationalError

    try:
        if url.startswith(JOURNAL_SCHEME):
            from optuna.storages.journal import JournalFileBackend

            return optuna.storages.JournalStorage(JournalFileBackend(url[len(JOURNAL_SCHEME):]))
        # pool_pre_ping: a database connection that a server restart or an idle timeout dropped is replaced
        # instead of failing the next tell.
        return optuna.storages.RDBStorage(database_url(url), engine_kwargs=None if is_sqlite(url) else {"pool_pre_ping": True})
    except (ArgumentError, OperationalError, ImportError, OSError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise UserError(f"the Optuna storage {url!r} cannot be opened ({reason}); fix [search.storage] optuna: "
                        f"sqlite:///FILE, postgresql://USER@HOST:PORT/DB with its server running, or "
                        f"journal:///FILE in an existing folder") from error
