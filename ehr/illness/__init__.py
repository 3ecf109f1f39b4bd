"""Illness episodes of a child: the "justification of absence" that replaced the paper
note to school. Days only, never a diagnosis; each change writes its event (topic
:data:`TOPIC`) to the outbox in its transaction.

Other packages use the names below and nothing else of this package.
"""

from ehr.illness import queries, rules
from ehr.illness.model import (
    TOPIC,
    EpisodeClose,
    EpisodeOpen,
    IllnessClosed,
    IllnessEpisode,
    IllnessEvent,
    IllnessOpened,
)
from ehr.illness.service import IllnessEpisodes

__all__ = [
    "TOPIC",
    "EpisodeClose",
    "EpisodeOpen",
    "IllnessClosed",
    "IllnessEpisode",
    "IllnessEpisodes",
    "IllnessEvent",
    "IllnessOpened",
    "queries",
    "rules",
]
