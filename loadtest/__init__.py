"""Load tests with locust: the user classes of every channel (:mod:`.locustfile`), the
profiles (:mod:`.profiles`), the cast of patients and staff with their tokens
(:mod:`.cast`), the end-of-run audit of the database (:mod:`.audit`) and the run that
ties them together into a report folder (:mod:`.run`, ``imias loadtest PROFILE``)."""

__all__: list[str] = []
