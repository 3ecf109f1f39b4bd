"""A seeded driver's certificate printed: an A5 page whose text names the holder, the
number, the categories and the restrictions, and never a doctor or a diagnosis; its QR
code, read back from the rendered page, is the certificate's own QR text. Without
WeasyPrint (Pango) the PDF is a 503 problem saying what to install, not a 500."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from PIL import Image
from signin import app_client, fetch

A5_POINTS = (419.5, 595.3)  # 148 x 210 mm


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_certificate_pdf_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=150, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        yield c


def text_of(pdf: bytes) -> str:
    """The PDF's text: poppler's pdftotext when installed, else pypdfium2's."""
    if shutil.which("pdftotext"):
        done = subprocess.run(
            ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
        )
        return done.stdout.decode()
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    return "\n".join(page.get_textpage().get_text_range() for page in document)


def first_page(pdf: bytes, dpi: int = 200) -> Image.Image:
    """The first page as an image: poppler's pdftoppm when installed, else pypdfium2."""
    if shutil.which("pdftoppm"):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "page"
            subprocess.run(
                ["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-", str(out)],
                input=pdf,
                check=True,
            )
            (png,) = Path(folder).glob("page*.png")
            return Image.open(io.BytesIO(png.read_bytes()))
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(pdf)[0].render(scale=dpi / 72).to_pil()


async def test_the_printed_page_shows_what_it_certifies_and_its_qr_reads_back(client, city):
    import pypdfium2 as pdfium
    import zxingcpp

    (c,) = await fetch(
        city,
        "SELECT * FROM certificates WHERE status = 'issued'"
        " ORDER BY cardinality(restrictions) DESC, cardinality(categories) DESC, id LIMIT 1",
    )
    answer = await client.get(
        f"/api/v1/certificates/{c['number']}/pdf", headers=bearer.patient(c["patient_id"])
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    pdf = answer.content
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1
    width, height = document[0].get_size()
    assert abs(width - A5_POINTS[0]) < 2 and abs(height - A5_POINTS[1]) < 2, (width, height)

    text = " ".join(text_of(pdf).split())
    assert c["holder"] in text
    assert c["number"] in text
    assert ", ".join(c["categories"]) in text
    for code in c["restrictions"]:
        assert code in text
    assert "Форма № 003-В/у" in text and "МЕДИЦИНСКОЕ ЗАКЛЮЧЕНИЕ" in text
    assert c["birth_date"].strftime("%d.%m.%Y") in text
    # No doctor's name (the examiners' nor the chair's) and no diagnosis.
    doctors = await fetch(
        city,
        "SELECT d.family_name, d.given_name, d.patronymic FROM doctors d"
        "  JOIN encounters e ON e.clinic_id = d.clinic_id AND e.doctor_id = d.id"
        " WHERE e.patient_id = $1",
        c["patient_id"],
    )
    assert len(doctors) >= 3  # the examinations behind the certificate
    for d in doctors:
        assert f"{d['family_name']} {d['given_name']}" not in text
    conditions = await fetch(
        city, "SELECT DISTINCT code FROM conditions WHERE patient_id = $1", c["patient_id"]
    )
    assert conditions
    for (code,) in conditions:
        assert code not in text
    assert "Z00" not in text and "осмотр" not in text

    page = first_page(pdf)
    found = [b.text for b in zxingcpp.read_barcodes(page)]
    assert found == [c["qr"]]


async def test_without_weasyprint_the_pdf_is_a_503_problem_not_a_500(client, city, monkeypatch):
    (c,) = await fetch(city, "SELECT * FROM certificates ORDER BY id LIMIT 1")
    # As on a machine without Pango: importing WeasyPrint fails.
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    answer = await client.get(
        f"/api/v1/certificates/{c['number']}/pdf", headers=bearer.patient(c["patient_id"])
    )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["code"] == "pdf_unavailable"
    assert "Pango" in problem["detail"]
    # The certificate itself is still served.
    shown = await client.get(
        f"/api/v1/certificates/{c['number']}", headers=bearer.patient(c["patient_id"])
    )
    assert shown.status_code == 200 and shown.json()["qr"] == c["qr"]
