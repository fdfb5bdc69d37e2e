"""Remedy-catalog versions: every published set of catalog files (``store.versions``, table
``catalog_versions``); the deployed ``resources_catalog/`` is stored as version 1."""

from __future__ import annotations

from .schema import catalog_versions
from .versions import VersionTable

CATALOGS = VersionTable(catalog_versions, "catalog", "GET /v1/catalog")

__all__ = ["CATALOGS"]
