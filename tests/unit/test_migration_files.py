import pytest

from imias.platform.migrator import MigrationError, discover


def test_migrations_are_numbered_without_gaps():
    migrations = discover()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert all(m.sql.strip() for m in migrations)


def test_a_gap_in_the_numbers_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "gappy_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "0001_first.sql").write_text("SELECT 1;")
    (package / "0003_third.sql").write_text("SELECT 3;")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationError, match="0002"):
        discover("gappy_migrations")


def test_a_badly_named_file_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "odd_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "1_first.sql").write_text("SELECT 1;")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        discover("odd_migrations")
