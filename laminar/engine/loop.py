"""Running one execution: the only place the engine's decisions are carried out.

:func:`execute` claims the execution (or, resuming, reads what an earlier run
left that it can trust: :mod:`laminar.engine.prior`), opens a session on the
executor, and loops: the state's transitions decide, this module carries out
the effects they return (tasks to the session, records to the journal, lines to
the log), waits for completions, and hands them back to the state, until nothing is in flight, queued or timed. Then the
journal is closed (what finished is committed, whatever ended the run) and the
first failure, if any, is raised.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any, Protocol

from laminar.datastore import Datastore
from laminar.engine import collector
from laminar.engine import prior as prior_
from laminar.engine.effects import Effect, Note, Release, Submit, Withdraw, WriteFailure, WriteLayer, WriteSplit
from laminar.engine.snapshot import Observer, Started
from laminar.engine.state import State
from laminar.errors import LaminarError
from laminar.executors.base import Executor, Run, Session
from laminar.graph import PARAMETERS, Graph
from laminar.journal import Journal, Policy
from laminar.logs import LogPolicy
from laminar.records import ExecutionRecord, SplitMeta, SplitRecord
from laminar.task import Completion, Task, TaskKind

log = logging.getLogger("laminar")


class Memo(Protocol):
    """What the engine asks of a cache (:mod:`laminar.cache`), its one seam into the engine: the loop
    asks it before a unit's first task goes to the session, and tells it every completion."""

    #: The layers it looks up: never started ahead of their dependencies (the key needs their digests).
    layers: frozenset[str]

    def lookup(self, task: Task) -> Completion | None:
        """A cached completion of ``task`` (the whole task, as the engine made it), or None: run it."""

    def completed(self, completion: Completion) -> None:
        """A task ended (before the state hears of it)."""

    def uncommitted(self, task: Task) -> bool:
        """Whether ``task`` reads a hit whose document the journal may not have committed: no session
        holds a hit's outputs, so the task reads it from the datastore (the loop flushes the journal)."""

    def close(self) -> None:
        """The run ended and the journal committed what finished: write what it learned."""


def execute(
    graph: Graph,
    *,
    executor: Executor,
    datastore: Datastore,
    execution: str,
    parameters: Mapping[str, Any] | None,
    observer: Observer | None = None,
    policy: Policy | None = None,
    logs: LogPolicy | None = None,
    rerun: Collection[str] = (),
    memo: Memo | None = None,
) -> None:
    """Run an execution of ``graph`` to its end: a new one with ``parameters``, or (None) a resumed one,
    skipping what its earlier runs finished (but the layers ``rerun`` names and those downstream of
    them: see :mod:`laminar.engine.prior`). Raises the first failure of a layer."""
    flow = graph.flow
    prior = prior_.read(graph, datastore, execution, rerun) if parameters is None else None
    session = executor.open(Run(flow, execution, graph, datastore, logs or LogPolicy()))
    journal = Journal(datastore, flow, execution, policy)
    try:
        meta = None
        if parameters is not None:
            meta = _begin(journal, datastore, flow, execution, parameters, repr(executor))
        state = State.start(
            graph,
            pipelines=session.pipelines,
            capacity=session.capacity(),
            prior=prior,
            parameters=meta,
            epoch=time.time() - time.monotonic(),
            settle_first=memo.layers if memo is not None else frozenset(),
        )
        with collector.spaced():
            _Loop(state, session, journal, execution, observer, memo).run()
    except KeyboardInterrupt as interrupt:  # Ctrl-C: stop now; what finished is committed below
        message = (
            f"laminar: {flow} execution {execution!r} was interrupted; what finished is kept: resume it with "
            f"{flow}().execution({execution!r}).resume()"
        )
        if hasattr(interrupt, "add_note"):  # Python 3.11+
            interrupt.add_note(message)
        raise
    finally:
        journal.close()
        session.close()  # stops what still runs (after an interruption), without waiting for it
    journal.check()
    if memo is not None:
        memo.close()
    if state.failures:
        label, error = state.failures[0]
        if hasattr(error, "add_note"):
            error.add_note(
                f"laminar: layer {flow}.{label} failed in execution {execution!r}; "
                f"finished work is kept: resume with {flow}().execution({execution!r}).resume()"
            )
        raise error


