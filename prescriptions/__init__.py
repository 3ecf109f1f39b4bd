"""E-prescriptions: drug catalogue, prescribing, signing, dispensing.
Arrives with its own issue."""

__all__: list[str] = []
