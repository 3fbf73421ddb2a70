"""The per-frame path, per-second buckets, exact merging and the output files."""

import orjson
from hdrh.log import HistogramLogReader

from harness.load import hist
from harness.load.aggregate import Aggregate, write_outputs
from harness.load.frames import CLOSED, HARNESS, LOST, PROTOCOL, Ending
from harness.load.ledger import NS, Ledger
from harness.load.recorder import Recorder
from harness.profile import load_profile
from harness.protocol import encode_probe
from harness.results import LoadResults

BASE = 1_800_000_000 * NS  # an epoch second boundary
V1 = load_profile("v1").session("r", "u", 1)


def deliver(rec: Recorder, member, payload: bytes, now: int) -> str | None:
    """What the load users do with each frame: the profile's event, then the recorder."""
    return rec.on_frame(member, V1.receive_utf8(payload), now)


def frame(**event) -> bytes:
    return orjson.dumps(event)


def message(sender: str, seq: int, sent_ns: int, room: str = "r") -> bytes:
    return frame(type="message", user=sender, text=encode_probe(sender, seq, sent_ns), room=room)


def recorder_with_room(*names: str) -> tuple[Recorder, list]:
    rec = Recorder(Ledger(drain_ns=NS, leave_deadline_ns=2 * NS), {"r": len(names)})
    members = []
    for k, name in enumerate(names):
        m = rec.ledger.joining(name, f"{name}.1", "r", True, BASE)
        assert deliver(rec, m, frame(type="welcome", room="r", online=k + 1), BASE) == "welcome"
        members.append(m)
    return rec, members


