"""The message bus: the one write path of a service (cosmicpython's `bootstrap` + `messagebus`).

Every write is a command handed to `bus.handle(command)` (from an HTTP route, a CLI command, a worker
loop) or an event applied by the consumer through `bus.event_handlers` (inside the consumer's unit of
work, with its inbox row); a run of events of one type in a consumer's batch may go through the type's entry
in `bus.batch_handlers` instead, which does the same with one statement per step for the whole run.
Handlers are plain async functions: the first parameter is the message (a batch handler's: its events);
the others are filled by name from what `bootstrap.py` gives the bus (a fresh unit of work for `uow`,
the calendar, the channels, settings...), so a test builds the same bus with fakes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from shared.db.unit_of_work import UnitOfWork
from shared.events.envelope import Envelope

R = TypeVar("R", covariant=True)
U = TypeVar("U", bound=UnitOfWork)

# (event, its envelope, the consumer's open unit of work), once the bus has filled the other parameters.
EventHandler = Callable[[Any, Envelope, Any], Awaitable[None]]
# ([(event, its envelope), ...] in partition order, the consumer's open unit of work): a run of events of one type,
# each of another case, applied with one statement per step instead of one per event. It must leave what applying
# its events one by one through the type's EventHandler, in the same order, would: the consumer uses either
# (shared/messaging/consumer.py).
BatchEventHandler = Callable[[list[tuple[Any, Envelope]], Any], Awaitable[None]]


class Command(Generic[R]):
    """Base of a command whose handler returns R (`bus.handle` is typed by it)."""


class NoHandler(LookupError):
    pass


class MessageBus(Generic[U]):
    def __init__(self, uow: Callable[[], U], commands: Mapping[type[Command[Any]], Callable[..., Awaitable[Any]]],
                 events: Mapping[str, Callable[..., Awaitable[None]]] | None = None,
                 dependencies: Mapping[str, object] | None = None,
                 batch_events: Mapping[str, Callable[..., Awaitable[None]]] | None = None) -> None:
        self.uow = uow
        deps = dict(dependencies or {})
        self._commands = {kind: _Bound(handler, deps) for kind, handler in commands.items()}
        self.event_handlers: dict[str, EventHandler] = {
            event_type: inject(handler, deps) for event_type, handler in (events or {}).items()}
        missing = sorted(set(batch_events or {}) - set(self.event_handlers))
        if missing:
            raise TypeError(f"a batch handler needs its one-event handler too (retries, replays): {missing}")
        self.batch_handlers: dict[str, BatchEventHandler] = {
            event_type: inject(handler, deps) for event_type, handler in (batch_events or {}).items()}

    async def handle(self, command: Command[R]) -> R:
        """Run the command's handler (with a fresh unit of work if it takes one) and return its result."""
        bound = self._commands.get(type(command))
        if bound is None:
            raise NoHandler(f"no handler for {type(command).__name__}")
        result: R = await (bound.handler(command, uow=self.uow()) if bound.takes_uow else bound.handler(command))
        return result

    def handles(self, command_type: type[Command[Any]]) -> bool:
        return command_type in self._commands


class _Bound:
    """A command handler with its dependencies filled in; `uow` stays open: each command gets its own."""

    def __init__(self, handler: Callable[..., Awaitable[Any]], deps: Mapping[str, object]) -> None:
        self.takes_uow = "uow" in inspect.signature(handler).parameters
        self.handler = inject(handler, deps)


def inject(handler: Callable[..., Awaitable[Any]], deps: Mapping[str, object]) -> Callable[..., Awaitable[Any]]:
    """The handler with each parameter named like a dependency filled in (all but `uow`, per message).
    A parameter without a default that no dependency fills is an error of the wiring, found at start."""
    params = list(inspect.signature(handler).parameters.values())
    given = {p.name: deps[p.name] for p in params if p.name in deps and p.name != "uow"}
    positional = {"uow", "envelope"} | {params[0].name} if params else set()  # a batch handler's first: its events
    missing = [p.name for p in params if p.name not in given and p.name not in positional
               and p.default is inspect.Parameter.empty]
    if missing:
        raise TypeError(f"{handler.__name__} needs {', '.join(missing)}, which bootstrap does not give the bus")
    return functools.partial(handler, **given) if given else handler
