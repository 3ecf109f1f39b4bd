"""The phone channel: an IVR webhook in TwiML vocabulary (``/phone``) and ``imias phone``,
a terminal simulator of a call. See :mod:`.flow` for the menus and :mod:`.api` for how
a gateway is trusted."""

from imias.channels.phone.api import PhoneController

__all__ = ["PhoneController"]
