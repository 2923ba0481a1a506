"""Hostile and malformed MLproject and python_env.yaml files (issue 15).

Each is refused by `mlrun validate` and `mlrun run` alike, as the real tool runs
(`python -m mlrun_cli`): exit 2, exactly one line on stderr, nothing on stdout, no store
created, and a file refused while loading is never remembered in the validation cache.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from mlrun_cli.errors import EnvError, ParameterError, ProjectError
from mlrun_cli.project.validation import load_validated, read_yaml

Mlrun = Callable[..., subprocess.CompletedProcess[str]]

EP = "entry_points:\n  main:\n    command: echo hi\n"
X1 = "entry_points:\n  main:\n    parameters: {x: {default: 1}}\n    command: "


def bomb(width: int, levels: int, where: str = "name") -> str:
    """The billion laughs: each level an array of `width` aliases of the level below."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + f"\n{where}: *a{levels}\n" + EP


def junk(n: int, printable_only: bool = False) -> bytes:
    rng = random.Random(15)
    if printable_only:  # one long plain scalar: no YAML indicator characters
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789()$;=+~^/<.,"
        return "".join(rng.choice(alphabet) for _ in range(n)).encode()
    return bytes(rng.randrange(128, 256) for _ in range(n))


LONG_DEFAULT = "x" * 10_000
# (id, {file name: content}, the one line expected, "{f}" standing for the file's path
# and "{d}" for the project directory)
CASES: list[tuple[str, dict[str, str | bytes], str]] = [
    (
        "flow-syntax",
        {"MLproject": "entry_points: [main\n"},
        "{f}: line 2, column 1: YAML syntax error: did not find expected ',' or ']'; fix the YAML",
    ),
    (
        "tab-indent",
        {"MLproject": "entry_points:\n\tmain:\n\t\tcommand: echo\n"},
        "{f}: line 2, column 1: YAML syntax error: found character that cannot start any "
        "token; fix the YAML",
    ),
    (
        "top-level-list",
        {"MLproject": "- main\n- other\n"},
        "{f}: (top level) (line 1): ['main', 'other'] is not of type 'object', 'null'",
    ),
    (
        "binary-junk",
        {"MLproject": junk(3000)},
        "{f}: line 1: not UTF-8 text (byte 0xb5 at offset 0); save it as UTF-8",
    ),
    (
        "printable-junk-4k",
        {"MLproject": junk(4000, printable_only=True)},
        "{f}: (top level) (line 1): '"
        + junk(60, printable_only=True).decode()
        + "'... is not of type 'object', 'null'",
    ),
    (
        "control-characters",
        {"MLproject": b"name: demo\nentry_points: \x06\x07\n"},
        "{f}: line 2: YAML syntax error: unacceptable character #x0006: control characters "
        "are not allowed; fix the YAML",
    ),
    (
        "utf-16",
        {"MLproject": EP.encode("utf-16")},
        "{f}: the file is UTF-16 or UTF-32, not UTF-8; save it as UTF-8",
    ),
    (
        "latin-1",
        {"MLproject": "name: caf\xe9\n".encode("latin-1")},
        "{f}: line 1: not UTF-8 text (byte 0xe9 at offset 9); save it as UTF-8",
    ),
    (
        "huge-file",
        {"MLproject": EP + "# padding\n" * 120_000},
        "{f}: 1200043 bytes is too large for a YAML file mlrun reads (at most 1024 KiB); "
        "shorten it",
    ),
    (
        "deep-nesting",
        {"MLproject": "name: " + "[" * 150 + "]" * 150 + "\n" + EP},
        "{f}: line 1: nested more than 100 levels deep; flatten it",
    ),
    (
        "alias-bomb",
        {"MLproject": bomb(10, 5)},
        "{f}: line 5: the document expands to more than 100000 values or 4 MiB of text "
        "through its aliases (*name); write it without nested aliases",
    ),
    (
        "text-bomb",
        {"MLproject": f"a: &a {'x' * 100_000}\nb: [{', '.join(['*a'] * 50)}]\n" + EP},
        "{f}: line 2: the document expands to more than 100000 values or 4 MiB of text "
        "through its aliases (*name); write it without nested aliases",
    ),
    (
        "recursive-alias",
        {"MLproject": "name: &a [*a]\n" + EP},
        "{f}: line 1: alias *a is inside the node it names (a recursive alias); write the "
        "value out",
    ),
    (
        "undefined-alias",
        {"MLproject": "name: *nope\n" + EP},
        "{f}: line 1, column 7: YAML syntax error: found undefined alias; fix the YAML",
    ),
    (
        "duplicate-entry-point",
        {"MLproject": EP + "  main:\n    command: echo other\n"},
        "{f}: line 4, column 3: YAML error: duplicate key 'main' (first on line 2); fix the YAML",
    ),
    (
        "duplicate-in-flow-mapping",
        {"MLproject": "entry_points: {main: {command: a, command: b}}\n"},
        "{f}: line 1, column 35: YAML error: duplicate key 'command' (first on line "
        "1); fix the YAML",
    ),
    (
        "number-and-string-key",
        {"MLproject": "entry_points:\n  1: {command: a}\n  '1': {command: b}\n"},
        "{f}: entry point '1' is declared twice; keep one of them",
    ),
    (
        "two-documents",
        {"MLproject": "---\nname: a\n---\nname: b\n"},
        "{f}: line 3, column 1: YAML syntax error: but found another document; fix the YAML",
    ),
    (
        "huge-integer",
        {"MLproject": f"name: 0x{'f' * 4000}\n" + EP},
        "{f}: line 1, column 7: YAML error: an integer written in 4002 characters is too "
        "large; quote it to make it a string",
    ),
    (
        "impossible-date",
        {"MLproject": "name: [1, 2020-02-30]\n" + EP},
        "{f}: line 1, column 11: YAML error: cannot read '2020-02-30' (day is out of range "
        "for month); quote it to make it a string",
    ),
    (
        "python-object-tag",
        {"MLproject": "name: !!python/object/apply:os.system [id]\n" + EP},
        "{f}: line 1, column 7: YAML error: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system'; fix the YAML",
    ),
    (
        "unhashable-key",
        {"MLproject": "entry_points:\n  ? [a, b]\n  : {command: x}\n"},
        "{f}: line 2, column 5: YAML error: found unhashable key; fix the YAML",
    ),
    (
        "hostile-key",
        {"MLproject": 'entry_points:\n  "evil\\n\\x1b[2J' + "k" * 200 + '": {}\n'},
        "{f}: entry_points.evil\\n\\x1b[2J" + "k" * 31 + "... (line 2): "
        "'command' is a required property; add it",
    ),
    (
        "command-not-a-string",
        {"MLproject": "entry_points:\n  main: {command: [rm, -rf]}\n"},
        "{f}: entry_points.main.command (line 2): ['rm', '-rf'] is not of type 'string'",
    ),
    (
        "parameter-type-number",
        {"MLproject": "entry_points:\n  main:\n    parameters: {x: {type: 5}}\n    command: a\n"},
        "{f}: entry_points.main.parameters.x.type (line 3): 5 is not of type 'string'",
    ),
    (
        "stray-brace",
        {"MLproject": 'entry_points:\n  main:\n    command: "echo {"\n'},
        "entry point 'main': command 'echo {': Single '{' encountered in format string; "
        "escape literal braces as {{ }}",
    ),
    (
        "stray-close-brace",
        {"MLproject": 'entry_points:\n  main:\n    command: "echo }"\n'},
        "entry point 'main': command 'echo }': Single '}' encountered in format string; "
        "escape literal braces as {{ }}",
    ),
    *[
        (
            f"placeholder-{kind}",
            {"MLproject": X1 + f'"echo {placeholder}"\n'},
            f"entry point 'main': command 'echo {placeholder}': {placeholder} is not a "
            "parameter placeholder (only {name}, without attributes, indexes, conversions or "
            "format specs); write {name}, or escape literal braces as {{ }}",
        )
        for kind, placeholder in [
            ("attribute", "{x.__class__}"),
            ("index", "{x[0]}"),
            ("format-spec", "{x:>500000000}"),
            ("conversion", "{x!r}"),
            ("positional", "{}"),
        ]
    ],
    (
        "nul-in-command",
        {"MLproject": 'entry_points:\n  main:\n    command: "echo a\\0b"\n'},
        "entry point 'main': the command contains a NUL character (from the MLproject or a "
        "default); remove it",
    ),
    (
        "command-too-long",
        {"MLproject": f"entry_points:\n  main:\n    command: echo {'y' * 200_000}\n"},
        "entry point 'main': the command with its parameters is over 131071 bytes, more than "
        "one command line holds; shorten it, or pass large values in a file",
    ),
    (
        "placeholder-repeated",
        {
            "MLproject": "entry_points:\n  main:\n    parameters: {x: {default: "
            + LONG_DEFAULT
            + '}}\n    command: "'
            + "{x}" * 50_000
            + '"\n'
        },
        "entry point 'main': the command with its parameters is over 131071 bytes, more than "
        "one command line holds; shorten it, or pass large values in a file",
    ),
    (
        "two-environments",
        {"MLproject": "python_env: p.yaml\nconda_env: c.yaml\n" + EP},
        "{f}: declares python_env and conda_env; a project has one environment, keep one of them",
    ),
    (
        "env-path-nul",
        {"MLproject": 'python_env: "a\\0b"\n' + EP},
        "{f}: python_env: a\\x00b does not exist in {d}; fix the path or add the file",
    ),
    (
        "env-path-too-long",
        {"MLproject": f"conda_env: {'c' * 5000}\n" + EP},
        f"{{f}}: conda_env: '{'c' * 60}'... is not a usable path (File name too long); fix "
        "the path",
    ),
    (
        "docker-without-image",
        {"MLproject": "docker_env: {volumes: [a]}\n" + EP},
        "{f}: docker_env (line 1): 'image' is a required property; add it",
    ),
    (
        "python-env-syntax",
        {"MLproject": EP, "python_env.yaml": "python: [3.11\n"},
        "{d}/python_env.yaml: line 2, column 1: YAML syntax error: did not find expected ',' "
        "or ']'; fix the YAML",
    ),
    (
        "python-env-number",
        {"MLproject": EP, "python_env.yaml": "python: 3.10\n"},
        "{d}/python_env.yaml: python (line 1): 3.1 is not of type 'string'",
    ),
    (
        "python-env-unknown-key",
        {"MLproject": EP, "python_env.yaml": "python: '3.11'\npackages: [numpy]\n"},
        "{d}/python_env.yaml: (top level) (line 1): Additional properties are not allowed "
        "('packages' was unexpected); remove or rename it",
    ),
    (
        "python-env-binary",
        {"MLproject": "python_env: env.yaml\n" + EP, "env.yaml": junk(500)},
        "{d}/env.yaml: line 1: not UTF-8 text (byte 0xb5 at offset 0); save it as UTF-8",
    ),
    (
        "python-env-bomb",
        {"MLproject": EP, "python_env.yaml": bomb(10, 5, where="dependencies")},
        "{d}/python_env.yaml: line 5: the document expands to more than 100000 values or "
        "4 MiB of text through its aliases (*name); write it without nested aliases",
    ),
    (
        "python-env-duplicate",
        {"MLproject": EP, "python_env.yaml": "python: '3.11'\npython: '3.12'\n"},
        "{d}/python_env.yaml: line 2, column 1: YAML error: duplicate key 'python' "
        "(first on line 1); fix the YAML",
    ),
]


