import hashlib
from pathlib import Path

import pytest

from imias.domains import SINGLE_SEQUENCE, migrations
from imias.platform.migrator import MigrationError, discover

SINGLE = Path(__file__).resolve().parent.parent / "fixtures" / "single_sequence"


def test_every_domain_numbers_its_migrations_without_gaps():
    found = migrations()
    assert found and all(m.sql.strip() for m in found)
    labels = [m.label for m in found]
    assert len(labels) == len(set(labels))


def test_the_single_sequence_maps_each_old_file_to_files_that_exist():
    known = {(m.domain, m.version): m for m in migrations()}
    became = [key for _, keys in SINGLE_SEQUENCE.became.values() for key in keys]
    assert len(became) == len(set(became)) and set(became) <= set(known)
    # What the old files became comes first in each folder; later files follow it.
    for domain in {d for d, _ in known}:
        old = sorted(v for d, v in became if d == domain)
        assert old == list(range(1, len(old) + 1)), domain
    # The checksums are those of the files as they were released (kept under tests/).
    for path in sorted(SINGLE.glob("*.sql")):
        checksum, _ = SINGLE_SEQUENCE.became[int(path.stem[:4])]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == checksum, path.name


def test_a_gap_in_the_numbers_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "gappy_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_first.sql").write_text("SELECT 1;")
    (package / "0003_third.sql").write_text("SELECT 3;")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationError, match="0002"):
        discover("gappy_migrations", "gappy")


def test_a_badly_named_file_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "odd_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "1_first.sql").write_text("SELECT 1;")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        discover("odd_migrations", "odd")
