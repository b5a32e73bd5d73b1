from pathlib import Path

import pytest

from paylake.settings import Settings, SettingsError, load_settings, settings_env


def test_defaults_work_on_loopback() -> None:
    settings = load_settings({})
    assert settings.mongo_uri == "mongodb://127.0.0.1:27017"
    assert settings.redis_port == 6379
    assert settings.namenode_port == 9000
    assert settings.cold_path == "/paylake"
    assert settings.hot_max_mb == 300
    assert settings.cold_is_hdfs


def test_environment_overrides_and_types() -> None:
    settings = load_settings(
        {
            "PAYLAKE_MONGO_URI": "mongodb://db.example:27999",
            "PAYLAKE_HOT_MAX_MB": "12.5",
            "PAYLAKE_HDFS_DATANODE_PORTS": "1,2,3",
            "PAYLAKE_COLD_URI": "file:///tmp/archive",
            "PAYLAKE_STATE_DIR": "/tmp/x",
        }
    )
    assert settings.mongo_port == 27999
    assert settings.hot_max_mb == 12.5
    assert settings.hdfs_datanode_ports == (1, 2, 3)
    assert not settings.cold_is_hdfs
    assert settings.state_dir == Path("/tmp/x")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PAYLAKE_HOT_MAX_MB", "lots", "PAYLAKE_HOT_MAX_MB"),
        ("PAYLAKE_COLD_URI", "s3://bucket", "PAYLAKE_COLD_URI"),
        ("PAYLAKE_MONGO_URI", "http://x", "PAYLAKE_MONGO_URI"),
        ("PAYLAKE_HOT_LOW_WATER", "1.5", "PAYLAKE_HOT_LOW_WATER"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({name: value})


def test_settings_env_round_trips() -> None:
    original = Settings().with_overrides(hot_max_mb=7.0, hdfs_datanode_ports=(5, 6, 7), redis_url="redis://h:1/2")
    assert load_settings(settings_env(original)) == original


def test_archive_slice_must_divide_a_day() -> None:
    assert load_settings({"PAYLAKE_ARCHIVE_SLICE_MIN": "5"}).archive_slice_min == 5
    with pytest.raises(SettingsError, match="PAYLAKE_ARCHIVE_SLICE_MIN"):
        load_settings({"PAYLAKE_ARCHIVE_SLICE_MIN": "7"})
