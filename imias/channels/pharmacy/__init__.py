"""The pharmacy's counter ``/pharmacy``: the pharmacist signs in, scans the holder's QR
code (the camera, where the browser has a barcode detector) or types it, or types the
number with the holder's birth date, or (a subsidised pharmacy) searches by the policy
number; sees what is prescribed, what is left of the period due and whether the
doctor's signature holds; and dispenses all or part of it."""

from imias.channels.pharmacy.pages import PharmacyController

__all__ = ["PharmacyController"]