def test_probe_latency_goes_to_the_second_it_arrived_in():
    rec, (a, b) = recorder_with_room("a", "b")
    seq = rec.sent("a", BASE + 100_000)
    deliver(rec, b, message("a", seq, BASE + 100_000), BASE + 1_600_000)  # 1500 us later
    deliver(rec, a, message("a", seq, BASE + 100_000), BASE + 1_100_000)  # echo: 1000 us
    bucket = rec.buckets[BASE // NS]
    assert bucket.counts["sent"] == 1 and bucket.counts["delivered"] == 2  # b's and a's own
    assert bucket.fanout[2].get_total_count() == 1
    assert bucket.fanout[2].get_value_at_percentile(100) == bucket.fanout[2].get_max_value()
    assert abs(bucket.fanout[2].get_max_value() - 1500) <= 1
    assert abs(bucket.rtt.get_max_value() - 1000) <= 1


def test_other_frames_are_ignored_or_counted():
    rec, (a, b) = recorder_with_room("a", "b")
    assert deliver(rec, b, b"not json", BASE) == "other"
    assert deliver(rec, b, b"[1]", BASE) == "other"
    assert rec.on_frame(b, None, BASE) is None  # a frame of the protocol's own (a ping)
    assert (
        deliver(rec, b, frame(type="message", user="x", text="hello", room="r"), BASE) == "message"
    )
    rec.ended(a, BASE + NS, abrupt=True)
    assert deliver(rec, b, frame(type="system", message="a.1 left"), BASE + NS) == "left"
    assert rec.ledger.check_leaves(BASE + 10 * NS) == 0
    counts = rec.buckets[BASE // NS + 1].counts
    assert counts["abrupt_disconnects"] == 1 and counts["delivered"] == 0


def test_malformed_probes_are_not_deliveries():
    rec, (_a, b) = recorder_with_room("a", "b")
    rec.sent("a", BASE)
    for text in ("~cb1:a:0", "~cb1:a:zero:1:", "~cb1:a:0:soon:", "~cb1:"):
        assert deliver(rec, b, frame(type="message", user="a", text=text, room="r"), BASE) == (
            "message"
        )
    assert rec.buckets[BASE // NS].counts["delivered"] == 0
    deliver(rec, b, frame(type="message", user="a", text="~cb1:a:0:5:", room="r"), BASE + NS)
    assert rec.buckets[BASE // NS + 1].counts["delivered"] == 1


def test_wrong_welcome_is_counted_in_its_second():
    rec, (_a,) = recorder_with_room("a")
    m = rec.ledger.joining("j", "j.1", "r", True, BASE + NS)
    deliver(rec, m, frame(type="welcome", room="r", online=5), BASE + NS)
    assert rec.buckets[BASE // NS + 1].counts["online_mismatches"] == 1
    n = rec.ledger.joining("k", "k.1", "r", True, BASE + NS)
    deliver(rec, n, frame(type="welcome", room="r"), BASE + NS)  # v1's welcome has a count
    assert rec.buckets[BASE // NS + 1].counts["online_mismatches"] == 2
    assert rec.ledger.totals.welcomes == 3


def run_process(seed: int) -> Recorder:
    """A process whose room of three sees `seed`-dependent latencies and one loss."""
    rec, (a, b, c) = recorder_with_room("a", "b", "c")
    for k in range(50):
        sent = BASE + k * NS // 10
        seq = rec.sent("a", sent)
        deliver(rec, a, message("a", seq, sent), sent + 500)
        deliver(rec, b, message("a", seq, sent), sent + (k * seed + 1) * 1000)
        if k != 7:
            deliver(rec, c, message("a", seq, sent), sent + 2000 * seed)
    rec.finalize(BASE + 20 * NS)
    return rec


def test_finalize_puts_lost_messages_in_their_send_second():
    rec = run_process(1)
    assert rec.ledger.totals.lost == 1
    assert rec.buckets[BASE // NS].counts["lost"] == 1


def test_merging_reports_is_exact():
    one, two = run_process(1), run_process(3)
    whole = hist.merged(
        [h for r in (one, two) for b in r.buckets.values() for h in b.fanout.values()]
    )
    agg = Aggregate()
    agg.merge(one.take())  # a mid-run report, then the final one
    agg.merge(one.take(final=True))
    agg.merge(two.take(final=True))
    doc = agg.results(BASE // NS, {"users": 6})
    LoadResults.model_validate(doc)
    assert doc["fanout_latency_us"]["count"] == whole.get_total_count() == 2 * 99
    assert doc["fanout_latency_us"]["p99"] == whole.get_value_at_percentile(99)
    assert doc["deliveries"] == {
        "expected": 300,
        "delivered": 298,
        "lost": 2,
        "duplicated": 0,
        "out_of_order": 0,
        "leaked": 0,
        "replayed": 0,
        "foreign": 0,
    }
    assert [p["lost"] for p in doc["per_process"]] == [1, 1]
    assert sum(row["delivered"] for row in doc["timeseries"]) == 298  # own copies included
    assert doc["rtt_latency_us"]["count"] == 100
    assert hist.decode(doc["fanout_hdr"]).get_total_count() == 198


def test_an_hour_of_seconds_is_kept_small_and_still_exact():
    # each second used to hold three 136 KiB HdrHistograms: 1.4 GiB over an hour
    import tracemalloc

    h = hist.new_histogram()
    for us in (120, 450, 1_800, 25_000):
        h.record_value(us)
    text = hist.encode(h)
    bucket = {"fanout": {"20": text}, "rtt": text, "connect": text, "counts": {"delivered": 4}}
    agg = Aggregate()
    tracemalloc.start()
    try:
        for sec in range(3600):
            agg.merge({"buckets": {str(BASE // NS + sec): bucket}})
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept < 8 << 20, kept  # about 2 KiB a second; 3 x 136 KiB before
    second = agg.seconds[BASE // NS + 7]
    assert second.fanout_all().get_total_count() == 4 == second.rtt.get_total_count()
    second.add(bucket)  # a second process's report of the same second
    assert second.fanout[20].get_value_at_percentile(100) == h.get_max_value()
    assert second.fanout_all().get_total_count() == 8 and second.reports() == ((20, 2),)


def test_a_second_report_of_the_same_process_adds_nothing_twice():
    rec = run_process(1)
    first = rec.take(final=True)
    assert "totals" in first
    assert rec.take(final=True) == {"buckets": {}}


def test_outputs_are_readable(tmp_path):
    agg = Aggregate()
    agg.merge(run_process(2).take(final=True))
    doc = agg.results(BASE // NS, {})
    write_outputs(tmp_path, doc, agg, BASE // NS)
    assert LoadResults.model_validate_json((tmp_path / "results.json").read_text())
    reader = HistogramLogReader(str(tmp_path / "fanout.hlog"), hist.new_histogram())
    counts = []
    while (h := reader.get_next_interval_histogram()) is not None:
        counts.append(h.get_total_count())
    reader.close()
    assert sum(counts) == doc["fanout_latency_us"]["count"]
    assert len(counts) == len(doc["timeseries"])


def test_latency_by_room_size_when_sizes_differ():
    rec = Recorder(Ledger(drain_ns=NS, leave_deadline_ns=2 * NS), {"small": 2, "big": 3})
    members = {}
    for room, names in (("small", "ab"), ("big", "cde")):
        for k, name in enumerate(names):
            m = rec.ledger.joining(name, f"{name}.1", room, True, BASE)
            deliver(rec, m, frame(type="welcome", room=room, online=k + 1), BASE)
            members[name] = m
    for sender, receivers, room in (("a", "b", "small"), ("c", "de", "big")):
        seq = rec.sent(sender, BASE + 1000)
        for r in receivers:
            deliver(rec, members[r], message(sender, seq, BASE + 1000, room), BASE + 9000)
    rec.finalize(BASE + 10 * NS)
    agg = Aggregate()
    agg.merge(rec.take(final=True))
    doc = agg.results(BASE // NS, {})
    assert {k: v["count"] for k, v in doc["by_room_size"].items()} == {"2": 1, "3": 2}


def test_replayed_history_is_no_delivery_and_no_latency_sample():
    rec, (_a, b) = recorder_with_room("a", "b")
    old = rec.sent("a", BASE - 5 * NS)  # sent five seconds before anyone here connected
    joiner = rec.ledger.joining("j", "j.1", "r", True, BASE + NS)
    deliver(rec, joiner, frame(type="welcome", room="r", online=3), BASE + NS)
    deliver(rec, joiner, message("a", old, BASE - 5 * NS), BASE + NS + 1000)
    deliver(rec, b, message("a", old, BASE - 5 * NS), BASE + NS + 1000)
    bucket = rec.buckets[BASE // NS + 1]
    assert bucket.counts["replayed"] == 2 and bucket.counts["delivered"] == 0
    assert bucket.fanout == {} and bucket.rtt.get_total_count() == 0
    assert rec.fanout_recorded == 0
    assert rec.ledger.totals.replayed == 2


def test_connection_endings_are_counted_by_how_and_code():
    rec, (a, b) = recorder_with_room("a", "b")
    for m in (a, b):
        rec.connected(m, BASE, reconnect=False)
    rec.server_ended(a, BASE + NS, Ending(CLOSED, 1011, "internal error"))
    a2 = rec.ledger.joining("a", "a.2", "r", True, BASE + NS)
    rec.connected(a2, BASE + NS, reconnect=True)
    rec.server_ended(a2, BASE + NS, Ending(CLOSED, 1011, ""))
    rec.server_ended(b, BASE + NS, Ending(LOST, None, ""))
    x = rec.ledger.joining("x", "x.1", "r", True, BASE)
    rec.connected(x, BASE, reconnect=False)
    rec.server_ended(x, BASE + NS, Ending(PROTOCOL, 1009, "message of 2000000 bytes"))
    rec.server_ended(x, BASE + NS, Ending(HARNESS, None, "RuntimeError()"))
    rec.unsent(4, BASE + NS)
    rec.tick(BASE // NS + 1, BASE + NS, 2, 5.0, False, under_planned=2)
    rec.finalize(BASE + 5 * NS)
    agg = Aggregate()
    agg.merge(rec.take(final=True))
    doc = agg.results(BASE // NS, {})
    LoadResults.model_validate(doc)
    c = doc["connections"]
    assert c["server_closes"] == {"1011": 2} and c["lost"] == 1
    assert c["protocol_errors"] == {"1009": 1}
    assert c["first_protocol_errors"] == ["message of 2000000 bytes"]
    assert (c["opened"], c["reconnects"], c["harness_errors"]) == (4, 1, 1)
    assert (c["users"], c["users_ended_by_server"], c["under_planned_s"]) == (3, 3, 1)
    assert doc["sends"] == {"scheduled": 4, "sent": 0, "unsent": 4}
    row = doc["timeseries"][1]
    assert (row["server_closes"], row["connections_lost"], row["protocol_errors"]) == (2, 1, 1)
    assert (row["reconnects"], row["unsent"], row["under_planned"]) == (1, 4, 2)
    assert doc["broken"] == [
        "no message was sent; nothing was delivered",
        "the server broke the WebSocket protocol on 1 connection (1009 x1)",
        "the server ended the connection of every user (3 of 3; closes 1011 x2; 1 lost)",
    ]


def test_connect_latencies_land_in_their_second_and_merge():
    rec = Recorder(Ledger(drain_ns=NS, leave_deadline_ns=2 * NS), {"r": 1})
    rec.connect_done(4_000, BASE + NS // 2)
    rec.connect_done(210_000, BASE + NS + 1)
    agg = Aggregate()
    agg.merge(rec.take())
    doc = agg.results(BASE // NS, {})
    assert [r["connects"] for r in doc["timeseries"]] == [1, 1]
    c = doc["connect_latency_us"]
    assert c["count"] == 2 and 3_990 <= c["p50"] <= 4_010 and 209_000 <= c["max"] <= 211_000
    assert hist.decode(doc["connect_hdr"]).get_total_count() == 2


def test_joins_are_heard_from_the_storm_until_its_deadline():
    from harness.load.storm import StormBook

    rec, (a, b) = recorder_with_room("a", "b")
    rec.track_joins = True
    joined = frame(type="system", message="c.2 joined")
    deliver(rec, a, joined, BASE + NS)  # before any storm: not the storm's
    assert a.heard is None
    book = StormBook(BASE + 2 * NS)
    book.drop("c")
    rec.start_storm(book)
    deliver(rec, a, joined, BASE + 3 * NS)
    assert a.heard == {"c.2"}
    book.back("c", BASE + 3 * NS)
    deliver(rec, b, joined, BASE + 6 * NS)  # everybody back more than the deadline ago
    assert b.heard is None


def test_a_message_sent_before_a_joiners_welcome_is_not_its_delivery_live_or_at_the_end():
    # The joiner's connection exists when `a` sends, its welcome comes after: the message is
    # not owed to it, so the live count (per second, Prometheus) and the final ledger agree.
    rec, (a, b) = recorder_with_room("a", "b")
    joiner = rec.ledger.joining("j", "j.1", "r", True, BASE + NS)
    seq = rec.sent("a", BASE + NS + 100_000_000)
    deliver(rec, joiner, frame(type="welcome", room="r", online=3), BASE + NS + 200_000_000)
    for member in (joiner, b, a):
        deliver(rec, member, message("a", seq, BASE + NS + 100_000_000), BASE + NS + 300_000_000)
    bucket = rec.buckets[BASE // NS + 1]
    assert bucket.counts["delivered"] == 2  # b's and a's own copy, not the joiner's
    assert rec.fanout_recorded == 1  # b's latency only
    rec.ledger.finalize(BASE + 10 * NS)
    assert rec.ledger.totals.delivered == 2 and rec.ledger.totals.lost == 0
    # and a duplicate of it is still a duplicate
    deliver(rec, joiner, message("a", seq, BASE + NS + 100_000_000), BASE + NS + 400_000_000)
    assert bucket.counts["duplicated"] == 1
