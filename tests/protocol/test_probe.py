import pytest

from harness.protocol import Probe, decode_probe, encode_probe


def test_round_trip_with_padding():
    text = encode_probe("w1u7", 42, 1_700_000_000_123_456_789, size=256)
    assert len(text) == 256
    assert decode_probe(text) == Probe("w1u7", 42, 1_700_000_000_123_456_789)


def test_no_padding_when_size_is_small():
    assert decode_probe(encode_probe("a", 0, 5, size=3)) == Probe("a", 0, 5)


@pytest.mark.parametrize("text", ["", "hello", "~cb1:a:1", "~cb1:a:x:5:", "~cb1:a:1:zz:"])
def test_non_probes_decode_to_none(text):
    assert decode_probe(text) is None


def test_sender_may_not_hold_a_colon():
    with pytest.raises(ValueError):
        encode_probe("a:b", 1, 1)
