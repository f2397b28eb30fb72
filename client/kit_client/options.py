"""What every command shares: the environment and conversation chosen on `kit`, and the state file."""

from __future__ import annotations

from dataclasses import dataclass

import click

from kit_client.state import Environment, State, default_path

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Options:
    env: str
    conversation: str
    _state: State | None = None

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State(default_path())
        return self._state

    def environment(self) -> Environment:
        return self.state.environment(self.env)


pass_options = click.make_pass_decorator(Options)
