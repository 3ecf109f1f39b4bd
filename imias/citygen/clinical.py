"""What the seeded medical history is made of: which diagnoses each specialty makes, at
what ages, how often; the national immunization calendar; the protocol's text for a
diagnosis. Plain data, no I/O (:mod:`imias.citygen.records` draws from it).

The codes are ICD-10 codes with a Russian title in ``ehr/catalogue/icd10_ru.tsv``; a
test checks that every one is. Restricted diagnoses (ICD-10 chapter F) are made only
by the psychiatrist and the narcologist, and rarely.
"""

from __future__ import annotations

from dataclasses import dataclass

_ANY = 150


@dataclass(frozen=True, slots=True)
class Dx:
    """A diagnosis a specialty makes: its relative weight, acute or chronic, the ages
    (on the day of the visit) and sex (None: any) of the patients who get it."""

    code: str
    weight: int
    chronic: bool = False
    min_age: int = 0
    max_age: int = _ANY
    sex: str | None = None

    def fits(self, age: int, sex: str) -> bool:
        return self.min_age <= age <= self.max_age and (self.sex is None or self.sex == sex)


def _a(code: str, weight: int, lo: int = 0, hi: int = _ANY, sex: str | None = None) -> Dx:
    return Dx(code, weight, False, lo, hi, sex)


def _c(code: str, weight: int, lo: int = 0, hi: int = _ANY, sex: str | None = None) -> Dx:
    return Dx(code, weight, True, lo, hi, sex)


_PRIMARY_ADULT = (
    _a("J06.9", 20), _a("J20.9", 6), _a("R05", 3), _a("R51", 2), _a("M54.5", 6),
    _a("N39.0", 2), _a("D50.9", 2), _a("G47.0", 1), _a("G44.2", 1), _a("Z00.0", 8),
    _c("I10", 10, 30), _c("I11.9", 3, 45), _c("E11.9", 4, 35), _c("E78.0", 4, 30),
    _c("K29.5", 4), _c("K21.9", 2), _c("M42.1", 4, 25), _c("J44.9", 2, 40),
    _c("N18.3", 1, 50), _c("I25.1", 2, 50),
)  # fmt: skip
_DENTAL = (_a("K02.1", 35), _a("K04.0", 15), _c("K05.1", 12, 12), _a("Z01.2", 20))

