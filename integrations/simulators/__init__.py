"""The other side of the integrations, as small real servers (``imias simulate ...``):
the school's journal, the ambulance dispatch system, an HL7 v2 receiver. They accept,
store and show what they got, and can be told to fail, answer slowly or drop
connections; the tests run the adapters against them and the demo uses them."""

from integrations.simulators.base import Control, HttpReceiver, MllpReceiver, Received

__all__ = ["Control", "HttpReceiver", "MllpReceiver", "Received"]
