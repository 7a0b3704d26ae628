"""The migrations build the schema from empty on PostgreSQL and SQLite, and match the models."""
import uuid

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from pixstock import create_app
from pixstock.extensions import db

from .conftest import BASE_PG


def _fresh_pg_url():
    name = f"pixstock_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(BASE_PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, BASE_PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name


def _drop(name):
    with psycopg.connect(BASE_PG, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_upgrade_from_empty_matches_models_and_downgrades(backend, tmp_path):
    name = None
    if backend == "postgresql":
        name, url = _fresh_pg_url()
    else:
        url = f"sqlite:///{tmp_path / 'mig.db'}"
    try:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "DATA_DIR": str(tmp_path)})
        with app.app_context():
            upgrade()
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                diff = compare_metadata(context, db.metadata)
            assert diff == [], f"models and migrations differ: {diff}"
            downgrade(revision="base")
            upgrade()
            db.engine.dispose()
    finally:
        if name:
            _drop(name)
