import pytest

from imias.platform.settings import Settings, SettingsError, load_settings


def test_defaults_select_the_embedded_servers():
    settings = load_settings({})
    assert settings.embedded_database and settings.embedded_redis
    assert settings.data_dir == ".imias"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)


def test_values_are_read_from_imias_variables_and_typed():
    settings = load_settings(
        {
            "IMIAS_DATABASE_URL": "postgresql://app@db.example/imias",
            "IMIAS_REDIS_URL": "redis://cache:6379/2",
            "IMIAS_PORT": "9000",
            "IMIAS_WORKERS": "4",
            "IMIAS_DEMO": "true",
            "IMIAS_LOG_LEVEL": "DEBUG",
            "PATH": "/usr/bin",
        }
    )
    assert settings.database_url == "postgresql://app@db.example/imias"
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.port == 9000 and settings.workers == 4
    assert settings.demo is True and settings.log_level == "DEBUG"
    assert not settings.embedded_database


def test_settings_are_frozen():
    settings = load_settings({})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_overrides_win_and_none_means_not_given():
    settings = load_settings({"IMIAS_PORT": "9000"}, port=9100, host=None)
    assert settings.port == 9100 and settings.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"IMIAS_PORT": "eighty"}, "IMIAS_PORT", "int"),
        ({"IMIAS_PORT": "70000"}, "IMIAS_PORT", "<= 65535"),
        ({"IMIAS_WORKERS": "0"}, "IMIAS_WORKERS", ">= 1"),
        ({"IMIAS_LOG_LEVEL": "LOUD"}, "IMIAS_LOG_LEVEL", "LOUD"),
        ({"IMIAS_DATABASE_URL": "mysql://x/y"}, "IMIAS_DATABASE_URL", "postgresql://"),
        ({"IMIAS_REDIS_URL": "localhost:6379"}, "IMIAS_REDIS_URL", "redis://"),
        ({"IMIAS_SECRET_KEY": "short"}, "IMIAS_SECRET_KEY", "length"),
        ({"IMIAS_DEMO": "perhaps"}, "IMIAS_DEMO", "bool"),
        ({"IMIAS_DATABSE_URL": "postgresql://x/y"}, "IMIAS_DATABSE_URL", "IMIAS_DATABASE_URL"),
    ],
)
def test_invalid_settings_name_the_variable_in_one_line(env, variable, fragment):
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert message.startswith(variable + ":")
    assert fragment in message
    assert "\n" not in message


def test_errors_never_echo_a_secret_or_a_password():
    with pytest.raises(SettingsError) as caught:
        load_settings({"IMIAS_SECRET_KEY": "tiny-secret"})
    assert "tiny-secret" not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings({"IMIAS_DATABASE_URL": "mysql://user:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)


def test_build_and_test_switches_are_not_settings():
    settings = load_settings({"IMIAS_NO_EXTENSIONS": "1", "IMIAS_TEST_DATABASE_URL": "x"})
    assert isinstance(settings, Settings)
