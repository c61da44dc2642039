"""Watermarks of the incremental strategy: the sensor cursor, how watermarks move, what a
window remembers of the overlap, and how each tick's windows are planned. Pure: no Dagster."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from azure_port_pipeline.defs.watermarks import RETENTION, Watermarks, plan_windows

SUB_A = "8f3c1a52-6d7e-4b8a-9c0d-1e2f3a4b5c6d"
SUB_B = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
SUB_C = "c0ffee00-1111-2222-3333-444455556666"

NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
OVERLAP = timedelta(minutes=10)
LAG = timedelta(minutes=5)
END = NOW - LAG

RESOURCE = (
    f"/subscriptions/{SUB_A}/resourceGroups/RG1/providers/Microsoft.Storage/storageAccounts/a1"
)


def at(minutes_before_now: float) -> datetime:
    return NOW - timedelta(minutes=minutes_before_now)


def stamp(moment: datetime) -> str:
    """A change's timestamp as change records carry it."""
    return moment.isoformat()


def plan(marks: Watermarks, subscriptions=(SUB_A,), busy=frozenset(), **kwargs):
    return plan_windows(
        subscriptions, marks, set(busy), now=NOW, overlap=OVERLAP, lag=LAG, **kwargs
    )


# --- cursor -------------------------------------------------------------------------------


def test_cursor_round_trip_gives_equal_state():
    state = Watermarks(
        marks={SUB_A: at(30), SUB_B: at(90)},
        applied={SUB_A: {RESOURCE.lower(): stamp(at(35))}},
        checked_at=at(1),
    )

    assert Watermarks.from_cursor(state.to_cursor()) == state


def test_cursor_round_trip_without_checked_at():
    state = Watermarks(marks={SUB_A: at(30)})

    restored = Watermarks.from_cursor(state.to_cursor())

    assert restored == state
    assert restored.checked_at is None


@pytest.mark.parametrize("cursor", [None, ""])
def test_missing_cursor_is_empty_state(cursor):
    state = Watermarks.from_cursor(cursor)

    assert state == Watermarks()
    assert state.marks == {}
    assert state.applied == {}
    assert state.checked_at is None


def test_cursor_times_without_zone_are_read_as_utc():
    cursor = json.dumps({"watermarks": {SUB_A: "2024-05-20T11:30:00"}, "checked_at": None})

    state = Watermarks.from_cursor(cursor)

    assert state.marks[SUB_A] == datetime(2024, 5, 20, 11, 30, tzinfo=UTC)


# --- advance ------------------------------------------------------------------------------


def test_advance_sets_first_watermark():
    state = Watermarks()

    state.advance(SUB_A, at(30), OVERLAP)

    assert state.marks == {SUB_A: at(30)}


def test_advance_moves_watermark_forward():
    state = Watermarks(marks={SUB_A: at(60)})

    state.advance(SUB_A, at(30), OVERLAP)

    assert state.marks[SUB_A] == at(30)


def test_advance_never_moves_watermark_back():
    state = Watermarks(marks={SUB_A: at(30)})

    state.advance(SUB_A, at(60), OVERLAP)

    assert state.marks[SUB_A] == at(30)


def test_advance_leaves_other_subscriptions_alone():
    state = Watermarks(marks={SUB_B: at(90)})

    state.advance(SUB_A, at(30), OVERLAP)

    assert state.marks[SUB_B] == at(90)


def test_advance_keeps_only_changes_later_than_watermark_minus_overlap():
    mark = at(30)  # watermark - overlap = at(40)
    inside, boundary, outside = (
        f"{RESOURCE}-inside",
        f"{RESOURCE}-boundary",
        f"{RESOURCE}-outside",
    )
    state = Watermarks()

    state.advance(
        SUB_A,
        mark,
        OVERLAP,
        applied=[
            (inside, stamp(at(35))),
            (boundary, stamp(at(40))),  # exactly watermark - overlap: not later
            (outside, stamp(at(45))),
        ],
    )

    assert state.applied[SUB_A] == {inside.lower(): stamp(at(35))}


def test_advance_forgets_remembered_changes_that_fall_out_of_the_overlap():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    state.advance(SUB_A, at(10), OVERLAP)  # overlap now starts at at(20)

    assert state.applied[SUB_A] == {}
    assert not state.already_applied(SUB_A, RESOURCE, stamp(at(35)))


def test_advance_keeps_earlier_remembered_changes_still_inside_the_overlap():
    other = f"{RESOURCE}-other"
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    state.advance(SUB_A, at(28), OVERLAP, applied=[(other, stamp(at(29)))])

    assert state.applied[SUB_A] == {
        RESOURCE.lower(): stamp(at(35)),
        other.lower(): stamp(at(29)),
    }


def test_advance_remembers_the_latest_change_of_a_resource():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    state.advance(SUB_A, at(20), OVERLAP, applied=[(RESOURCE, stamp(at(25)))])

    assert state.applied[SUB_A] == {RESOURCE.lower(): stamp(at(25))}


# --- already_applied ----------------------------------------------------------------------


def test_already_applied_recognises_the_same_change():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    assert state.already_applied(SUB_A, RESOURCE, stamp(at(35)))


def test_already_applied_compares_resource_ids_case_insensitively():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    assert state.already_applied(SUB_A, RESOURCE.upper(), stamp(at(35)))
    assert state.already_applied(SUB_A, RESOURCE.lower(), stamp(at(35)))


def test_already_applied_rejects_a_later_change_of_the_same_resource():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    assert not state.already_applied(SUB_A, RESOURCE, stamp(at(33)))


def test_already_applied_rejects_another_resource():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    assert not state.already_applied(SUB_A, f"{RESOURCE}-other", stamp(at(35)))


