"""A carrier's states and the actions allowed in each, written once, as data.

The station derives a carrier's state from the ledger (state_of in station/view.py);
every action first asks `check(state, action)`, which refuses with the state and the way
forward. The README's "life of a carrier" and the table-driven test read TRANSITIONS.
"""

from __future__ import annotations

from enum import StrEnum

from workbench.errors import ExitCode, WorkbenchError
from workbench.i18n import t


class State(StrEnum):
    NEW = "new"                  # not in the ledger yet
    INTERRUPTED = "interrupted"  # imaging cancelled, crashed or out of disk: resumable
    IMAGED = "imaged"            # success or partial, waiting to be accepted
    FAILED = "failed"            # nothing (usable) read; retry or route elsewhere
    ROUTED = "routed"            # sent to other equipment (needs flux, audio disc)
    BAGGED = "bagged"            # bag made; not yet verified on tape in every pool
    ON_TAPE = "on_tape"          # verified copy in every pool; staging still here
    RELEASED = "released"        # on tape in every pool; staging copies removed
    WITHDRAWN = "withdrawn"      # the bag was withdrawn; the next bag is a new version


class Action(StrEnum):
    IMAGE = "image"              # first imaging, or resume an interrupted one
    RETRY = "retry"              # a new attempt (same or another drive)
    ACCEPT = "accept"            # verify, identify, bag (and stage to tape if mounted)
    ROUTE = "route"              # needs flux / audio disc
    NOTE = "note"
    WITHDRAW = "withdraw"        # a supervisor withdraws the bag
    TAPE_WRITE = "tape_write"
    TAPE_VERIFY = "tape_verify"
    RELEASE = "release"          # remove staging copies


_IMAGING = frozenset({State.IMAGED, State.FAILED, State.INTERRUPTED})
_STAGED = frozenset({State.BAGGED, State.ON_TAPE})

# state -> action -> the states the action can lead to (outcome-dependent)
TRANSITIONS: dict[State, dict[Action, frozenset[State]]] = {
    State.NEW: {Action.IMAGE: _IMAGING},
    State.INTERRUPTED: {Action.IMAGE: _IMAGING, Action.RETRY: _IMAGING,
                        Action.ROUTE: frozenset({State.ROUTED}),
                        Action.NOTE: frozenset({State.INTERRUPTED})},
    State.IMAGED: {Action.ACCEPT: _STAGED, Action.RETRY: _IMAGING,
                   Action.ROUTE: frozenset({State.ROUTED}),
                   Action.NOTE: frozenset({State.IMAGED})},
    State.FAILED: {Action.RETRY: _IMAGING, Action.ROUTE: frozenset({State.ROUTED}),
                   Action.NOTE: frozenset({State.FAILED})},
    State.ROUTED: {Action.RETRY: _IMAGING, Action.ROUTE: frozenset({State.ROUTED}),
                   Action.NOTE: frozenset({State.ROUTED})},
    State.BAGGED: {Action.TAPE_WRITE: _STAGED,
                   Action.TAPE_VERIFY: _STAGED, Action.WITHDRAW: frozenset({State.WITHDRAWN}),
                   Action.NOTE: frozenset({State.BAGGED})},
    State.ON_TAPE: {Action.TAPE_WRITE: frozenset({State.ON_TAPE}),
                    Action.TAPE_VERIFY: _STAGED,
                    Action.RELEASE: frozenset({State.RELEASED}),
                    Action.WITHDRAW: frozenset({State.WITHDRAWN}),
                    Action.NOTE: frozenset({State.ON_TAPE})},
    State.RELEASED: {Action.TAPE_VERIFY: frozenset({State.RELEASED}),
                     Action.WITHDRAW: frozenset({State.WITHDRAWN}),
                     Action.NOTE: frozenset({State.RELEASED})},
    State.WITHDRAWN: {Action.RETRY: _IMAGING, Action.ROUTE: frozenset({State.ROUTED}),
                      Action.NOTE: frozenset({State.WITHDRAWN})},
}

# where a refusal has one obvious way forward, say it (else the allowed actions are listed)
HINTS: dict[tuple[State, Action], str] = {
    (State.BAGGED, Action.RETRY): "station.hint_withdraw_first",
    (State.ON_TAPE, Action.RETRY): "station.hint_withdraw_first",
    (State.RELEASED, Action.RETRY): "station.hint_withdraw_first",
    (State.BAGGED, Action.ROUTE): "station.hint_withdraw_first",
    (State.ON_TAPE, Action.ROUTE): "station.hint_withdraw_first",
    (State.RELEASED, Action.ROUTE): "station.hint_withdraw_first",
    (State.BAGGED, Action.IMAGE): "station.hint_withdraw_first",
    (State.ON_TAPE, Action.IMAGE): "station.hint_withdraw_first",
    (State.RELEASED, Action.IMAGE): "station.hint_withdraw_first",
    (State.ROUTED, Action.ACCEPT): "station.hint_image_again",
    (State.FAILED, Action.ACCEPT): "station.hint_image_again",
    (State.FAILED, Action.IMAGE): "station.hint_retry",
    (State.IMAGED, Action.IMAGE): "station.hint_accept_or_retry",
    (State.ROUTED, Action.IMAGE): "station.hint_retry",
    (State.WITHDRAWN, Action.IMAGE): "station.hint_retry",
    (State.BAGGED, Action.RELEASE): "station.hint_tape_first",
    (State.IMAGED, Action.RELEASE): "station.hint_tape_first",
    (State.NEW, Action.RETRY): "station.hint_image_first",
}


class NotAllowed(WorkbenchError):
    """An action the carrier's state does not allow; says the state and the way on."""

    exit_code = ExitCode.REFUSED  # nothing was read or written

    def __init__(self, item: str, state: State, action: Action) -> None:
        super().__init__("station.not_allowed", item=item, state=state.value,
                         action=action.value)
        self.item, self.state, self.action = item, state, action

    def message(self, lang: str | None = None) -> str:
        hint = HINTS.get((self.state, self.action))
        way = t(hint, lang=lang, item=self.item) if hint else t(
            "station.allowed", lang=lang,
            actions=", ".join(t(f"action.{a.value}", lang=lang) for a in allowed(self.state))
            or "-")
        return t("station.not_allowed", lang=lang, item=self.item,
                 state=t(f"state.{self.state.value}", lang=lang),
                 action=t(f"action.{self.action.value}", lang=lang), way=way)

    def __str__(self) -> str:
        return self.message()


def allowed(state: State) -> list[Action]:
    return list(TRANSITIONS[state])


def check(item: str, state: State, action: Action) -> frozenset[State]:
    """The states `action` may lead to from `state`; NotAllowed when it may not happen."""
    targets = TRANSITIONS[state].get(action)
    if targets is None:
        raise NotAllowed(item, state, action)
    return targets
