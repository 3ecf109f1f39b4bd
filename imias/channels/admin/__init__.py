"""The administrator's pages ``/admin``: the integrations' partners and their
deliveries (``/admin/integrations``): what was delivered, what waits and since when,
what is dead, which partner fails and why; the dead sent again; a partner's newest
messages without their bodies."""

from imias.channels.admin.pages import AdminController

__all__ = ["AdminController"]
