"""Locust scenarios and the city data generator's load profiles.
Arrives with the load-test issue."""

__all__: list[str] = []
