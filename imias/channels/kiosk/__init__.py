"""The clinic kiosk ``/kiosk``: sign in on an on-screen keypad, book, today's
appointments, check in on arrival, a printable ticket; forgets the patient after a
minute without a touch (``IMIAS_KIOSK_IDLE_SECONDS``)."""

from imias.channels.kiosk.pages import KioskController

__all__ = ["KioskController"]
