"""The parts of IMIAS in dependency order, and the schema they make together.

Each part is one plugin (:class:`~imias.platform.plugin.DomainPlugin`); ``create_app``
assembles them in this order and ``imias`` adds their commands. Each domain owns its
SQL in its own ``migrations/`` folder; the migrator applies them in this order, so a
domain's migrations may refer to the tables of the domains before it, never after. A
new domain adds its plugin here.
"""

from __future__ import annotations

from ehr import EhrPlugin
from imias.booking.plugin import BookingPlugin
from imias.channels.plugin import ChannelsPlugin
from imias.identity.plugin import IdentityPlugin
from imias.platform import migrator
from imias.platform.db import Connection
from imias.platform.migrator import Migration, SingleSequence
from imias.platform.plugin import DomainPlugin, PlatformPlugin
from imias.registry.plugin import RegistryPlugin
from insights import InsightsPlugin
from integrations import IntegrationsPlugin
from prescriptions import PrescriptionsPlugin

#: Every part, in dependency order (the channels last: they use the domains).
PLUGINS: tuple[type[DomainPlugin], ...] = (
    PlatformPlugin,
    RegistryPlugin,
    IdentityPlugin,
    BookingPlugin,
    EhrPlugin,
    PrescriptionsPlugin,
    IntegrationsPlugin,
    InsightsPlugin,
    ChannelsPlugin,
)

#: (domain, package of its migrations), in dependency order.
MIGRATION_FOLDERS: tuple[tuple[str, str], ...] = tuple(
    (plugin.name, plugin.migrations) for plugin in PLUGINS if plugin.migrations
)

#: The single sequence of migrations that databases made before the per-domain folders
#: (up to 2026-12-04) recorded: each number's checksum as applied, and the files it became.
SINGLE_SEQUENCE = SingleSequence(
    {
        1: (
            "de8516100a2a3fe0eb5e20124acbba9a19a99b6bebba2108985b03c2b44444c7",
            (("platform", 1),),
        ),
        2: (
            "22972e4d9332b4812d23255225e525283cf2c022d37fc4370b1cbf79c758974f",
            (("registry", 1), ("booking", 1)),
        ),
        3: (
            "5b74c672d6c972725306d262afbcd1d5d5299add15692eccddecf572f291d00d",
            (("booking", 2),),
        ),
        4: (
            "5f58230b325a31cf8936250c84d27598f76e0287612a759a0bb0189629c312a8",
            (("booking", 3),),
        ),
        5: (
            "c3f95ac3e16146e056a5e2a8e57e4590f02a9ded90147b0dc8da0fad8c5aea5d",
            (("identity", 1),),
        ),
        6: (
            "ac8199b5c82233886302cbdc577491753e28aaed924a5d365ea2ebcc56f47e60",
            (("platform", 2),),
        ),
        7: (
            "3f7b6a00c4d0a2a5904790af39b2605072324e74c80854e1a91c851e7aa579b4",
            (("booking", 4),),
        ),
        8: (
            "a64a16c97132b29dba26e191dbcfdb1f4eb7ca88ff03d2c1686fb69f96935ea9",
            (("platform", 3),),
        ),
        9: (
            "d8a6a449c0edd532d8d6fb61a91c8db3d52df37c7cb33100bdeaa7eef75c55b9",
            (("registry", 2),),
        ),
        10: (
            "f29ea446b1e5a8029cc9558b345835ed24474de7494c65ba01c9cdff4301e39d",
            (("booking", 5),),
        ),
        11: (
            "c09e18b908532b7f7999163419126ce0cf75941a6dee17ab596ee1962f2db4c5",
            (("booking", 6),),
        ),
        12: (
            "6ba1344a8792707f9ab478fc46bd05d23cd1cd59e898c6171db68ff483d1853f",
            (("platform", 4),),
        ),
    }
)


def migrations() -> list[Migration]:
    """Every domain's migrations, in the order they are applied."""
    return [m for domain, package in MIGRATION_FOLDERS for m in migrator.discover(package, domain)]


async def migrate(conn: Connection) -> list[str]:
    """Apply every domain's missing migrations (a database of the single sequence is
    moved forward first); the labels applied."""
    return await migrator.migrate(conn, migrations(), SINGLE_SEQUENCE)


async def migrate_url(url: str) -> list[str]:
    return await migrator.migrate_url(url, migrations(), SINGLE_SEQUENCE)