#: Specialty code -> the diagnoses its doctors make.
DIAGNOSES: dict[str, tuple[Dx, ...]] = {
    "therapist": _PRIMARY_ADULT,
    "general_practitioner": _PRIMARY_ADULT,
    "geriatrician": (
        _c("I10", 20), _c("I25.1", 10), _c("H25.9", 5), _c("M17.1", 10),
        _c("M81.0", 8, sex="F"), _c("N18.3", 5), _c("E11.9", 8), _a("G47.0", 5),
    ),
    "paediatrician": (
        _a("J06.9", 25), _a("J00", 10), _a("J02.9", 5), _a("J03.9", 4, 2), _a("J20.9", 4),
        _a("A09", 4), _a("B01.9", 2, 1, 12), _a("H66.9", 3, 0, 10), _c("L20.9", 3, 0, 12),
        _a("Z00.1", 15), _a("R05", 3), _a("K30", 1, 5), _c("J45.0", 2, 3), _a("D50.9", 2),
    ),
    "cardiologist": (
        _c("I10", 30, 25), _c("I11.9", 15, 40), _c("I20.8", 6, 45), _c("I25.1", 10, 50),
        _c("I48.9", 6, 50), _c("E78.0", 5, 30), _a("Z00.0", 3),
    ),
    "endocrinologist": (
        _c("E11.9", 30, 30), _c("E03.9", 15), _c("E04.1", 8, 12), _c("E66.0", 15, 3),
        _c("E78.0", 5, 30), _a("Z00.0", 3, 18), _a("Z00.1", 3, 0, 17),
    ),
    "neurologist": (
        _c("G43.9", 10, 10), _a("G44.2", 12, 12), _a("M54.5", 15, 18), _c("M42.1", 15, 25),
        _a("G47.0", 8, 18), _a("R51", 5),
    ),
    "ophthalmologist": (
        _c("H52.1", 30, 6), _a("H10.9", 15), _c("H25.9", 12, 55), _c("H40.1", 8, 40),
        _a("Z01.0", 20),
    ),
    "otolaryngologist": (
        _c("J31.0", 10, 5), _c("J32.9", 12, 10), _a("H66.9", 10), _a("H60.9", 10),
        _a("J03.9", 10, 2), _c("J30.1", 8, 4), _a("J02.9", 8),
    ),
    "dentist": _DENTAL,
    "paediatric_dentist": _DENTAL,
    "dental_surgeon": (_a("K04.0", 20), _a("K08.1", 15, 18), _a("K02.1", 10)),
    "orthodontist": (_c("K07.3", 60), _a("Z01.2", 20)),
    "surgeon": (
        _a("S93.4", 10), _a("S83.6", 6, 6), _a("S52.5", 4), _c("I83.9", 10, 25),
        _c("K64.9", 6, 20), _a("R10.4", 5), _a("M54.5", 5, 18),
    ),
    "traumatologist": (
        _a("S93.4", 20), _a("S83.6", 15, 6), _a("S52.5", 10), _c("M17.1", 15, 45),
        _c("M81.0", 5, 55, sex="F"),
    ),
    "gynaecologist": (
        _a("N76.0", 20, 15), _a("N95.1", 15, 45, 60), _a("Z34.0", 10, 18, 42),
        _a("Z00.0", 25, 18), _a("D50.9", 5, 12), _a("N39.0", 8), _a("Z00.1", 5, 0, 17),
    ),
    "urologist": (
        _c("N40", 30, 45, sex="M"), _a("N20.0", 15), _a("N30.0", 15), _a("N39.0", 15),
    ),
    "gastroenterologist": (
        _c("K29.5", 25), _c("K21.9", 20), _a("K30", 15), _c("K76.0", 10, 25), _c("K64.9", 5),
    ),
    "pulmonologist": (
        _c("J44.9", 30, 40), _c("J45.0", 25), _a("J18.9", 10), _a("J20.9", 10), _a("R05", 10),
    ),
    "rheumatologist": (
        _c("M06.9", 20, 20), _c("M10.9", 15, 35), _c("M17.1", 25, 45),
        _c("M81.0", 15, 50, sex="F"), _c("M42.1", 10, 25),
    ),
    "allergist": (_c("J30.1", 30, 4), _a("L50.0", 20), _c("J45.0", 15, 3), _c("L20.9", 15)),
    "infectious_disease": (_a("A09", 30), _a("B01.9", 15), _a("J06.9", 15)),
    "oncologist": (_c("C50.9", 15, 35, sex="F"), _a("Z00.0", 40), _a("D50.9", 10)),
    "dermatologist": (
        _c("L20.9", 20), _c("L40.0", 15, 10), _a("L70.0", 15, 12, 35), _c("B35.1", 15, 18),
        _a("L50.0", 10),
    ),
    # Restricted (chapter F) diagnoses: the psychiatrist's and the narcologist's, and rarely.
    "psychiatrist": (
        _a("Z00.0", 60, 18), _a("Z00.1", 20, 0, 17), _a("G47.0", 12, 18),
        _a("F32.0", 2, 18), _a("F41.1", 2, 18),
    ),
    "narcologist": (
        _a("Z00.0", 70, 18), _a("Z00.1", 10, 0, 17), _a("G47.0", 6, 18),
        _c("F10.2", 3, 20),
    ),
    "nephrologist": (_c("N18.3", 30), _a("N20.0", 15), _a("N39.0", 15), _c("I10", 10, 30)),
    "haematologist": (_a("D50.9", 60), _a("Z00.0", 20)),
    "coloproctologist": (_c("K64.9", 60), _a("R10.4", 15)),
    "physiotherapist": (
        _a("M54.5", 30, 18), _c("M42.1", 30, 25), _c("M17.1", 15, 45), _a("S83.6", 10, 6),
        _a("Z00.1", 10, 0, 17),
    ),
    "speech_therapist": (_a("Z00.1", 100),),
}  # fmt: skip

#: A visit of a specialty without anything that fits the patient: a check-up.
CHECKUP_ADULT, CHECKUP_CHILD = "Z00.0", "Z00.1"

#: Specialties whose visits record vital signs (blood pressure, pulse, weight).
VITALS = frozenset({"therapist", "general_practitioner", "cardiologist", "endocrinologist",
                   "geriatrician"})  # fmt: skip

# -- the national immunization calendar (Order 1122n), for children ----------------------

_MONTH = 30.44  # days

#: (vaccine, dose, due age in days, latest delay in days): the doses a child gets by age.
CALENDAR: tuple[tuple[str, int, int, int], ...] = (
    ("hepb", 1, 0, 1),
    ("bcg", 1, 3, 4),  # days 3-7
    ("hepb", 2, round(1 * _MONTH), 14),
    ("pcv", 1, round(2 * _MONTH), 21),
    ("dtp", 1, round(3 * _MONTH), 21),
    ("ipv", 1, round(3 * _MONTH), 21),
    ("hib", 1, round(3 * _MONTH), 21),
    ("dtp", 2, round(4.5 * _MONTH), 21),
    ("ipv", 2, round(4.5 * _MONTH), 21),
    ("hib", 2, round(4.5 * _MONTH), 21),
    ("pcv", 2, round(4.5 * _MONTH), 21),
    ("hepb", 3, round(6 * _MONTH), 21),
    ("dtp", 3, round(6 * _MONTH), 21),
    ("ipv", 3, round(6 * _MONTH), 21),
    ("hib", 3, round(6 * _MONTH), 21),
    ("mmr", 1, round(12 * _MONTH), 30),
    ("pcv", 3, round(15 * _MONTH), 30),
    ("dtp", 4, round(18 * _MONTH), 30),
    ("ipv", 4, round(18 * _MONTH), 30),
    ("hib", 4, round(18 * _MONTH), 30),
    ("mmr", 2, round(6 * 365.25), 60),
    ("td", 1, round(6 * 365.25), 365),  # at 6-7 years
    ("td", 2, round(14 * 365.25), 60),
)

