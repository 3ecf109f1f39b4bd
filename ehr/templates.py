"""Each specialty's protocol template: the sections a visit's protocol has, and the
text a section starts with (the examination's usual headings), which the doctor edits.
The same templates give the seeded history its protocols."""

from __future__ import annotations

from dataclasses import dataclass

SECTIONS: tuple[str, ...] = (
    "complaints",
    "history",
    "examination",
    "conclusion",
    "recommendations",
)

SECTION_TITLES: dict[str, tuple[str, str]] = {
    "complaints": ("Жалобы", "Complaints"),
    "history": ("Анамнез", "History"),
    "examination": ("Объективный осмотр", "Examination"),
    "conclusion": ("Заключение", "Conclusion"),
    "recommendations": ("Рекомендации", "Recommendations"),
}

#: The longest a section may be (characters): a protocol is text, not an attachment.
SECTION_MAX = 8000


@dataclass(frozen=True, slots=True)
class ProtocolTemplate:
    specialty: str
    title_ru: str
    examination: str  # the examination section's starting text

    def start(self) -> dict[str, str]:
        """A new protocol's sections as the template starts them."""
        return {s: (self.examination if s == "examination" else "") for s in SECTIONS}


_GENERAL = (
    "Общее состояние удовлетворительное. Кожные покровы обычной окраски. "
    "Дыхание везикулярное, хрипов нет. Тоны сердца ясные, ритмичные. "
    "Живот мягкий, безболезненный."
)

_EXAMINATIONS: dict[str, tuple[str, str]] = {
    "therapist": ("Приём терапевта", _GENERAL),
    "general_practitioner": ("Приём врача общей практики", _GENERAL),
    "paediatrician": (
        "Приём педиатра",
        "Состояние удовлетворительное. Физическое развитие соответствует возрасту. "
        "Зев не гиперемирован. Дыхание пуэрильное. Живот мягкий.",
    ),
    "ophthalmologist": (
        "Приём офтальмолога",
        "Visus OD = ; OS = . ВГД OD = ; OS = . Передний отрезок без особенностей. "
        "Глазное дно: ДЗН бледно-розовые, границы чёткие.",
    ),
    "otolaryngologist": (
        "Приём оториноларинголога",
        "Носовое дыхание свободное. Слизистая носа розовая. Миндалины не увеличены. "
        "AD, AS: барабанные перепонки серые, опознавательные знаки чёткие.",
    ),
    "cardiologist": (
        "Приём кардиолога",
        "Тоны сердца ясные, ритм правильный. Шумов нет. Периферических отёков нет. "
        "ЭКГ: ритм синусовый.",
    ),
    "neurologist": (
        "Приём невролога",
        "Сознание ясное. Черепные нервы без патологии. Сухожильные рефлексы живые, "
        "симметричные. Патологических знаков нет. В позе Ромберга устойчив.",
    ),
    "dentist": (
        "Приём стоматолога",
        "Конфигурация лица не изменена. Слизистая полости рта бледно-розовая. Зубная формула: ",
    ),
    "surgeon": (
        "Приём хирурга",
        "Общее состояние удовлетворительное. Местный статус: ",
    ),
    "psychiatrist": (
        "Приём психиатра",
        "Сознание ясное, ориентирован верно. Контакту доступен. Мышление последовательное. "
        "Бредовых идей не высказывает.",
    ),
    "narcologist": (
        "Приём психиатра-нарколога",
        "Сознание ясное, ориентирован верно. Контакту доступен. Запаха алкоголя нет. "
        "Тремора пальцев рук нет. Зрачки обычной ширины, реакция на свет живая. "
        "Следов инъекций нет.",
    ),
    "dermatologist": (
        "Приём дерматовенеролога",
        "Кожный процесс: локализация, характер высыпаний: ",
    ),
    "endocrinologist": (
        "Приём эндокринолога",
        "Щитовидная железа не увеличена, узлы не пальпируются. ИМТ: ",
    ),
}


def template_for(specialty: str) -> ProtocolTemplate:
    """The specialty's template (the general examination for one without its own)."""
    title, examination = _EXAMINATIONS.get(specialty, ("Приём специалиста", _GENERAL))
    return ProtocolTemplate(specialty, title, examination)