def make(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True)
    for name, content in files.items():
        data = content.encode() if isinstance(content, str) else content
        (root / name).write_bytes(data)
    return root


def assert_refused(proc: subprocess.CompletedProcess[str], line: str) -> None:
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert proc.stderr == f"error: {line}\n"


def memos(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").glob("validated/**/*.json"))


def test_the_list_is_long_enough() -> None:
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES) >= 25


@pytest.mark.parametrize(("files", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_in_one_line_by_validate_and_run(
    mlrun: Mlrun, tmp_path: Path, isolated: Path, files: dict[str, str | bytes], line: str
) -> None:
    project = make(tmp_path / "project", files)
    expected = line.replace("{f}", str(project / "MLproject")).replace("{d}", str(project))
    assert_refused(mlrun("validate", str(project), timeout=30), expected)
    assert_refused(mlrun("run", str(project), timeout=30), expected)
    as_json = mlrun("run", str(project), "--json", timeout=30)
    assert (as_json.returncode, as_json.stderr) == (2, f"error: {expected}\n")
    assert json.loads(as_json.stdout) == {
        "schema": "mlrun.error/1",
        "error": expected,
        "exit_code": 2,
    }
    assert not (isolated / ".mlrun").exists(), "a run was recorded for bad input"
    assert not (project / ".mlrun").exists()


def limited(max_bytes: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))

    return limit


@pytest.mark.parametrize("command", ["validate", "run"])
def test_nine_level_alias_bomb_is_refused_at_once(
    tmp_path: Path, isolated: Path, command: str
) -> None:
    """Nine levels of nine never finished (and filled the memory); now well under a second
    of work, in a process that may not use more than 1 GiB."""
    project = make(tmp_path / "project", {"MLproject": bomb(9, 9)})
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "mlrun_cli", command, str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limited(1024**3),
        env=os.environ,
    )
    assert time.monotonic() - start < 20
    assert_refused(
        proc,
        f"{project / 'MLproject'}: line 6: the document expands to more than 100000 values "
        "or 4 MiB of text through its aliases (*name); write it without nested aliases",
    )
    assert memos(tmp_path) == []
    assert not (isolated / ".mlrun").exists()