# -- the protocol's text ------------------------------------------------------------------

#: Complaints and history by diagnosis (a code's own, else its letter's).
COMPLAINTS: dict[str, tuple[str, str]] = {
    "J06.9": ("Насморк, першение в горле, повышение температуры до 37,8 °C.",
              "Заболел(а) 2-3 дня назад после переохлаждения."),
    "J00": ("Заложенность носа, слизистые выделения из носа.", "Болеет 2 дня."),
    "J02.9": ("Боль в горле при глотании.", "Заболел(а) накануне."),
    "J03.9": ("Боль в горле, температура до 38,5 °C.", "Заболел(а) 2 дня назад."),
    "J20.9": ("Кашель с мокротой, слабость.", "Кашель в течение недели после ОРВИ."),
    "J18.9": ("Кашель, одышка при нагрузке, температура 38 °C.", "Болеет 5 дней."),
    "R05": ("Сухой кашель.", "Кашель около недели."),
    "R51": ("Головная боль давящего характера.", "Беспокоит периодически."),
    "I10": ("Периодические головные боли, повышение АД до 160/95 мм рт. ст.",
            "Артериальная гипертензия в течение нескольких лет, гипотензивную терапию "
            "принимает нерегулярно."),
    "I11.9": ("Одышка при подъёме по лестнице, повышение АД.",
              "Гипертоническая болезнь много лет."),
    "E11.9": ("Сухость во рту, жажда.",
              "Сахарный диабет 2 типа, принимает метформин. Гликемия натощак 7-8 ммоль/л."),
    "E78.0": ("Жалоб нет.", "Гиперхолестеринемия выявлена при диспансеризации."),
    "M54.5": ("Боль в поясничной области, усиливающаяся при наклонах.",
              "Боль после подъёма тяжести 3 дня назад."),
    "Z00.0": ("Жалоб не предъявляет.", "Профилактический осмотр."),
    "Z00.1": ("Жалоб нет.", "Плановый профилактический осмотр ребёнка."),
    "K02.1": ("Кратковременная боль от холодного и сладкого.", "Беспокоит около месяца."),
    "H52.1": ("Снижение остроты зрения вдаль.", "Носит очки несколько лет."),
    "F32.0": ("Сниженное настроение, утомляемость, нарушение сна.", "В течение 3 недель."),
    "F41.1": ("Постоянная тревога, напряжение, трудности с засыпанием.", "Около полугода."),
    "F10.2": ("Тяга к алкоголю, утренняя слабость, нарушение сна.",
              "Систематическое употребление алкоголя в течение нескольких лет."),
}  # fmt: skip
_COMPLAINTS_BY_LETTER: dict[str, tuple[str, str]] = {
    "J": ("Заложенность носа, кашель.", "Заболел(а) несколько дней назад."),
    "I": ("Периодическая одышка, сердцебиение.", "Наблюдается по поводу заболевания сердца."),
    "E": ("Слабость, утомляемость.", "Наблюдается у эндокринолога."),
    "K": ("Дискомфорт в эпигастрии после еды.", "Беспокоит в течение месяца."),
    "M": ("Боли в суставах и спине при нагрузке.", "Беспокоят несколько лет."),
    "S": ("Боль и отёк после травмы.", "Травма в быту накануне."),
    "H": ("Дискомфорт, снижение зрения или слуха.", "Беспокоит около недели."),
    "L": ("Зуд, высыпания на коже.", "Высыпания появились около недели назад."),
    "N": ("Дискомфорт при мочеиспускании.", "Беспокоит несколько дней."),
    "G": ("Головные боли, нарушение сна.", "Беспокоят в течение нескольких месяцев."),
}
_DEFAULT_COMPLAINTS = ("Жалобы на общее недомогание.", "Анамнез без особенностей.")

RECOMMENDATIONS_ACUTE = (
    "Обильное тёплое питьё, симптоматическая терапия. Повторный приём через 5-7 дней "
    "или при ухудшении состояния."
)
RECOMMENDATIONS_CHRONIC = (
    "Продолжить назначенную терапию. Контроль показателей, диспансерное наблюдение. "
    "Повторный приём через 3 месяца."
)
RECOMMENDATIONS_CHECKUP = "Здоров(а). Следующий профилактический осмотр через год."


def complaints(code: str) -> tuple[str, str]:
    """(complaints, history) of a visit whose primary diagnosis is ``code``."""
    return COMPLAINTS.get(code) or _COMPLAINTS_BY_LETTER.get(code[0], _DEFAULT_COMPLAINTS)


#: Allergic reactions by the substance's category: (reaction, severity).
REACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "medication": (("Крапивница", "mild"), ("Отёк Квинке", "severe"), ("Сыпь", "mild")),
    "food": (("Крапивница", "mild"), ("Отёк губ", "moderate"), ("Рвота", "moderate")),
    "environment": (("Ринит, конъюнктивит", "mild"), ("Чихание, зуд глаз", "mild")),
    "biologic": (("Анафилактическая реакция", "severe"), ("Местный отёк", "moderate")),
}
