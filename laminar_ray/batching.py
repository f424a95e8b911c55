"""How many splits of one layer share one Ray task: a batch size that adapts to measured split durations.

A Ray task costs ~0.5 ms of driver CPU and as much of worker CPU however small its work, so a fan-out of
small splits run one per task is bound by that overhead, not by the work. Splits of one foreach layer whose
task options are equal can share a task; how many should is not known before they run. ``Controller``
decides it from what the batches already run took, the way joblib's ``batch_size="auto"`` does, with
three rules:

- **Start small, grow while batches run short.** The first batch is one split. After each batch the
  controller keeps a moving estimate of one split's duration and aims the next batch at ``target``
  seconds (a second: the task's overhead, and Ray's gap between one task of a worker and its next, are
  well under 1% of it; the splits report as they finish, so a lost worker costs no more, and the rule
  below keeps the tail of the fan-out fine-grained); it at most doubles a batch at a time, so one lucky
  fast batch cannot make the next one huge.
- **Shrink at once when splits are slow.** A batch that ran longer than ``target`` brings the size down
  to what its splits' duration says, without the doubling's caution: splits of a second or more run one
  per task, as they do unbatched.
- **Never fewer batches than slots while work remains.** A batch never takes more than
  ``ceil(remaining / slots)`` of the splits still to submit (``slots``: how many of this layer's tasks
  can run at once). That is guided self-scheduling: every idle CPU gets a batch, and the batches shrink
  towards the end of the fan-out, so no CPU waits on one long last batch.

A layer pins the size with ``ForEach(..., batch=N)``: every batch is ``N`` splits (the last what is
left), whatever the durations say; ``batch=1`` is one split per task, as before batching.

The controller is pure: it reads no clock and knows nothing of Ray. The session that owns it reports each
batch's splits and the seconds the worker spent running them (not queueing), and asks for the next
size. One controller serves one group of splits: one layer with one set of task options (splits whose
submission hooks ask for different resources are different groups and never share a task).

>>> controller = Controller(target=0.05)
>>> controller.size(remaining=1000, slots=2)
1
>>> controller.observe(splits=1, seconds=0.001)  # a 1 ms split: grow, at most doubling
>>> controller.size(remaining=1000, slots=2)
2
>>> controller.observe(splits=2, seconds=2.0)  # slow splits: one per task at once
>>> controller.size(remaining=1000, slots=2)
1
>>> Controller(pinned=100).size(remaining=1000, slots=2)
100
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Seconds a batch should run: the overhead of a task (~1 ms of driver and worker CPU, and a few ms
#: before its worker's next task starts) is well under 1% of it. (1,000 splits of 10 ms on 2 cores:
#: 6.60 s at 50 ms, 6.17 s at 200 ms; on a slower VM 1.18x raw Ray hand-batched at 200 ms, 1.12x at 1 s;
#: docs/performance.md.) Splits of 100 ms ran one to a task at 200 ms (each measured a little over 100).
TARGET = 1.0

#: The most splits one batch holds: bounds what one lost worker costs in re-runs and what one task's
#: results weigh in the driver, whatever the durations say.
MAXIMUM = 1024

#: Seconds of quick splits one report of a running batch may cover (see :meth:`Controller.together`):
#: what a lost worker can cost in finished splits that run again. A report is a generator item, which
#: costs the driver ~0.5 ms to hear and read: at 5 ms, splits of 10 ms went one to a report (1,000 of
#: them 6.60 s against 6.22 s at 50 ms, the driver's CPU 1.39 s against 0.89 s); at 100 ms instead of
#: 50 ms the driver's CPU there went 0.67 s -> 0.40 s (docs/performance.md).
REPORT = 0.1

#: Weight of the newest batch in the estimate of a split's duration (joblib smooths with 0.8 on the old).
SMOOTHING = 0.5


@dataclass
class Controller:
    """The batch size of one group of splits (one layer, one set of task options).

    ``target`` is the seconds a batch should run, ``maximum`` the most splits in one, ``pinned`` a fixed
    size (``ForEach(batch=N)``) that disables the adaptation; ``report`` the seconds between a running
    batch's reports of the splits it finished.
    """

    target: float = TARGET
    maximum: int = MAXIMUM
    pinned: int | None = None
    report: float = REPORT
    #: The current size before the parallelism rule; 1 until a batch was observed.
    current: int = field(default=1, init=False)
    #: Seconds one split takes, smoothed over the batches observed; None before the first.
    per_split: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.target <= 0:
            raise ValueError(f"Controller: target must be > 0 seconds (got {self.target!r})")
        if self.maximum < 1:
            raise ValueError(f"Controller: maximum must be >= 1 split (got {self.maximum!r})")
        if self.pinned is not None and self.pinned < 1:
            raise ValueError(f"Controller: pinned must be >= 1 split or None to adapt (got {self.pinned!r})")

    def size(self, remaining: int, slots: int) -> int:
        """How many of the ``remaining`` splits the next batch takes, when ``slots`` tasks of this group
        can run at once; 0 when nothing remains."""
        if remaining <= 0:
            return 0
        if self.pinned is not None:
            return min(self.pinned, remaining)
        share = math.ceil(remaining / max(1, slots))
        return max(1, min(self.current, share, remaining))

    def together(self) -> int:
        """How many finished splits a running batch reports at once: one each until durations were
        measured (and always for a pinned size), else as many as run in ``report`` seconds. A report is
        one Ray object the driver reads, so quick splits share one; the splits of a report not yet sent
        when its worker dies (at most ``report`` seconds of their work, as measured) run again."""
        if self.pinned is not None or not self.per_split:
            return 1
        return max(1, min(self.maximum, math.floor(self.report / self.per_split)))

    def observe(self, splits: int, seconds: float) -> None:
        """A batch of ``splits`` splits ran for ``seconds`` in its worker (the run of its splits, not the
        time it queued): update the estimate of a split's duration and the size it gives."""
        if splits < 1 or self.pinned is not None:
            return
        seconds = max(0.0, seconds)
        measured = seconds / splits
        if self.per_split is None:
            self.per_split = measured
        else:
            self.per_split = SMOOTHING * measured + (1 - SMOOTHING) * self.per_split
        if seconds > self.target:
            # Slow: this batch's own duration decides at once, not the smoothed estimate, so a batch of
            # slow splits is never followed by a larger one.
            ideal = math.floor(self.target / measured)
            self.current = max(1, min(self.current, ideal))
            return
        ideal = math.floor(self.target / self.per_split) if self.per_split > 0 else self.maximum
        # At most double what this batch held: a tail batch kept small by the parallelism rule, however
        # fast, does not vouch for a size never tried; but it does not bring ``current`` down either.
        self.current = max(1, min(ideal, max(self.current, 2 * splits), self.maximum))
