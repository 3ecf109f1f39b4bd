"""Reference data of the city: the specialties catalogue and Moscow's districts.

Plain data, no I/O. ``imias seed`` loads the specialties into the ``specialties``
table as they stand here and uses the rest (doctor shares, clinic kinds, districts,
the age pyramid) to generate a synthetic city. The numbers are approximations of
Moscow's outpatient network, close enough that a demo looks like the real thing;
nothing here describes a real person.
"""

from __future__ import annotations

from dataclasses import dataclass

ADULT = "adult"
CHILDREN = "children"
DENTAL = "dental"
CLINIC_KINDS = (ADULT, CHILDREN, DENTAL)

# Share of clinics of each kind, per mille: most are adult polyclinics, about a
# third children's, a few dental.
CLINIC_KIND_PERMILLE = {ADULT: 550, CHILDREN: 300, DENTAL: 150}

CLINIC_NAMES = {
    ADULT: "Городская поликлиника № {number}",
    CHILDREN: "Детская городская поликлиника № {number}",
    DENTAL: "Стоматологическая поликлиника № {number}",
}

# The specialty every clinic of a kind has at least one doctor of.
ANCHOR_SPECIALTY = {ADULT: "therapist", CHILDREN: "paediatrician", DENTAL: "dentist"}


@dataclass(frozen=True, slots=True)
class Specialty:
    """A row of ``specialties`` plus what the generator needs to staff clinics."""

    id: int
    code: str
    name_ru: str
    name_en: str
    self_referral: bool  # bookable without a referral
    attached_only: bool  # only at the patient's attached clinic
    min_age: int
    max_age: int
    sex: str | None  # 'F' or 'M': patients of that sex only; None: any
    slot_minutes: int
    permille: int  # share of the city's doctors, per mille (the catalogue sums to 1000)
    kinds: tuple[str, ...]  # kinds of clinic where doctors of this specialty work
    female_permille: int = 700  # share of women among the doctors, per mille

    @property
    def share(self) -> float:
        return self.permille / 1000

    def row(self) -> tuple[object, ...]:
        """The values of the ``specialties`` columns in SPECIALTY_COLUMNS order."""
        return (
            self.id,
            self.code,
            self.name_ru,
            self.name_en,
            self.self_referral,
            self.attached_only,
            self.min_age,
            self.max_age,
            self.sex,
            self.slot_minutes,
        )


SPECIALTY_COLUMNS = (
    "id",
    "code",
    "name_ru",
    "name_en",
    "self_referral",
    "attached_only",
    "min_age",
    "max_age",
    "sex",
    "slot_minutes",
)

_ANY = 150  # max_age for "no upper limit"
_A = (ADULT,)
_AC = (ADULT, CHILDREN)
_C = (CHILDREN,)
_D = (DENTAL,)

# fmt: off
SPECIALTIES: tuple[Specialty, ...] = (
    # Primary care: self-referral, booked at the attached clinic.
    Specialty(1, "therapist", "Врач-терапевт участковый", "District therapist",
              True, True, 18, _ANY, None, 15, 235, _A, 780),
    Specialty(2, "general_practitioner", "Врач общей практики", "General practitioner",
              True, True, 18, _ANY, None, 15, 65, _A, 750),
    Specialty(3, "paediatrician", "Врач-педиатр участковый", "District paediatrician",
              True, True, 0, 17, None, 15, 180, _C, 900),
    # Self-referral specialists.
    Specialty(4, "dentist", "Врач-стоматолог-терапевт", "Dentist",
              True, False, 0, _ANY, None, 30, 70, _D, 650),
    Specialty(5, "paediatric_dentist", "Врач-стоматолог детский", "Paediatric dentist",
              True, False, 0, 17, None, 30, 15, (DENTAL, CHILDREN), 800),
    Specialty(6, "dental_surgeon", "Врач-стоматолог-хирург", "Dental surgeon",
              True, False, 0, _ANY, None, 30, 20, _D, 350),
    Specialty(7, "surgeon", "Врач-хирург", "Surgeon",
              True, False, 0, _ANY, None, 20, 40, _AC, 250),
    Specialty(8, "ophthalmologist", "Врач-офтальмолог", "Ophthalmologist",
              True, False, 0, _ANY, None, 20, 40, _AC, 800),
    Specialty(9, "otolaryngologist", "Врач-оториноларинголог", "Otolaryngologist",
              True, False, 0, _ANY, None, 20, 35, _AC, 650),
    Specialty(10, "gynaecologist", "Врач-акушер-гинеколог", "Obstetrician-gynaecologist",
              True, False, 0, _ANY, "F", 20, 40, _AC, 900),
    Specialty(11, "urologist", "Врач-уролог", "Urologist",
              True, False, 18, _ANY, None, 20, 15, _A, 150),
    # Referral-only specialists.
    Specialty(12, "cardiologist", "Врач-кардиолог", "Cardiologist",
              False, False, 18, _ANY, None, 30, 30, _A, 700),
    Specialty(13, "neurologist", "Врач-невролог", "Neurologist",
              False, False, 0, _ANY, None, 20, 35, _AC, 750),
    Specialty(14, "endocrinologist", "Врач-эндокринолог", "Endocrinologist",
              False, False, 0, _ANY, None, 20, 20, _AC, 850),
    Specialty(15, "gastroenterologist", "Врач-гастроэнтеролог", "Gastroenterologist",
              False, False, 18, _ANY, None, 20, 12, _A, 750),
    Specialty(16, "pulmonologist", "Врач-пульмонолог", "Pulmonologist",
              False, False, 18, _ANY, None, 20, 8, _A, 700),
    Specialty(17, "rheumatologist", "Врач-ревматолог", "Rheumatologist",
              False, False, 18, _ANY, None, 30, 6, _A, 800),
    Specialty(18, "allergist", "Врач-аллерголог-иммунолог", "Allergist-immunologist",
              False, False, 0, _ANY, None, 30, 8, _AC, 800),
    Specialty(19, "infectious_disease", "Врач-инфекционист", "Infectious disease specialist",
              False, False, 0, _ANY, None, 20, 8, _AC, 750),
    Specialty(20, "oncologist", "Врач-онколог", "Oncologist",
              False, False, 18, _ANY, None, 30, 10, _A, 550),
    Specialty(21, "traumatologist", "Врач-травматолог-ортопед", "Traumatologist-orthopaedist",
              False, False, 0, _ANY, None, 20, 30, _AC, 200),
    Specialty(22, "dermatologist", "Врач-дерматовенеролог", "Dermatovenereologist",
              False, False, 0, _ANY, None, 20, 15, _AC, 750),
    Specialty(23, "psychiatrist", "Врач-психиатр", "Psychiatrist",
              False, False, 0, _ANY, None, 30, 8, _AC, 650),
    Specialty(24, "geriatrician", "Врач-гериатр", "Geriatrician",
              False, False, 60, _ANY, None, 30, 6, _A, 800),
    Specialty(25, "nephrologist", "Врач-нефролог", "Nephrologist",
              False, False, 18, _ANY, None, 30, 4, _A, 750),
    Specialty(26, "haematologist", "Врач-гематолог", "Haematologist",
              False, False, 18, _ANY, None, 30, 4, _A, 800),
    Specialty(27, "coloproctologist", "Врач-колопроктолог", "Coloproctologist",
              False, False, 18, _ANY, None, 20, 5, _A, 300),
    Specialty(28, "orthodontist", "Врач-ортодонт", "Orthodontist",
              False, False, 0, _ANY, None, 30, 10, _D, 750),
    Specialty(29, "speech_therapist", "Логопед", "Speech therapist",
              False, False, 2, 17, None, 30, 6, _C, 950),
    Specialty(30, "physiotherapist", "Врач-физиотерапевт", "Physiotherapist",
              False, False, 0, _ANY, None, 20, 15, _AC, 800),
    Specialty(31, "narcologist", "Врач-психиатр-нарколог", "Psychiatrist-narcologist",
              False, False, 0, _ANY, None, 30, 5, _AC, 450),
)
# fmt: on