def test_already_applied_is_per_subscription():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    assert not state.already_applied(SUB_B, RESOURCE, stamp(at(35)))


def test_already_applied_agrees_with_what_advance_kept():
    kept, dropped = f"{RESOURCE}-kept", f"{RESOURCE}-dropped"
    state = Watermarks()

    state.advance(SUB_A, at(30), OVERLAP, applied=[(kept, stamp(at(39))), (dropped, stamp(at(41)))])

    assert state.already_applied(SUB_A, kept, stamp(at(39)))
    assert not state.already_applied(SUB_A, dropped, stamp(at(41)))


def test_applied_changes_survive_the_cursor():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    restored = Watermarks.from_cursor(state.to_cursor())

    assert restored.already_applied(SUB_A, RESOURCE, stamp(at(35)))


# --- reset and forget ---------------------------------------------------------------------


def test_reset_moves_watermark_forward():
    state = Watermarks(marks={SUB_A: at(60)})

    state.reset(SUB_A, at(5))

    assert state.marks[SUB_A] == at(5)


def test_reset_sets_first_watermark():
    state = Watermarks()

    state.reset(SUB_A, at(5))

    assert state.marks == {SUB_A: at(5)}


def test_reset_never_moves_watermark_back():
    state = Watermarks(marks={SUB_A: at(5)})

    state.reset(SUB_A, at(60))

    assert state.marks[SUB_A] == at(5)


def test_reset_clears_applied_of_that_subscription_only():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])
    state.advance(SUB_B, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    state.reset(SUB_A, at(5))

    assert SUB_A not in state.applied
    assert not state.already_applied(SUB_A, RESOURCE, stamp(at(35)))
    assert state.already_applied(SUB_B, RESOURCE, stamp(at(35)))


def test_forget_drops_subscriptions_no_longer_known():
    state = Watermarks()
    state.advance(SUB_A, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])
    state.advance(SUB_B, at(30), OVERLAP, applied=[(RESOURCE, stamp(at(35)))])

    state.forget([SUB_B, SUB_C])

    assert set(state.marks) == {SUB_B}
    assert set(state.applied) == {SUB_B}


# --- plan_windows -------------------------------------------------------------------------


def test_plan_without_watermark_is_a_full_sync():
    result = plan(Watermarks())

    assert set(result.full) == {SUB_A}
    assert "no watermark" in result.full[SUB_A]
    assert result.starts == {}


def test_plan_with_watermark_older_than_retention_is_a_full_sync():
    mark = NOW - RETENTION + OVERLAP - timedelta(seconds=1)  # mark - overlap: 1 s too old

    result = plan(Watermarks(marks={SUB_A: mark}))

    assert set(result.full) == {SUB_A}
    assert "14-day" in result.full[SUB_A]
    assert "retention" in result.full[SUB_A]
    assert result.starts == {}


def test_plan_with_window_start_exactly_at_retention_is_incremental():
    mark = NOW - RETENTION + OVERLAP

    result = plan(Watermarks(marks={SUB_A: mark}))

    assert result.full == {}
    assert result.starts == {SUB_A: NOW - RETENTION}


def test_plan_retention_reason_names_the_given_retention():
    mark = at(60 * 24 * 3)

    result = plan(Watermarks(marks={SUB_A: mark}), retention=timedelta(days=2))

    assert "2-day" in result.full[SUB_A]


def test_plan_leaves_busy_subscriptions_out_entirely():
    marks = Watermarks(marks={SUB_B: at(30)})  # SUB_A: no watermark; SUB_B: a window

    result = plan(marks, subscriptions=[SUB_A, SUB_B], busy={SUB_A, SUB_B})

    assert result.full == {}
    assert result.starts == {}
    assert result.query_start is None


def test_plan_window_starts_at_watermark_minus_overlap_and_ends_at_now_minus_lag():
    result = plan(Watermarks(marks={SUB_A: at(30)}))

    assert result.full == {}
    assert result.starts == {SUB_A: at(30) - OVERLAP}
    assert result.end == END


def test_plan_query_start_is_the_earliest_window_start():
    marks = Watermarks(marks={SUB_A: at(30), SUB_B: at(120), SUB_C: at(60)})

    result = plan(marks, subscriptions=[SUB_A, SUB_B, SUB_C])

    assert result.starts == {
        SUB_A: at(30) - OVERLAP,
        SUB_B: at(120) - OVERLAP,
        SUB_C: at(60) - OVERLAP,
    }
    assert result.query_start == at(120) - OVERLAP


def test_plan_watermark_at_window_end_has_nothing_to_read():
    result = plan(Watermarks(marks={SUB_A: END}))

    assert result.starts == {}
    assert result.full == {}
    assert result.query_start is None


def test_plan_watermark_after_window_end_has_nothing_to_read():
    result = plan(Watermarks(marks={SUB_A: END + timedelta(minutes=1)}))

    assert result.starts == {}
    assert result.full == {}


def test_plan_mixes_full_syncs_windows_and_busy_subscriptions():
    marks = Watermarks(marks={SUB_B: at(30), SUB_C: at(45)})

    result = plan(marks, subscriptions=[SUB_A, SUB_B, SUB_C], busy={SUB_C})

    assert set(result.full) == {SUB_A}
    assert result.starts == {SUB_B: at(30) - OVERLAP}
    assert result.query_start == at(30) - OVERLAP


def test_plan_ignores_watermarks_of_unknown_subscriptions():
    marks = Watermarks(marks={SUB_A: at(30), SUB_B: at(120)})

    result = plan(marks, subscriptions=[SUB_A])

    assert result.starts == {SUB_A: at(30) - OVERLAP}
