"""Settings: defaults < config.toml < KTRDR_* < flags, and one-line errors naming the key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import Config, ConfigError, GatewayAddress, config_path, load_config


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "ktrdr-tui" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_settings(isolated_user_dirs: Path) -> None:
    config = load_config()
    assert config.source == "auto"
    assert config.gateway == GatewayAddress("127.0.0.1", 4002)
    assert config.client_id == 1
    assert config.theme == "ktrdr-dark"
    assert config.data_dir == isolated_user_dirs / "data" / "ktrdr-tui"


def test_file_then_environment_then_flags(isolated_user_dirs: Path, monkeypatch) -> None:
    assert config_path() == write_config(
        isolated_user_dirs,
        'source = "ib"\ngateway = "10.0.0.5:7497"\nclient_id = 7\ntheme = "ktrdr-light"\n'
        'data_dir = "~/bars"\n',
    )
    from_file = load_config()
    assert from_file == Config(
        source="ib",
        gateway=GatewayAddress("10.0.0.5", 7497),
        client_id=7,
        data_dir=isolated_user_dirs / "bars",
        theme="ktrdr-light",
        now=from_file.now,  # KTRDR_NOW, pinned for every test
    )
    monkeypatch.setenv("KTRDR_CLIENT_ID", "9")
    monkeypatch.setenv("KTRDR_DATA_DIR", "/srv/ktrdr")
    from_env = load_config()
    assert (from_env.client_id, from_env.data_dir, from_env.source) == (9, Path("/srv/ktrdr"), "ib")
    from_flags = load_config({"client_id": "11", "source": "sim", "gateway": None})
    assert (from_flags.client_id, from_flags.source) == (11, "sim")
    assert from_flags.gateway == GatewayAddress("10.0.0.5", 7497)


def test_now_is_the_system_clock_unless_pinned(monkeypatch) -> None:
    monkeypatch.delenv("KTRDR_NOW")
    before = datetime.now(UTC)
    now = load_config().now()
    assert before <= now <= datetime.now(UTC)
    monkeypatch.setenv("KTRDR_NOW", "2024-07-03T15:00:00-04:00")
    assert load_config().now() == datetime(2024, 7, 3, 19, tzinfo=UTC)
    assert load_config({"now": "2024-07-03"}).now() == datetime(2024, 7, 3, tzinfo=UTC)
    with pytest.raises(ConfigError, match="KTRDR_NOW: expected an ISO date"):
        monkeypatch.setenv("KTRDR_NOW", "yesterday")
        load_config()


def test_config_file_can_be_named_by_environment(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('theme = "custom"\n')
    monkeypatch.setenv("KTRDR_CONFIG", str(path))
    assert load_config().theme == "custom"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('source = "tws"\n', ["source", "auto, sim, ib"]),
        ('gateway = "localhost"\n', ["gateway", "HOST:PORT"]),
        ('gateway = "localhost:99999"\n', ["gateway", "HOST:PORT"]),
        ("client_id = -3\n", ["client_id", "from 0 to 2147483646"]),
        # ib_async sends 2**31 - 1 (IB's "unset") as no id at all: the gateway drops the client.
        ("client_id = 2147483647\n", ["client_id", "from 0 to 2147483646"]),
        ('client_id = "seven"\n', ["client_id"]),
        ("data_dir = 5\n", ["data_dir"]),
        ('sorce = "sim"\n', ["unknown key 'sorce'"]),
        ("source = \n", ["not valid TOML"]),
        ('keymap = "f1"\n', ["keymap", "table of binding id"]),
        ('keymap = { "pane.jobs" = 1 }\n', ["keymap", "'pane.jobs'", "expected keys"]),
        ('keymap = { "pane.jobs" = "" }\n', ["keymap", "'pane.jobs'"]),
    ],
)
def test_bad_file_values_name_the_key(isolated_user_dirs: Path, text: str, names) -> None:
    path = write_config(isolated_user_dirs, text)
    with pytest.raises(ConfigError) as error:
        load_config()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    for name in names:
        assert name in message


def test_a_config_file_that_is_not_utf8_names_the_file(isolated_user_dirs: Path) -> None:
    path = write_config(isolated_user_dirs, "")
    path.write_bytes(b'theme = "\xff\xfe"\n')
    with pytest.raises(ConfigError) as error:
        load_config()
    assert str(error.value) == f"{path}: not valid TOML: not UTF-8 text (at byte 9)"


def test_a_missing_file_named_by_the_environment_is_an_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KTRDR_CONFIG", str(tmp_path / "typo.toml"))
    with pytest.raises(ConfigError) as error:
        load_config()
    assert str(error.value) == f"KTRDR_CONFIG: {tmp_path / 'typo.toml'}: no such file"
    monkeypatch.delenv("KTRDR_CONFIG")
    assert load_config().source == "auto"  # the default file may well not exist


def test_a_data_dir_that_is_a_file_names_the_setting(tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "bars.txt"
    blocker.write_text("")
    monkeypatch.setenv("KTRDR_DATA_DIR", str(blocker / "store"))
    with pytest.raises(ConfigError, match=rf"^KTRDR_DATA_DIR: .* \({blocker} is a file\)$"):
        load_config()
    monkeypatch.delenv("KTRDR_DATA_DIR")
    assert load_config({"data_dir": str(tmp_path / "new" / "store")}).data_dir == (
        tmp_path / "new" / "store"  # a folder not made yet is fine
    )


def test_bad_environment_value_names_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("KTRDR_GATEWAY", "nope")
    with pytest.raises(ConfigError, match=r"^KTRDR_GATEWAY: expected HOST:PORT"):
        load_config()


def test_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--client-id: expected a whole number"):
        load_config({"client_id": "x"})


@given(
    host=st.from_regex(r"[a-z][a-z0-9.-]{0,20}", fullmatch=True),
    port=st.integers(min_value=1, max_value=65535),
)
def test_gateway_address_round_trips(host: str, port: int) -> None:
    address = GatewayAddress(host, port)
    assert GatewayAddress.parse(str(address)) == address


@given(port=st.one_of(st.integers(max_value=0), st.integers(min_value=65536)))
def test_gateway_address_rejects_ports_out_of_range(port: int) -> None:
    with pytest.raises(ValueError):
        GatewayAddress.parse(f"127.0.0.1:{port}")


def test_keymap_maps_binding_ids_to_keys_from_the_file_only(
    isolated_user_dirs: Path, monkeypatch
) -> None:
    write_config(isolated_user_dirs, 'keymap = { "pane.jobs" = "f1", "jobs.new" = "a,ctrl+n" }\n')
    monkeypatch.setenv("KTRDR_KEYMAP", "ignored: a table has no variable")
    assert load_config().keymap == {"pane.jobs": "f1", "jobs.new": "a,ctrl+n"}
    assert Config().keymap == {}
