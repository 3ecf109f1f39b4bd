"""TwiML, the markup most telephony gateways accept: building answers and reading them.

Only the verbs the IVR uses: ``<Say>``, ``<Gather>`` (DTMF), ``<Redirect>``, ``<Dial>``
and ``<Hangup>``. A ``<Gather>`` that hears nothing falls through to the next verb,
which is a ``<Redirect>`` back to the webhook without ``Digits``: missing input.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

LANGUAGES = {"ru": "ru-RU", "en": "en-US"}


@dataclass
class Answer:
    """One webhook answer, verb by verb."""

    lang: str = "ru"
    root: ET.Element = field(default_factory=lambda: ET.Element("Response"))

    def say(self, text: str, parent: ET.Element | None = None) -> Answer:
        element = ET.SubElement(parent if parent is not None else self.root, "Say")
        element.set("language", LANGUAGES[self.lang])
        element.text = text
        return self

    def gather(self, action: str, texts: list[str], *, digits: int, timeout: int = 8) -> Answer:
        """Ask for ``digits`` digits (ended early by #); silence redirects to ``action``."""
        gather = ET.SubElement(self.root, "Gather")
        gather.attrib.update(
            {
                "input": "dtmf",
                "action": action,
                "method": "POST",
                "numDigits": str(digits),
                "finishOnKey": "#",
                "timeout": str(timeout),
            }
        )
        for text in texts:
            self.say(text, gather)
        redirect = ET.SubElement(self.root, "Redirect")
        redirect.set("method", "POST")
        redirect.text = action
        return self

    def dial(self, number: str) -> Answer:
        ET.SubElement(self.root, "Dial").text = number
        return self

    def hangup(self) -> Answer:
        ET.SubElement(self.root, "Hangup")
        return self

    def render(self) -> bytes:
        xml: bytes = ET.tostring(self.root, encoding="utf-8", xml_declaration=True)
        return xml


@dataclass(frozen=True)
class Verb:
    """A verb of a parsed answer: its name, text, attributes and (Gather) inner Says."""

    name: str
    text: str
    attrs: dict[str, str]
    says: tuple[str, ...] = ()


def parse(document: bytes | str) -> list[Verb]:
    """The verbs of a TwiML answer, in order (for the simulator and the tests)."""
    root = ET.fromstring(document)
    if root.tag != "Response":
        raise ValueError(f"not a TwiML answer: <{root.tag}>")
    return [
        Verb(
            element.tag,
            (element.text or "").strip(),
            dict(element.attrib),
            tuple((say.text or "").strip() for say in element.iter("Say") if say is not element),
        )
        for element in root
    ]