@pytest.mark.parametrize(
    ("schema", "error"),
    [("mlproject", ProjectError), ("python_env", EnvError), ("sweep", ParameterError)],
)
def test_a_bomb_is_never_remembered(tmp_path: Path, schema: str, error: type[Exception]) -> None:
    """The seven-level bomb wrote 351 MB to the validation cache; a refused file writes
    nothing, whichever file the tool loads through `load_validated`."""
    path = tmp_path / "file.yaml"
    path.write_text(bomb(10, 5, where="dependencies"))
    with pytest.raises(error, match="expands to more than 100000 values"):
        load_validated(schema, path, error)
    assert memos(tmp_path) == []


def test_slurm_config_bomb_is_refused(tmp_path: Path) -> None:
    from mlrun_cli.backends.slurm.config import load_config
    from mlrun_cli.errors import MlrunError

    path = tmp_path / "slurm.yaml"
    path.write_text(bomb(10, 5, where="partition"))
    with pytest.raises(MlrunError, match=r"slurm.yaml: line 5: the document expands"):
        load_config(str(path))
    assert memos(tmp_path) == []


def test_conda_yaml_is_read_within_the_same_limits(tmp_path: Path) -> None:
    """conda.yaml is read with `read_yaml` (no schema): the limits apply there too."""
    path = tmp_path / "conda.yaml"
    path.write_text(bomb(10, 5, where="dependencies"))
    with pytest.raises(EnvError, match=r"conda.yaml: line 5: the document expands"):
        read_yaml(path, EnvError, "")