def _begin(
    journal: Journal, store: Datastore, flow: str, execution: str, parameters: Mapping[str, Any], executor: str
) -> SplitMeta:
    """Store the parameters (one that cannot be serialized fails before the execution exists) and write
    them and the execution's record; return the Parameters layer's meta."""
    stored = store.write_split(flow, execution, PARAMETERS, 0, parameters, set(), SplitRecord().to_json(), commit=False)
    assert stored.document is not None
    record = ExecutionRecord(flow, execution, time.time(), tuple(sorted(parameters)), executor=executor)
    journal.begin(record, stored.document)
    return SplitMeta(stored.names, stored.shards)


class _Loop:
    """Carries out a state's effects and feeds it the session's completions."""

    def __init__(
        self,
        state: State,
        session: Session,
        journal: Journal,
        execution: str,
        observer: Observer | None,
        memo: Memo | None = None,
    ) -> None:
        self.memo = memo
        self.state = state
        self.session = session
        self.journal = journal
        self.execution = execution
        self.observer = observer
        self._pending: collections.deque[Effect] = collections.deque()
        self._started: Started | None = getattr(session, "started", None)  # optional: see Session

        self._rejected = False  # a submission was rejected since the state last advanced
        self._looked_up: dict[str, set[int]] = {}  # units the memo was asked about

    def run(self) -> None:
        state = self.state
        self._advance()
        self._observe()
        while not state.done:
            due = state.next_timer()
            timeout = None if due is None else max(0.0, due - time.monotonic())
            for completion in self.session.wait(timeout, urgent=state.urgent()):
                if self.memo is not None:
                    self.memo.completed(completion)
                self._carry_out(state.complete(completion, time.monotonic()))
            self._advance()
            self._observe()

    def _observe(self) -> None:
        """Tell the observer, once a step (a wait's completions carried out, then the state advanced): a
        snapshot copies every task in flight (up to thousands on Ray): one per completion cost a 20,000-split
        fan-out's driver on Ray ~0.45 s of its ~2.5 s of CPU."""
        if self.observer is not None:
            self.observer(self.state.snapshot(self.execution, self._started))

    def _advance(self) -> None:
        """Advance the state and carry out what it decided, again while submissions were rejected (a
        rejection may let the state decide more at once)."""
        self._rejected = True
        while self._rejected:
            self._rejected = False
            self._carry_out(self.state.advance(time.monotonic()))

    def _carry_out(self, effects: list[Effect]) -> None:
        """Carry out ``effects`` in order, and those of the completions they cause at once (a submission
        the session rejects), after them."""
        self._pending.extend(effects)
        while self._pending:
            effect = self._pending.popleft()
            if isinstance(effect, Submit):
                if self.memo is not None and (hit := self._cached(effect.task)) is not None:
                    self._pending.extend(self.state.complete(hit, time.monotonic()))
                    self._rejected = True  # completed at once, like a rejection: the state may decide more
                    continue
                if self.memo is not None and self.memo.uncommitted(effect.task):
                    self.journal.flush()
                try:
                    self.session.submit(effect.task)
                except LaminarError as error:  # e.g. a request no node can satisfy, rejected up front
                    rejected = Completion(effect.task, error=error)
                    self._pending.extend(self.state.complete(rejected, time.monotonic()))
                    self._rejected = True
            elif isinstance(effect, WriteSplit):
                self.journal.split(effect.layer, effect.index, effect.document)
            elif isinstance(effect, WriteLayer):
                self.journal.layer(effect.layer, effect.record)
            elif isinstance(effect, WriteFailure):
                self.journal.failure(effect.layer, effect.index, effect.record)
            elif isinstance(effect, Release):
                self.session.release(effect.layer)
            elif isinstance(effect, Withdraw):
                self.session.cancel(effect.task)
            elif isinstance(effect, Note):
                log.log(effect.level, "%s", effect.message)

    def _cached(self, sent: Task) -> Completion | None:
        """The cache's completion of a unit's first task (its submission task, else its run), if it has
        one: looked up with the whole task (``sent`` carries only the inputs its hooks read)."""
        memo = self.memo
        assert memo is not None
        if sent.layer not in memo.layers or sent.kind not in (TaskKind.submission, TaskKind.run) or sent.tries != 1:
            return None
        if sent.kind is TaskKind.run and sent.layer in self._looked_up and sent.split in self._looked_up[sent.layer]:
            return None  # the run that follows its submission task: looked up already
        self._looked_up.setdefault(sent.layer, set()).add(sent.split)
        return memo.lookup(self.state.in_flight.get(sent.key, sent))
