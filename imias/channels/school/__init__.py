"""The school nurse's page ``/school``: her school's children with a physical-education
restriction (and nothing else)."""

from imias.channels.school.pages import SchoolNurseController

__all__ = ["SchoolNurseController"]
