"""The timeline: splits as bars in lanes, binned for many, failures and retries marked, the join's wait."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ElementTree

import pytest

from laminar.display import report, svg, timeline
from laminar.display.model import AttemptView, ExecutionView, GraphView, LayerView, NodeView, SplitView

SHAPE = GraphView("Big", (NodeView("Items"), NodeView("Work", ("Items",), True, True), NodeView("Total", ("Work",))))


def split(index: int, start: float | None, end: float, state: str = "finished", attempt: int = 1) -> SplitView:
    error = "ValueError('boom')" if state == "failed" else None
    return SplitView(index, state, (AttemptView(attempt, state, start, end, error=error, resources={"cpu": 1}),))


def execution(splits: tuple[SplitView, ...], state: str = "finished") -> ExecutionView:
    finished = sum(s.state == "finished" for s in splits)
    work = LayerView(
        "Work",
        state,
        foreach=True,
        splits=len(splits),
        finished=finished,
        failed=len(splits) - finished,
        started=1000.5,
        ended=max(s.ended or 0.0 for s in splits),
        split_views=splits,
    )
    layers = (LayerView("Items", "finished", started=1000.0, ended=1000.5), work, LayerView("Total", "pending"))
    return ExecutionView("Big", "e-1", state, SHAPE, created=1000.0, ended=work.ended, layers=layers)


def parsed(picture: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg.namespaced(picture))


def of_class(root: ElementTree.Element, cls: str) -> list[ElementTree.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_few_splits_are_bars_in_lanes_with_the_failure_retry_and_join_marked() -> None:
    splits = (
        split(0, 1001.0, 1002.0),
        split(1, 1001.0, 1003.0, attempt=2),  # runs beside 0: a lane of its own
        split(2, 1002.0, 1006.0),  # ends last: the join waited for it
        split(3, None, 1004.0, "failed", attempt=2),  # a failure: only its end is recorded
    )
    root = parsed(timeline.render(execution(splits, "failed")))
    rows = {row.get("data-layer"): row for row in of_class(root, "row")}
    assert list(rows) == ["Items", "Work", "Total"]
    work = rows["Work"]
    assert work.get("data-binned") == "false"
    bars = {int(str(b.get("data-split"))): b for b in of_class(work, "split")}
    assert sorted(bars) == [0, 1, 2]  # the failed split has no start: a cross, not a bar
    assert bars[0].get("y") != bars[1].get("y")  # overlapping in time: not in one lane
    assert bars[0].get("y") == bars[2].get("y")  # 2 starts when 0 ended: back in lane 0
    assert float(str(bars[2].get("width"))) == pytest.approx(4 * float(str(bars[0].get("width"))), rel=0.01)
    assert [r.get("data-split") for r in of_class(work, "retry")] == ["1"]
    assert len(of_class(work, "failure")) == 1
    (held,) = of_class(root, "held-join")
    assert held.get("data-split") == "2" and "split 2 held the join" in "".join(held.itertext())


def synthetic(count: int) -> tuple[SplitView, ...]:
    """``count`` splits, 4 at a time, every 1,000th retried, four failed."""
    found = []
    for i in range(count):
        start = 1001.0 + (i // 4) * 0.002
        state = "failed" if i % (count // 4) == 7 else "finished"
        found.append(split(i, None if state == "failed" else start, start + 0.002, state, 1 + (i % 1000 == 3)))
    return tuple(found)


@pytest.mark.slow
def test_a_hundred_thousand_splits_render_binned_in_seconds_and_small(capsys: pytest.CaptureFixture[str]) -> None:
    view = execution(synthetic(100_000), "failed")
    started = time.perf_counter()
    picture = timeline.render(view)
    drawn = time.perf_counter() - started
    started = time.perf_counter()
    page = report.document(view)
    whole = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\n100,000 splits: timeline {drawn:.2f} s, {len(picture.encode()):,} bytes; "
            f"report {whole:.2f} s, {len(page.encode()):,} bytes"
        )
    assert drawn < 5 and whole < 10
    assert len(picture.encode()) < 200_000 and len(page.encode()) < 1_000_000
    root = parsed(picture)
    (work,) = [row for row in of_class(root, "row") if row.get("data-layer") == "Work"]
    assert work.get("data-binned") == "true" and work.get("data-splits") == "100000"
    bins = of_class(work, "bin")
    assert 200 <= len(bins) <= timeline.BINS and not of_class(work, "split")
    means = [float(str(b.get("data-mean"))) for b in bins]
    assert max(means) == pytest.approx(4.0, abs=0.05) and min(means[1:-1]) > 3.5  # 4 at a time, all along
    assert sum(int(str(b.get("data-ended"))) for b in bins) == 100_000
    assert len(of_class(work, "failure")) == 4 and of_class(work, "retry")
    # The split table lists the failed and the retried, the slowest and the first, not 100,000 rows.
    assert page.count('class="split-row') < 300
    assert "of 100000 recorded splits" in page


def test_many_concurrent_splits_bin_even_when_few() -> None:
    crowded = tuple(split(i, 1001.0, 1002.0) for i in range(timeline.MAX_LANES + 1))  # more at once than lanes
    root = parsed(timeline.render(execution(crowded)))
    (work,) = [row for row in of_class(root, "row") if row.get("data-layer") == "Work"]
    assert work.get("data-binned") == "true"


def test_the_axis_ticks_are_round_numbers() -> None:
    assert [timeline._nice(span) for span in (0.01, 1.0, 7.0, 95.0, 3600.0)] == [0.002, 0.2, 1.0, 20.0, 500.0]
