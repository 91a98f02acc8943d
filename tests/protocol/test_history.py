"""History decisions, without sockets: what a resuming or new subscriber gets from a channel record, what the history
API answers, and how a subscription's signed ``channel_data`` carries the position to resume after."""

from __future__ import annotations

import json

import pytest

from pusherpy.protocol import codec, signing
from pusherpy.protocol.actions import Join
from pusherpy.protocol.connection import Connection
from pusherpy.protocol.errors import MalformedMessage, Unauthorized
from pusherpy.protocol.history import (
    ChannelRecord,
    HistoryEntry,
    HistoryRule,
    ResumeFailed,
    epoch_start,
    events_after,
    page,
    plan_join,
    prune,
    resume_after,
    rewound,
)
from tests.helpers import make_app

NOW = 1_764_800_000.0
START = epoch_start(NOW - 100)
RULE = HistoryRule(channels="private-*", size=10, ttl_seconds=60)


def record(count: int, *, first: int = 1, start: int = START) -> ChannelRecord:
    """A record whose kept events are serials start+first .. start+count, one per second up to NOW."""
    entries = tuple(
        HistoryEntry(start + n, NOW - (count - n), f'{{"event":"e","channel":"c","data":"{n}"}}')
        for n in range(first, count + 1)
    )
    return ChannelRecord(start, start + count, entries)


class TestSerials:
    def test_an_epoch_starts_above_every_serial_an_earlier_epoch_could_have_handed_out(self) -> None:
        earlier = epoch_start(NOW - 1)
        assert epoch_start(NOW) >= earlier + 999, "a thousand events per millisecond fit between two epochs"
        assert epoch_start(NOW) < 2**53, "an exact integer in JavaScript"

    def test_the_serial_is_the_last_top_level_field_and_the_rest_is_untouched(self) -> None:
        text = codec.with_serial('{"event":"e","channel":"c","data":"{\\"x\\":1}"}', 42)
        assert json.loads(text) == {"event": "e", "channel": "c", "data": '{"x":1}', "serial": 42}
        assert text.endswith(',"serial":42}')


class TestResume:
    def test_the_events_after_a_position_all_of_them(self) -> None:
        found = events_after(record(5), START + 2)
        assert [entry.serial for entry in found] == [START + 3, START + 4, START + 5]  # type: ignore[union-attr]

    def test_the_position_itself_gives_nothing(self) -> None:
        assert events_after(record(5), START + 5) == ()

    def test_a_position_before_the_oldest_kept_event_is_trimmed(self) -> None:
        assert events_after(record(5, first=3), START + 1) == ResumeFailed(START + 1, START + 5, "trimmed")
        assert events_after(record(5, first=3), START + 2) != ResumeFailed(START + 2, START + 5, "trimmed")

    def test_all_events_expired_is_trimmed_unless_nothing_was_missed(self) -> None:
        empty = ChannelRecord(START, START + 5, ())
        assert events_after(empty, START + 4) == ResumeFailed(START + 4, START + 5, "trimmed")
        assert events_after(empty, START + 5) == ()

    @pytest.mark.parametrize("position", [START - 1, START + 6, 0])
    def test_a_position_outside_the_record_is_unknown(self, position: int) -> None:
        assert events_after(record(5), position) == ResumeFailed(position, START + 5, "unknown")

    def test_a_resumed_join_replays_wire_texts_with_serials(self) -> None:
        joined = plan_join(record(3), RULE, START + 1, NOW)
        assert joined.position == START + 3
        assert [json.loads(text)["serial"] for text in joined.replay] == [START + 2, START + 3]


