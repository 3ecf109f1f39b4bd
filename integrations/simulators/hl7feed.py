"""``imias simulate hl7``: the MLLP receiver whose page shows SIU and ADT messages as a
person reads them (trigger, appointment, time, status, patient) instead of raw ER7."""

from __future__ import annotations

from integrations import hl7
from integrations.simulators.base import MllpReceiver, Received


class Hl7FeedReceiver(MllpReceiver):
    title = "IMIAS HL7 v2 receiver (SIU, ADT)"

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, control_port: int | None = None,
        journal: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(host=host, port=port, control_port=control_port, journal=journal)
        if self.web is not None:
            self.web.title = self.title
            self.web.describe = self.describe  # type: ignore[method-assign]

    def describe(self, message: Received) -> str:
        try:
            parsed = hl7.parse(message.body.encode())
        except ValueError:
            return message.body[:200]
        kind = str(parsed.msh.msh_9.value)
        segments = {s.name: s for s in parsed.children}
        pid = segments.get("PID")
        patient = ""
        if pid is not None:
            patient = (
                f"{pid.pid_5.value.replace('^', ' ').strip()} ({pid.pid_3[0].value.split('^')[0]})"
            )
        sch = segments.get("SCH")
        if sch is not None:
            timing = str(sch.sch_11.value).split("^")
            start = timing[3] if len(timing) > 3 else ""
            return (
                f"{kind}: запись {sch.sch_2.value.split('^')[0]}, {sch.sch_25.value}, "
                f"{start}, {sch.sch_7.value.split('^')[1] if '^' in sch.sch_7.value else ''}; "
                f"пациент {patient}"
            )
        return f"{kind}: пациент {patient}"
