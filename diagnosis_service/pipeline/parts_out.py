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
manifest of this format) or empty: any other directory is refused, never emptied.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ..data.files import (
    not_a_directory,
    replace_dir,
    temp_dir,
    temporary_dir,
    write_atomic,
    write_chunks_atomic,
)
from ..errors import InputError, Problem
from .keyed_merge import merged_lines, sort_key

log = logging.getLogger("diagnosis_service.parts")

FORMAT = "diagnosis-parts/1"
MANIFEST = "manifest.json"


def part_name(index: int) -> str:
    return f"part-{index:06d}.jsonl"


def write_part(directory: str, index: int, result: dict[str, tuple[list[tuple[str, str]], Counter]]) -> dict:
    """Write one part's lines (``evaluate_part``'s result: branches, then members, each sorted by id) to
    ``directory`` on the worker that made them; the manifest's entry for it. Written whole (a temporary
    name renamed), so a retried task leaves one whole file."""
    name = part_name(index)
    if not Path(directory).is_dir():  # a worker that does not see the client's directory must not make its own
        raise InputError(Problem(f"the parts directory {directory} is not visible on the worker "
                                 f"{socket.gethostname()} (pid {os.getpid()})",
                                 suggestion="--out-parts must be on storage every worker shares, at the same path "
                                            "as here"))
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

    write_chunks_atomic(Path(directory) / name, lines(), sweep=False)  # PartsDir.commit does
    return {"file": name, "branches": len(result["branch"][0]), "members": len(result["member"][0]),
            "bytes": size, "sha256": digest.hexdigest(),
            "lamps": {kind: dict(sorted(result[kind][1].items())) for kind in ("branch", "member")}}