class TestRewind:
    def test_no_rewind_by_default(self) -> None:
        assert plan_join(record(5), RULE, None, NOW).replay == ()

    def test_the_last_n(self) -> None:
        rule = HistoryRule(channels="*", size=10, ttl_seconds=60, rewind=2)
        assert [e.serial for e in rewound(record(5), rule, NOW)] == [START + 4, START + 5]

    def test_the_last_seconds(self) -> None:
        rule = HistoryRule(channels="*", size=10, ttl_seconds=60, rewind_seconds=2.5)
        assert [e.serial for e in rewound(record(5), rule, NOW)] == [START + 3, START + 4, START + 5]

    def test_both_limits_apply(self) -> None:
        rule = HistoryRule(channels="*", size=10, ttl_seconds=60, rewind=1, rewind_seconds=2.5)
        assert [e.serial for e in rewound(record(5), rule, NOW)] == [START + 5]

    def test_expired_events_are_pruned_oldest_first(self) -> None:
        rule = HistoryRule(channels="*", size=10, ttl_seconds=2.5)
        assert prune(record(5).entries, rule, NOW) == 2


class TestPage:
    def test_without_a_position_the_latest_events(self) -> None:
        found = page(record(5), None, 2)
        assert [e.serial for e in found.events] == [START + 4, START + 5]
        assert (found.position, found.oldest, found.gone) == (START + 5, START + 1, False)

    def test_after_a_position_at_most_the_limit_oldest_first(self) -> None:
        assert [e.serial for e in page(record(5), START + 1, 2).events] == [START + 2, START + 3]

    def test_a_trimmed_or_unknown_position_is_gone(self) -> None:
        assert page(record(5, first=3), START, 10).gone
        assert page(None, START, 10).gone
        assert not page(None, None, 10).gone


class TestResumePositionInChannelData:
    def test_read_from_a_json_object(self) -> None:
        assert resume_after("private-c", '{"resume_after": 17}') == 17
        assert resume_after("private-c", '{"user_id": "1"}') is None
        assert resume_after("private-c", None) is None

    @pytest.mark.parametrize("value", ['"17"', "-1", "1.5", "true", "null"])
    def test_anything_but_a_serial_is_refused(self, value: str) -> None:
        with pytest.raises(MalformedMessage, match="resume_after"):
            resume_after("private-c", f'{{"resume_after": {value}}}')


class TestPrivateChannelData:
    """A private subscription may carry ``channel_data`` its backend signed (as the official SDKs sign custom data);
    the position in it counts only when the signature covers it."""

    def subscribe(self, connection: Connection, channel_data: str | None, *, signed: str | None) -> Join:
        app = connection.app
        auth = signing.sign_channel(app.key, app.secret, connection.socket_id, "private-c", signed)
        data = {"channel": "private-c", "auth": auth}
        if channel_data is not None:
            data["channel_data"] = channel_data
        (action,) = connection.receive_text(json.dumps({"event": "pusher:subscribe", "data": data}), NOW)
        assert isinstance(action, Join)
        return action

    def test_signed_channel_data_gives_the_position(self) -> None:
        channel_data = '{"resume_after": 99}'
        join = self.subscribe(Connection("1.1", make_app()), channel_data, signed=channel_data)
        assert join.resume_after == 99

    def test_unsigned_channel_data_is_ignored_with_a_signature_over_the_channel_alone(self) -> None:
        join = self.subscribe(Connection("1.1", make_app()), '{"resume_after": 99}', signed=None)
        assert join.resume_after is None

    def test_a_signature_over_other_data_is_refused(self) -> None:
        with pytest.raises(Unauthorized):
            self.subscribe(Connection("1.1", make_app()), '{"resume_after": 99}', signed='{"resume_after": 1}')

    def test_presence_channel_data_carries_it_next_to_the_member(self) -> None:
        connection = Connection("1.1", make_app())
        channel_data = json.dumps({"user_id": "ann", "user_info": {"name": "Ann"}, "resume_after": 5})
        auth = signing.sign_channel("test-key", "test-secret", "1.1", "presence-c", channel_data)
        subscribe = {"channel": "presence-c", "auth": auth, "channel_data": channel_data}
        (join,) = connection.receive_text(json.dumps({"event": "pusher:subscribe", "data": subscribe}), NOW)
        assert isinstance(join, Join)
        assert join.resume_after == 5
        assert join.member is not None and join.member.user_info == {"name": "Ann"}
