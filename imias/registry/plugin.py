"""The registry as the app assembles it: its tables (the master data) and nothing that
runs beside requests; the directory is loaded by the domains that keep it in memory."""

from __future__ import annotations

from imias.platform.plugin import DomainPlugin


class RegistryPlugin(DomainPlugin):
    name = "registry"
    migrations = "imias.registry.migrations"
