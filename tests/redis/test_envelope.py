"""The envelope format and key names (pure: no Redis)."""

from __future__ import annotations

import pytest

from reference_server.cluster import ClusterConfig, envelope
from reference_server.cluster.envelope import Keys


def test_message_envelope_round_trips_the_frame_untouched() -> None:
    frame = '{"type":"message","user":"a b","text":"x\\ny \\u00e9 🎉","room":"r"}'
    event = envelope.decode((envelope.message_prefix("node-1") + frame).encode())
    assert (event.kind, event.origin, event.member, event.skip_origin) == (
        "m",
        "node-1",
        "-",
        False,
    )
    assert event.frame == frame


def test_script_built_envelopes_carry_member_skip_and_online() -> None:
    head = envelope.header(envelope.LEFT, "n2", "n2:7", skip_origin=True)
    event = envelope.decode(f"{head} 3\n{{}}")
    assert (event.kind, event.member, event.skip_origin, event.online) == ("l", "n2:7", True, 3)


@pytest.mark.parametrize("data", [b"", b"hello", b"x n - 0 0\n{}", b"m n - 0\n{}"])
def test_foreign_payloads_are_rejected(data: bytes) -> None:
    with pytest.raises(ValueError):
        envelope.decode(data)


def test_room_keys_share_a_hash_tag_and_channels_map_back_to_rooms() -> None:
    keys = Keys("cb")
    assert keys.members("café") == "cb:{room:café}:members"
    assert keys.channel("café") == "cb:{room:café}:events"
    assert keys.room_of_channel(keys.channel("Lobby.~_-1")) == "Lobby.~_-1"
    assert keys.room_of_channel("other:channel") is None


def test_index_values_keep_room_and_name() -> None:
    assert envelope.parse_index_value(envelope.index_value("r", "Ann Lee")) == ("r", "Ann Lee")


@pytest.mark.parametrize(
    "kwargs",
    [{"url": "http://x"}, {"url": "redis://x", "heartbeat_interval": 3.0, "node_ttl": 3.0}],
)
def test_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ClusterConfig(**kwargs)  # type: ignore[arg-type]


def test_reap_bound_follows_ttl_and_reap_interval() -> None:
    config = ClusterConfig(url="redis://127.0.0.1:1", node_ttl=3.0, reap_interval=1.0)
    assert config.reap_bound == 5.0


def test_channels_of_other_databases_differ_but_keep_the_hash_tag() -> None:
    keys = Keys("cb", db=2)
    assert keys.channel("r") == "cb:db2:{room:r}:events"
    assert keys.members("r") == "cb:{room:r}:members"  # keys are per database already
    assert keys.room_of_channel("cb:db2:{room:r}:events") == "r"
    assert keys.room_of_channel("cb:{room:r}:events") is None
