"""The patient and staff channels on the booking API: the phone IVR (``phone``)."""