SPECIALTY_BY_CODE = {s.code: s for s in SPECIALTIES}


@dataclass(frozen=True, slots=True)
class District:
    """A Moscow administrative okrug: where its clinics are drawn and how many."""

    code: str  # the Russian abbreviation, stored in clinics.district
    name_ru: str
    name_en: str
    lat: float  # centre
    lon: float
    dlat: float  # half-extent of the area clinics are drawn in
    dlon: float
    population: int  # residents, thousands (approximate)
    locality: str  # how an address in the okrug begins after "г. Москва"

    @property
    def lat_range(self) -> tuple[float, float]:
        return (self.lat - self.dlat, self.lat + self.dlat)

    @property
    def lon_range(self) -> tuple[float, float]:
        return (self.lon - self.dlon, self.lon + self.dlon)


# fmt: off
DISTRICTS: tuple[District, ...] = (
    District("ЦАО", "Центральный", "Central", 55.7540, 37.6200, 0.030, 0.060, 780, ""),
    District("САО", "Северный", "Northern", 55.8450, 37.5250, 0.040, 0.080, 1180, ""),
    District("СВАО", "Северо-Восточный", "North-Eastern", 55.8600, 37.6400, 0.045, 0.070,
             1430, ""),
    District("ВАО", "Восточный", "Eastern", 55.7900, 37.7700, 0.045, 0.070, 1510, ""),
    District("ЮВАО", "Юго-Восточный", "South-Eastern", 55.7050, 37.7650, 0.040, 0.070, 1440, ""),
    District("ЮАО", "Южный", "Southern", 55.6400, 37.6500, 0.055, 0.070, 1780, ""),
    District("ЮЗАО", "Юго-Западный", "South-Western", 55.6500, 37.5300, 0.050, 0.065, 1440, ""),
    District("ЗАО", "Западный", "Western", 55.7050, 37.4550, 0.050, 0.080, 1410, ""),
    District("СЗАО", "Северо-Западный", "North-Western", 55.8300, 37.4300, 0.045, 0.045,
             1010, ""),
    District("ЗелАО", "Зеленоградский", "Zelenogradsky", 55.9880, 37.1900, 0.020, 0.045,
             250, "г. Зеленоград"),
    District("НАО", "Новомосковский", "Novomoskovsky", 55.5800, 37.3800, 0.045, 0.110, 420,
             "поселение Новомосковский"),
    District("ТАО", "Троицкий", "Troitsky", 55.4800, 37.3000, 0.040, 0.080, 150,
             "г. Троицк"),
)
# fmt: on

DISTRICT_BY_CODE = {d.code: d for d in DISTRICTS}

# Moscow within its borders of 2012 (with New Moscow): every clinic lies inside.
MOSCOW_LAT = (55.14, 56.03)
MOSCOW_LON = (36.80, 37.97)

# The age pyramid of the attached population: (from age, to age exclusive,
# share per mille, share of men per mille). About 18% children.
AGE_BANDS: tuple[tuple[int, int, int, int], ...] = (
    (0, 7, 75, 512),
    (7, 18, 105, 512),
    (18, 30, 120, 490),
    (30, 45, 260, 480),
    (45, 60, 190, 460),
    (60, 75, 180, 400),
    (75, 100, 70, 300),
)
ADULT_AGE = 18