def test_a_large_stale_memo_is_not_read(tmp_path: Path) -> None:
    """Earlier versions remembered the expansion of a bomb (hundreds of MB); a memo larger
    than any now written is ignored and the file is loaded (and refused) again."""
    from mlrun_cli.digest import sha256
    from mlrun_cli.paths import tool_path
    from mlrun_cli.project.validation import schema_dir

    path = tmp_path / "python_env.yaml"
    path.write_text(bomb(10, 5, where="dependencies"))
    schema = (schema_dir() / "python_env.schema.json").read_bytes()
    digest = sha256(schema + b"\0" + path.read_bytes()).hexdigest()
    memo = tool_path("validated") / "python_env" / f"{digest[:40]}.json"
    memo.parent.mkdir(parents=True)
    memo.write_text('{"dependencies": [' + '"lol",' * 400_000 + '"lol"]}')
    with pytest.raises(EnvError, match="expands to more than 100000 values"):
        load_validated("python_env", path, EnvError)


def test_a_document_within_the_limits_loads(tmp_path: Path) -> None:
    """Aliases and merge keys as real files use them still load; the limits are far above."""
    path = tmp_path / "MLproject"
    path.write_text(
        "base: &base {type: float, default: 0.1}\n"
        "entry_points:\n"
        "  main:\n"
        "    parameters: {a: *base, b: {<<: *base, default: 0.2}}\n"
        "    command: python t.py {a} {b}\n"
    )
    doc = load_validated("mlproject", path, ProjectError)
    assert doc["entry_points"]["main"]["parameters"] == {
        "a": {"type": "float", "default": 0.1},
        "b": {"type": "float", "default": 0.2},
    }


def test_an_integer_entry_point_key_and_an_unknown_name(mlrun: Mlrun, tmp_path: Path) -> None:
    """An integer key made `-e nope` a TypeError (sorting names to list them)."""
    project = make(tmp_path / "p", {"MLproject": "entry_points:\n  1: {command: echo one}\n"})
    proc = mlrun("run", str(project), "-e", "nope", timeout=30)
    assert_refused(
        proc,
        "MLproject: unknown entry point 'nope' (available: 1); pass one with -e, or a .py or "
        ".sh file in the project",
    )
    assert not (Path.cwd() / ".mlrun").exists()


def test_a_lone_surrogate_in_the_command_is_refused(tmp_path: Path) -> None:
    """PyYAML without libyaml reads "\\ud800"; exec could not encode it after the run was
    recorded."""
    from mlrun_cli.project.mlproject import EntryPoint
    from mlrun_cli.project.params import render_command, resolve

    entry = EntryPoint("main", "echo \ud800")
    with pytest.raises(ProjectError) as err:
        render_command(entry, resolve(entry, {}, project_dir=tmp_path))
    assert str(err.value) == (
        "entry point 'main': the command contains '\\ud800', which is not a character (a lone "
        "surrogate); remove it"
    )


def test_long_values_are_cut_in_messages(mlrun: Mlrun, tmp_path: Path) -> None:
    """Whatever a message quotes from the file or the command line is a bounded excerpt."""
    project = make(
        tmp_path / "p",
        {"MLproject": "entry_points:\n  main:\n    parameters: {n: int}\n    command: a {n}\n"},
    )
    proc = mlrun("run", str(project), "-P", "n=" + "9x" * 5000, timeout=30)
    assert_refused(
        proc,
        f"parameter n: '{'9x' * 30}'... is not a valid int; pass -P n=<int>",
    )
