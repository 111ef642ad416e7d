"""unsloth first: it patches transformers, TRL and peft when it is imported, so it must come before them.

unsloth rewrites TRL's trainers and transformers' model code at import time. Imported after
them, the run goes on unpatched (slower, and with unsloth's loader but TRL's own trainer), and
nothing says so. When a profile asks for unsloth, :func:`unsloth_first` imports it before any of
them, or, if one of them is already in the process, stops with the fix.

Notebooks 04 and 05 call it right after loading the profile; :func:`criticlab.llm.policy_engine`
and the trainers call it again (a no-op once unsloth is in), so a path that forgot it stops here
instead of training unpatched.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from criticlab.config import ConfigError

if TYPE_CHECKING:
    from criticlab.config import Profile

PATCHED = ("transformers", "trl", "peft")
"""What unsloth patches when it is imported."""


def wants_unsloth(profile: Profile) -> bool:
    """Whether any training stage of the profile loads its policy with unsloth."""
    return bool(profile.sft.use_unsloth or profile.grpo.use_unsloth)


def unsloth_first(
    asked: bool,
    *,
    modules: Mapping[str, Any] | None = None,
    importer: Callable[[str], Any] = importlib.import_module,
) -> bool:
    """Import unsloth when ``asked``; True when it is (now) imported.

    Raises :class:`~criticlab.config.ConfigError` naming the fix when transformers, TRL or peft
    was imported first, or when unsloth cannot be imported (not installed, or no CUDA device).
    """
    if not asked:
        return False
    loaded = sys.modules if modules is None else modules
    if "unsloth" in loaded:
        return True
    early = [name for name in PATCHED if name in loaded]
    if early:
        raise ConfigError(
            f"the profile asks for unsloth (use_unsloth), which must be imported before transformers, trl "
            f"and peft, but {', '.join(early)} {'was' if len(early) == 1 else 'were'} imported first, so "
            "unsloth's patches would not apply. Fix: restart the kernel and call "
            "criticlab.llm.unsloth_first(criticlab.llm.wants_unsloth(cfg)) right after loading the profile, "
            "before anything else loads a model (notebooks 04 and 05 do); or set use_unsloth: false"
        )
    try:
        importer("unsloth")
    except ImportError as err:
        raise ConfigError(
            f"use_unsloth needs the gpu extra (`make setup-gpu`, then run with .venv-gpu/bin/python): {err}"
        ) from err
    except Exception as err:  # unsloth raises NotImplementedError and others without a CUDA device
        raise ConfigError(
            f"use_unsloth is set but unsloth cannot start here ({type(err).__name__}: {err})"
        ) from err
    return True
