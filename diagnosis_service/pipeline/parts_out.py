"""A month's output as a directory of parts (``diagnose --engine dask --out-parts DIR``), and its merge.

At the scale of a nation the client's merge of every line into one file is what does not spread over
workers (docs/performance.md: 13 of 14 minutes on 128 workers, extrapolated). With ``--out-parts`` each
worker writes the lines of the part it diagnosed straight into DIR (on storage the workers share), and
the client only writes ``manifest.json``: the parts in order, each with its line counts, size and
SHA-256. A part file holds its branches in id order, then its members in id order. A reader that
takes the subjects one by one (the platform loading each branch's lines) reads the parts as they are;
``data merge-parts DIR --out FILE`` merges them into the one file ``--out FILE`` would have written,
byte for byte.

DIR is written whole or not at all: the parts go to a temporary directory beside it, renamed into place
once the manifest is written. An existing DIR is replaced only when it is a parts directory (it has a
manifest of this format): any other directory is refused, never emptied.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ..data.files import replace_dir, umask_mode, write_atomic, write_chunks_atomic
from ..errors import InputError, Problem

FORMAT = "diagnosis-parts/1"
MANIFEST = "manifest.json"


def part_name(index: int) -> str:
    return f"part-{index:06d}.jsonl"


def write_part(directory: str, index: int, result: dict[str, tuple[list[tuple[str, str]], Counter]]) -> dict:
    """Write one part's lines (``evaluate_part``'s result: branches, then members, each sorted by id) to
    ``directory`` on the worker that made them; the manifest's entry for it. Written whole (a temporary
    name renamed), so a retried task leaves one whole file."""
    name = part_name(index)
    digest = hashlib.sha256()
    size = 0

    def lines() -> Iterator[bytes]:
        nonlocal size
        for kind in ("branch", "member"):
            for _, line in result[kind][0]:
                data = line.encode("utf-8") + b"\n"
                digest.update(data)
                size += len(data)
                yield data

    write_chunks_atomic(Path(directory) / name, lines())
    return {"file": name, "branches": len(result["branch"][0]), "members": len(result["member"][0]),
            "bytes": size, "sha256": digest.hexdigest(),
            "lamps": {kind: dict(sorted(result[kind][1].items())) for kind in ("branch", "member")}}


class PartsDir:
    """The temporary directory the workers write into, put in place of ``out`` by ``commit``."""

    def __init__(self, out: Path):
        self.out = Path(out)
        if self.out.exists() and not _is_parts_dir(self.out):
            raise InputError(Problem(f"{self.out} exists and is not a parts directory (it has no {MANIFEST} of "
                                     f"format {FORMAT}): it is not replaced", field=("out_parts",),
                                     suggestion="give a new directory, or remove this one first"))
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        # The workers write here: a worker running as another user (a shared cluster) needs the umask's access.
        os.chmod(self.tmp, umask_mode(0o777))

    def __enter__(self) -> PartsDir:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)  # after commit it is gone already

    def commit(self, period: str, entries: list[dict]) -> dict:
        """Write the manifest (parts in order) and put the directory in place, replacing a parts directory
        there. Returns the manifest."""
        manifest = {"format": FORMAT, "period": period, "parts": entries,
                    "branches": sum(e["branches"] for e in entries), "members": sum(e["members"] for e in entries),
                    "order": "each part: its branches in id order, then its members in id order; "
                             "data merge-parts DIR --out FILE gives the one file in id order"}
        write_atomic(self.tmp / MANIFEST, [json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"])
        replace_dir(self.tmp, self.out)
        return manifest


def _is_parts_dir(path: Path) -> bool:
    try:
        return path.is_dir() and json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(directory: Path) -> dict:
    """The manifest of a parts directory; InputError saying what is wrong with it."""
    directory = Path(directory)
    where = str(directory / MANIFEST)
    if not directory.is_dir():
        raise InputError(Problem(f"{directory} is not a directory", file=str(directory),
                                 suggestion="give the directory written by diagnose --engine dask --out-parts"))
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(Problem(f"no {MANIFEST} in {directory}", file=where,
                                 suggestion="give the directory written by diagnose --engine dask --out-parts")) from None
    except (OSError, ValueError) as exc:
        raise InputError(Problem(f"{MANIFEST} does not read as JSON ({exc})", file=where)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("parts"), list):
        raise InputError(Problem(f"{MANIFEST} is not of format {FORMAT}", file=where, field=("format",)))
    for k, entry in enumerate(manifest["parts"]):
        if not (isinstance(entry, dict) and entry.get("file") == part_name(k)
                and all(isinstance(entry.get(f), int) and entry[f] >= 0 for f in ("branches", "members", "bytes"))
                and isinstance(entry.get("sha256"), str)):
            raise InputError(Problem(f"part {k} of the manifest is not as written by diagnose", file=where,
                                     field=("parts", k)))
    return manifest


def merge_parts(directory: Path, out: Path) -> dict:
    """Merge a parts directory into ``out`` (whole or not at all): every branch in id order, then every
    member, the bytes of ``diagnose --out``. Each part is checked against the manifest (its lines, size
    and SHA-256) before anything is written. Returns the manifest."""
    from .partitioned import _merged, sort_key

    directory = Path(directory)
    manifest = read_manifest(directory)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.merge.", dir=out.parent) as tmp:
        for k, entry in enumerate(manifest["parts"]):
            _split(directory / entry["file"], entry, Path(tmp), k, sort_key)
        write_chunks_atomic(out, _merged(Path(tmp), len(manifest["parts"])))
    return manifest


def _split(path: Path, entry: dict, tmp: Path, index: int, sort_key) -> None:
    """One part's branch and member lines into the merge's keyed files (``partitioned._merged``'s input),
    checked against its manifest entry."""
    digest = hashlib.sha256()
    size = lines = 0
    counts = {"branch": entry["branches"], "member": entry["members"]}
    try:
        source = open(path, "rb")  # noqa: SIM115 (closed below, with the two outputs)
    except FileNotFoundError:
        raise InputError(Problem(f"part {entry['file']} is missing", file=str(path),
                                 suggestion="copy the whole directory; a part file is written by the worker that "
                                            "diagnosed it")) from None
    with source, open(tmp / f"{index:06d}.branch", "wb") as branches, open(tmp / f"{index:06d}.member", "wb") as members:
        for line in source:
            digest.update(line)
            size += len(line)
            lines += 1
            if not line.endswith(b"\n"):
                break
            kind = "branch" if lines <= counts["branch"] else "member"
            subject_id = _subject_id(line)
            if subject_id is None:
                raise InputError(Problem("not a diagnosis line (no subject id)", file=str(path), line=lines))
            (branches if kind == "branch" else members).write(b"%b\t%b" % (sort_key(subject_id), line))
    if (lines, size, digest.hexdigest()) != (counts["branch"] + counts["member"], entry["bytes"], entry["sha256"]):
        raise InputError(Problem(f"part {entry['file']} is not the one the manifest describes ({lines:,} lines, "
                                 f"{size:,} bytes; the manifest says {counts['branch'] + counts['member']:,} lines, "
                                 f"{entry['bytes']:,} bytes and its SHA-256)", file=str(path),
                                 suggestion="a part was changed, cut short or copied from another run: run the "
                                            "diagnosis again"))


_ID = b'"id":'


def _subject_id(line: bytes) -> str | None:
    """The subject's id of a line (``{"subject":"branch","id":"B00001",...``) without parsing the rest."""
    at = line.find(_ID)
    if at < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(line[at + len(_ID):at + len(_ID) + 400].decode("utf-8", "replace"))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


__all__ = ["FORMAT", "MANIFEST", "PartsDir", "merge_parts", "part_name", "read_manifest", "write_part"]