class PartsDir:
    """The temporary directory the workers write into, put in place of ``out`` by ``commit``."""

    def __init__(self, out: Path):
        self.out = Path(out).resolve()  # a link's target: the workers write beside what is replaced
        if self.out.exists() and not (is_parts_dir(self.out) or (self.out.is_dir() and not any(self.out.iterdir()))):
            raise InputError(Problem(f"{self.out} exists and is not a parts directory (it has no {MANIFEST} of "
                                     f"format {FORMAT}): it is not replaced", field=("out_parts",),
                                     suggestion="give a new or empty directory, or remove this one first"))
        try:
            # The workers write here: a worker running as another user (a shared cluster) needs the umask's
            # access, which temp_dir gives.
            self.tmp = temp_dir(self.out)
        except OSError as exc:
            raise InputError(Problem(f"cannot write beside {self.out} ({exc.strerror or exc})", field=("out_parts",),
                                     suggestion="a directory on storage this process and every worker can write")) from None

    def __enter__(self) -> PartsDir:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)  # after commit it is gone already

    def commit(self, period: str, entries: list[dict]) -> dict:
        """Write the manifest (parts in order) and put the directory in place, replacing a parts directory
        there, once every part is there at the size its worker reported. Returns the manifest."""
        for entry in entries:
            part = self.tmp / entry["file"]
            size = part.stat().st_size if part.is_file() else None
            if size != entry["bytes"]:
                found = "missing" if size is None else f"{size:,} bytes, not {entry['bytes']:,}"
                raise InputError(Problem(
                    f"part {entry['file']} is not in {self.out} as its worker wrote it ({found}): nothing replaced",
                    suggestion="--out-parts must be on storage every worker shares, at the same path as here"))
        manifest = {"format": FORMAT, "period": period, "parts": entries,
                    "branches": sum(e["branches"] for e in entries), "members": sum(e["members"] for e in entries),
                    "order": "each part: its branches in id order, then its members in id order; "
                             "data merge-parts DIR --out FILE gives the one file in id order"}
        write_atomic(self.tmp / MANIFEST, [json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"])
        for left in sorted(self.tmp.glob(".*")):  # a worker killed mid-part (its task redone elsewhere) left it
            try:
                shutil.rmtree(left) if left.is_dir() and not left.is_symlink() else left.unlink()
            except FileNotFoundError:
                continue
            log.warning("parts: removed %s, a part's temporary left by a worker that stopped", left.name)
        replace_dir(self.tmp, self.out)
        return manifest


def is_parts_dir(path: Path) -> bool:
    try:
        return path.is_dir() and json.loads((path / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def read_manifest(directory: Path) -> dict:
    """The manifest of a parts directory; InputError saying what is wrong with it and what is valid."""
    directory = Path(directory)
    where = str(directory / MANIFEST)
    written_by = "give the directory written by diagnose --engine dask --out-parts"
    if not directory.is_dir():
        raise InputError(not_a_directory(directory, "parts directory", "a parts directory holds manifest.json and "
                                                                      "part files"))
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(Problem(f"no {MANIFEST} in {directory}", file=where, suggestion=written_by)) from None
    except (OSError, ValueError) as exc:
        raise InputError(Problem(f"{MANIFEST} does not read as JSON ({exc})", file=where,
                                 suggestion=written_by)) from None

    def bad(what: str, valid: str) -> InputError:
        return InputError(Problem(f"{MANIFEST}: {what}", file=where, suggestion=f"{valid}; {written_by}"))

    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise bad(f"not of format {FORMAT}", f"an object with \"format\": \"{FORMAT}\"")
    if not isinstance(manifest.get("parts"), list) or not manifest["parts"]:
        raise bad("'parts' is not a list of parts", "one entry per part file, in order")
    if not isinstance(manifest.get("period"), str):
        raise bad("'period' is missing", "the month diagnosed, YYYY-MM")
    for k, entry in enumerate(manifest["parts"]):
        if not isinstance(entry, dict) or entry.get("file") != part_name(k):
            raise bad(f"part {k}'s file is {entry.get('file') if isinstance(entry, dict) else entry!r}",
                      f"part {k} is {part_name(k)}")
        for f in ("branches", "members", "bytes"):
            if not (type(entry.get(f)) is int and entry[f] >= 0):
                raise bad(f"part {k}'s {f!r} is {entry.get(f)!r}", "a whole number, 0 or more")
        if not (isinstance(entry.get("sha256"), str) and re.fullmatch("[0-9a-f]{64}", entry["sha256"])):
            raise bad(f"part {k}'s 'sha256' is {entry.get('sha256')!r}", "64 hexadecimal digits")
    for f, per in (("branches", "branches"), ("members", "members")):
        total = sum(e[per] for e in manifest["parts"])
        if manifest.get(f) != total:
            raise bad(f"'{f}' is {manifest.get(f)!r}, but its parts add up to {total}", "the sum of the parts'")
    return manifest


def merge_parts(directory: Path, out: Path) -> dict:
    """Merge a parts directory into ``out`` (whole or not at all): every branch in id order, then every
    member, the bytes of ``diagnose --out``. Each part is checked against the manifest (its lines, size
    and SHA-256) before anything is written. Returns the manifest."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    out = Path(out)
    if directory.resolve() in out.resolve().parents:
        raise InputError(Problem(f"{out} lies in the parts directory {directory}: writing there would change it, "
                                 "and the next --out-parts replace it", file=str(out),
                                 suggestion="write the merged file elsewhere"))
    out.parent.mkdir(parents=True, exist_ok=True)
    with temporary_dir(out, "merge") as tmp:
        for k, entry in enumerate(manifest["parts"]):
            _split(directory / entry["file"], entry, Path(tmp), k)
        write_chunks_atomic(out, merged_lines(Path(tmp), len(manifest["parts"])))
    return manifest


def _split(path: Path, entry: dict, tmp: Path, index: int) -> None:
    """One part's branch and member lines into the merge's keyed files (``keyed_merge.merged_lines``' input),
    checked against its manifest entry: its size and digest, and each line's subject (branches first)."""
    digest = hashlib.sha256()
    size = 0
    seen = {"branch": 0, "member": 0}
    try:
        source = open(path, "rb")  # noqa: SIM115 (closed below, with the two outputs)
    except FileNotFoundError:
        raise InputError(Problem(f"part {entry['file']} is missing", file=str(path),
                                 suggestion="copy the whole directory; a part file is written by the worker that "
                                            "diagnosed it")) from None
    except OSError as exc:
        raise InputError(Problem(f"part {entry['file']} does not read ({exc.strerror or exc})", file=str(path),
                                 suggestion="a part is a file written by diagnose --out-parts")) from None
    with source, open(tmp / f"{index:06d}.branch", "wb") as branches, open(tmp / f"{index:06d}.member", "wb") as members:
        for number, line in enumerate(source, start=1):
            digest.update(line)
            size += len(line)
            kind = "member" if line.startswith(_MEMBER) else "branch" if line.startswith(_BRANCH) else None
            subject_id = _subject_id(line) if kind and line.endswith(b"\n") else None
            if subject_id is None or (kind == "branch" and seen["member"]):
                raise InputError(Problem("not a diagnosis line of a part (a branch's or a member's, ending with a "
                                         "line break, branches first)", file=str(path), line=number,
                                         suggestion="the part was changed or cut short: run the diagnosis again"))
            seen[kind] += 1
            (branches if kind == "branch" else members).write(b"%b\t%b" % (sort_key(subject_id), line))
    said = (entry["branches"], entry["members"], entry["bytes"], entry["sha256"])
    if (seen["branch"], seen["member"], size, digest.hexdigest()) != said:
        raise InputError(Problem(f"part {entry['file']} is not the one the manifest describes ({seen['branch']:,} "
                                 f"branches, {seen['member']:,} members, {size:,} bytes; the manifest says "
                                 f"{said[0]:,}, {said[1]:,} and {said[2]:,} bytes, and its SHA-256)", file=str(path),
                                 suggestion="a part was changed, cut short or copied from another run: run the "
                                            "diagnosis again"))


_BRANCH, _MEMBER = b'{"subject":"branch",', b'{"subject":"member",'  # the same length
_ID = b'"id":'
_DECODER = json.JSONDecoder()


def _subject_id(line: bytes) -> str | None:
    """The subject's id of a line (``{"subject":"branch","id":"B00001",...``: the id right after the
    subject) without parsing the rest."""
    at = len(_BRANCH) + len(_ID)
    if line[len(_BRANCH):at] != _ID:
        return None
    try:
        value, _ = _DECODER.raw_decode(line[at:at + 400].decode("utf-8", "replace"))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


__all__ = ["FORMAT", "MANIFEST", "PartsDir", "is_parts_dir", "merge_parts", "part_name", "read_manifest", "write_part"]
