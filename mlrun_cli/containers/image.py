"""The image a `docker_env` run uses: inspected (id, digest) and, with --build-image, a
derived image with the project copied in, tagged by the project's content so it is built
once and reused while nothing in the project changes.

Images are never pulled: a run uses what the daemon has, so what runs is what was there
(pull or load the image first). A name missing on the daemon is one line and exit 2.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

from mlrun_cli.containers.engine import ContainerError, Engine, call, failure
from mlrun_cli.digest import sha256
from mlrun_cli.values import valueclass

WORKDIR = "/mlflow/projects/code"  # MLflow's working directory in a container, kept as is
DOCKERFILE = "Dockerfile.mlrun-generated"
# Never part of the copy (nor of its content key): version control, our store, bytecode.
SKIPPED = frozenset({".git", ".mlrun", "__pycache__", ".hg", ".svn"})


@valueclass
class Image:
    ref: str  # the name the project gave (or our derived tag)
    id: str  # sha256:..., what a rerun uses
    digest: str | None = None  # repo@sha256:... when the image came from a registry
    base_id: str | None = None  # for a derived image: the id of the image it was built from
    built: bool = False  # built by this run (not reused)


def inspect_image(engine: Engine, ref: str) -> Image:
    """The image `ref` as the daemon has it; a `ContainerError` when it has none."""
    try:
        proc = call(engine, ["image", "inspect", ref], what=f"looking for image {ref}")
    except ContainerError as exc:
        if "no such image" in str(exc).lower() or "image not known" in str(exc).lower():
            raise ContainerError(
                f"image {ref} is not on this machine's {engine.name} daemon and mlrun does not "
                f"pull images; pull or load it first ({engine.name} pull {ref})"
            ) from None
        raise
    try:
        info = json.loads(proc.stdout)[0]
    except (ValueError, IndexError, KeyError):
        raise failure(engine, proc.stdout.decode(errors="replace"), f"inspecting {ref}") from None
    digests = info.get("RepoDigests") or []
    return Image(ref=ref, id=str(info["Id"]), digest=str(digests[0]) if digests else None)


def project_files(root: Path) -> list[Path]:
    """The project's files to copy, sorted, relative to `root` (nothing in `SKIPPED`)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED)
        for name in sorted(filenames):
            found.append(Path(dirpath, name).relative_to(root))
    return found


def content_key(base: Image, root: Path, files: list[Path], user: str) -> str:
    """A digest of everything the derived image holds: its base, every file's name, mode
    and bytes, and the owner its files are given."""
    h = sha256(f"{base.id}\0{user}\0".encode())
    for rel in files:
        path = root / rel
        st = path.lstat()
        h.update(f"{rel}\0{st.st_mode & 0o777}\0".encode())
        h.update(os.readlink(path).encode() if path.is_symlink() else path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def derived_tag(project_name: str | None, root: Path, key: str) -> str:
    """`mlrun-project-<name>:<key prefix>`, a name docker accepts."""
    raw = (project_name or root.name or "project").lower()
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in raw).strip("._-") or "project"
    return f"mlrun-project-{name[:60]}:{key[:16]}"


def build_context(root: Path, files: list[Path], base_id: str, user: str) -> bytes:
    """The build context: the project's files and a Dockerfile copying them to WORKDIR."""
    dockerfile = (
        f"FROM {base_id}\nCOPY --chown={user} . {WORKDIR}\nWORKDIR {WORKDIR}\n"
        f'LABEL mlrun.base="{base_id}"\n'
    ).encode()

    def plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = int(info.mtime)  # a fraction would need a PAX header, which the docker
        return info  # CLI does not take for an archive (it reads stdin as a Dockerfile)

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel in files:
            tar.add(root / rel, arcname=str(rel), recursive=False, filter=plain)
        info = tarfile.TarInfo(DOCKERFILE)
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    return buf.getvalue()


def derived_image(engine: Engine, base: Image, project_name: str | None, root: Path) -> Image:
    """The image `base` with the project at `root` copied in: reused when one with the same
    content exists, else built now."""
    user = f"{os.getuid()}:{os.getgid()}"
    files = project_files(root)
    tag = derived_tag(project_name, root, content_key(base, root, files, user))
    try:
        found = inspect_image(engine, tag)
        return Image(ref=tag, id=found.id, digest=None, base_id=base.id, built=False)
    except ContainerError as exc:
        if "does not pull" not in str(exc):
            raise
    if DOCKERFILE in {str(f) for f in files}:
        raise ContainerError(f"{root / DOCKERFILE} is in the way of the generated Dockerfile")
    context = build_context(root, files, base.id, user)
    call(
        engine,
        ["build", "-q", "--rm", "-f", DOCKERFILE, "-t", tag, "-"],
        what=f"building {tag} from {base.ref}",
        input=context,
    )
    found = inspect_image(engine, tag)
    return Image(ref=tag, id=found.id, digest=None, base_id=base.id, built=True)
