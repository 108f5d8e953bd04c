"""Put on the PYTHONPATH of the aider under test: aider's own retry loop, unchanged, with a shorter cap.

aider (0.86.2) retries a litellm RateLimitError in Coder.send_message whatever its body says (OpenAI's
`insufficient_quota` too): it sleeps 0.25, 0.5, ... 32 s, until the doubled delay passes
aider.models.RETRY_TIMEOUT, a constant of 60 that no flag, setting or variable changes; then it
gives up and exits 0. That is 64 s of sleeping per test. Here RETRY_TIMEOUT is RETRY_CAP_SECONDS:
the same loop prints the same messages, retries three times (0.25, 0.5, 1 s) and gives up the same way.

Loaded by Python's `site` at the interpreter's start (the directory is on PYTHONPATH); it only
wraps the loading of aider.models, so nothing of aider is imported earlier than aider imports it.
A newer aider without RETRY_TIMEOUT fails at once, saying so.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

RETRY_CAP_SECONDS = 1.0


class _CapRetries(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None):
        if name != "aider.models":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        load = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            if not hasattr(module, "RETRY_TIMEOUT"):
                raise RuntimeError("aider.models has no RETRY_TIMEOUT: tests/fakemodel/aider_retry_cap needs "
                                   "updating for this aider")
            module.RETRY_TIMEOUT = RETRY_CAP_SECONDS

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _CapRetries())
