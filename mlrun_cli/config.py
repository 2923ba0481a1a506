"""Defaults from configuration files, below flags and environment variables.

A value is taken from, first to last: the command's flag; its environment variable
(``MLRUN_TRACKING_URI``, ``MLRUN_ENV_MANAGER``, ...); the project's config (``mlrun.toml``, or
the ``[tool.mlrun]`` table of ``pyproject.toml``, in the current directory or the nearest
parent holding one, as the store is found); the user's config
(``$XDG_CONFIG_HOME/mlrun/config.toml``, else ``~/.config/mlrun/config.toml``); the built-in
default. A relative path in a file is relative to that file's directory.

A warm `mlrun run` reads this too, so it costs a few stats when no file exists: a file is
read only when present, and a pyproject.toml is parsed only when it names ``tool.mlrun``.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlrun_cli.errors import MlrunError

TYPE_CHECKING = False  # typing costs ~3 ms at start-up; only type checkers need it
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# key -> its environment variable
KEYS = {
    "tracking_uri": "MLRUN_TRACKING_URI",
    "experiment_name": "MLRUN_EXPERIMENT_NAME",
    "env_manager": "MLRUN_ENV_MANAGER",
    "backend": "MLRUN_BACKEND",
    "jobs": "MLRUN_JOBS",
}
PROJECT_FILE = "mlrun.toml"
PYPROJECT = "pyproject.toml"


class ConfigError(MlrunError):
    """A config file (or a setting's environment variable) holds what mlrun cannot use."""


class _Cache:
    # (directory searched from, user config path) -> the files' settings; tests call reset()
    loaded: dict[tuple[str, str], Settings] = {}


def reset() -> None:
    """Forget the files read (tests change directories and files between calls)."""
    _Cache.loaded.clear()


class Settings:
    """What the config files say: key -> (value, the file it came from)."""

    def __init__(self, project: Path | None, user: Path | None) -> None:
        self.project = project  # the project config found, if any
        self.user = user  # the user config, if it exists
        self.values: dict[str, tuple[Any, str]] = {}
        for path in (user, project):  # the project's overrides the user's
            if path is not None:
                for key, value in _read(path).items():
                    self.values[key] = (value, str(path))


def user_config_path() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "mlrun" / "config.toml"


def settings() -> Settings:
    """The config files' settings for the current directory (read once per process)."""
    cwd = Path.cwd()
    user = user_config_path()
    cache_key = (str(cwd), str(user))
    found = _Cache.loaded.get(cache_key)
    if found is None:
        found = _Cache.loaded[cache_key] = Settings(
            _project_config(cwd), user if user.is_file() else None
        )
    return found


def configured(key: str) -> Any:
    """The value for `key` from its environment variable or the config files; None if unset.

    The caller gives its flag first: ``flag or configured(key)``.
    """
    return lookup(key)[0]


def lookup(key: str) -> tuple[Any, str]:
    """`key`'s value below its flag and where it came from (the variable, a file, "default")."""
    var = KEYS[key]
    raw = os.environ.get(var)
    if raw:
        return _check(key, raw, var), var
    if key == "tracking_uri":
        mlflow_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        if mlflow_uri.lower().startswith(("http://", "https://")):
            return mlflow_uri, "MLFLOW_TRACKING_URI"  # a team's MLflow server, as before
    value, origin = settings().values.get(key, (None, "default"))
    return value, origin


def _project_config(start: Path) -> Path | None:
    """The nearest mlrun.toml, or pyproject.toml with a [tool.mlrun] table, from `start` up.

    The search stops where the store's does: at the home directory and MLRUN_STORE_CEILING.
    """
    ceilings = {
        Path(c).absolute() for c in os.environ.get("MLRUN_STORE_CEILING", "").split(os.pathsep) if c
    }
    home = Path.home().absolute()
    if home == start or home in start.parents:
        ceilings.add(home)
    for folder in (start, *start.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
        candidate = folder / PYPROJECT
        if candidate.is_file() and b"tool.mlrun" in _bytes(candidate):
            return candidate
        if folder in ceilings:
            break
    return None


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None


def _read(path: Path) -> dict[str, Any]:
    """The checked settings of one file (its [tool.mlrun] table, for a pyproject.toml)."""
    data = _parse(path, _bytes(path).decode("utf-8", "replace"))
    where = "[tool.mlrun]" if path.name == PYPROJECT else path.name
    if path.name == PYPROJECT:
        data = data.get("tool", {}).get("mlrun", {})
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: tool.mlrun must be a table ([tool.mlrun])")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in KEYS:
            import difflib

            close = difflib.get_close_matches(key, list(KEYS), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{path}: unknown key {key!r} in {where}; {hint}valid keys: {', '.join(sorted(KEYS))}"
            )
        out[key] = _check(key, value, f"{path}: {key}", base=path.parent)
    return out


def _parse(path: Path, text: str) -> dict[str, Any]:
    """The file's tables: simple ones read here, anything else by tomllib (which imports
    typing, 3 ms a run: a warm `mlrun run` with a plain mlrun.toml does without it)."""
    data = _minimal(text)
    if not isinstance(data, int):
        return data
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise _unreadable(str(path), data) from None
    try:
        parsed: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parsed


def _check(key: str, value: Any, where: str, base: Path | None = None) -> Any:
    """`value` for `key` as mlrun uses it, or one line naming `where` and the valid choices."""
    shown = f"{where} = {value!r}" if ":" in where else f"{where}={value!r}"
    if key == "jobs":
        text = "" if isinstance(value, bool) else str(value)
        if text == "auto" or (text.isdigit() and int(text) >= 1):
            return text
        raise ConfigError(f"{shown}: jobs is a number of at least 1, or auto")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{shown}: {key} is a non-empty string")
    if key == "env_manager":
        from mlrun_cli.envs import manager_names

        return _choice(shown, value, manager_names(), "env manager")
    if key == "backend":
        from mlrun_cli.backends import backend_names

        return _choice(shown, value, backend_names(), "backend")
    if key == "tracking_uri" and base is not None:
        return _relative_to(value, base)
    return value


def _choice(shown: str, value: str, choices: Sequence[str], what: str) -> str:
    if value not in choices:
        raise ConfigError(f"{shown} is not a known {what}; choose one of: {', '.join(choices)}")
    return value


def _relative_to(uri: str, base: Path) -> str:
    """A store path in a file is relative to the file; URIs (http://, mlrun://) are kept."""
    scheme, sep, _ = uri.partition(":")
    if sep and len(scheme) > 1 and "/" not in scheme:
        return uri
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else base / path)


def parse_minimal(text: str, where: str) -> dict[str, Any]:
    """The tables of simple ``key = value`` lines (strings, integers, booleans) in `text`;
    what Python 3.10, which has no TOML parser, reads of a config file."""
    data = _minimal(text)
    if isinstance(data, int):
        raise _unreadable(where, data)
    return data


def _unreadable(where: str, line: int) -> ConfigError:
    return ConfigError(
        f"{where}:{line}: cannot read this line without Python 3.11's TOML parser; "
        'write key = "text" or key = 123'
    )


def _minimal(text: str) -> dict[str, Any] | int:
    """`text`'s top level and [tool.mlrun] table when every line of them is a plain
    ``key = value``; else the number of the first line that is not (tomllib's to read).
    Lines of other tables are not looked at, unless a multi-line string could hide one."""
    data: dict[str, Any] = {}
    ours: dict[str, Any] | None = data  # the table the lines go to; None: one not looked at
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if '"""' in line or "'''" in line:
            return number
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if '"' in line or "'" in line:
                return number  # a quoted table name: tomllib reads it
            names = [n.strip() for n in line.split("#")[0].strip().strip("[]").split(".")]
            ours = None
            if names == ["tool", "mlrun"]:
                if "mlrun" in data.get("tool", {}):
                    return number  # a table declared twice: tomllib says so
                ours = data.setdefault("tool", {}).setdefault("mlrun", {})
            continue
        if ours is None:
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        parsed = _minimal_value(value) if sep else None
        if parsed is None or not key.replace("_", "").isalnum() or key in ours:
            return number
        ours[key] = parsed
    return data


def _minimal_value(value: str) -> Any:
    if " #" in value:
        value, _, comment = value.partition(" #")
        value = value.strip()
        if '"' in comment or "'" in comment:
            return None  # the comment sign may be inside a string: tomllib decides
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner if "\\" not in inner and value[0] not in inner else None
    if value in ("true", "false"):
        return value == "true"
    if value.lstrip("-").isdigit():
        return int(value)
    return None
