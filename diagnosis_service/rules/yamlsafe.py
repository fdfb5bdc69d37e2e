"""Load administrator-written YAML safely and remember where every value came from.

Why not plain ``yaml.safe_load``: we need line and column of each value for error messages, we
refuse aliases outright (the "billion laughs" bomb is built from them, and rule files have no use
for them), we refuse duplicate keys (YAML silently keeps the last one), and we bound file size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, RuleError

MAX_FILE_BYTES = 1_000_000  # a generous bound: the default rule files are a few kB
MAX_NODES = 200_000
MAX_DEPTH = 100  # nesting; deeper, building the values ran out of Python's stack (a crash, not an error)
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_NUMBER = 1e12  # numbers beyond it (a 400-digit integer, .inf) are no threshold anyone means

Path_ = tuple[Any, ...]
ALLOWED_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")}


@dataclass
class Located:
    """A parsed YAML document plus the (line, column) of every value and key, both 1-based."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_, key: bool = False) -> tuple[int | None, int | None]:
        """Position of the value at ``path`` (or of its key); falls back to the nearest parent."""
        table = self.key_positions if key else self.positions
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False, rule_id: str | None = None,
                suggestion: str | None = None) -> Problem:
        line, col = self.where(path, key=key)
        return Problem(message, file=self.file, line=line, column=col, rule_id=rule_id, suggestion=suggestion)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and anchors before anything is built."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in rule or catalog files", event.start_mark)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.composer.ComposerError(
                None, None, f"YAML anchors (&{anchor}) are not allowed in rule or catalog files", event.start_mark)
        return super().compose_node(parent, index)


# libyaml's parser and composer, when PyYAML has them: ~5x faster on the catalog's files. Aliases and
# anchors are then refused from the event stream before composing (the C composer cannot be hooked).
_CLoader = getattr(yaml, "CSafeLoader", None)


def _refuse_aliases(text: str) -> None:
    for event in yaml.parse(text, Loader=_CLoader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in rule or catalog files", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise yaml.composer.ComposerError(
                None, None, f"YAML anchors (&{anchor}) are not allowed in rule or catalog files", event.start_mark)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def load_text(text: str, file: str) -> Located:
    """Parse YAML text; raise RuleError with file:line:column on any problem."""
    size = len(text.encode("utf-8", "surrogatepass"))
    broken = _SURROGATE.search(text)
    if broken:
        line = text.count("\n", 0, broken.start()) + 1
        column = broken.start() - (text.rfind("\n", 0, broken.start()) + 1) + 1
        raise RuleError(Problem("not valid Unicode text (a lone surrogate)", file=file, line=line, column=column))
    if size > MAX_FILE_BYTES:
        raise RuleError(Problem(f"file is {size} bytes, over the limit of {MAX_FILE_BYTES}",
                                file=file, line=1, column=1, suggestion="split it into several files"))
    loader = _Loader(text) if _CLoader is None else _CLoader(text)
    try:
        if _CLoader is not None:
            _refuse_aliases(text)
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        text = str(exc.problem or exc.context)
        # Where the parser was when it met the problem: an unclosed bracket or quote is found lines later.
        started = exc.context_mark if exc.problem and exc.context and exc.context_mark is not None else None
        if started is not None and (started.line, started.column) != (mark.line, mark.column):
            text += f" ({exc.context} started at line {started.line + 1}, column {started.column + 1})"
        raise RuleError(Problem(text if text.startswith("YAML") else f"YAML syntax: {text}", file=file,
                                line=line, column=col)) from None
    except yaml.YAMLError as exc:
        raise RuleError(Problem(f"YAML syntax: {exc}", file=file)) from None
    except RecursionError:  # the pure-Python composer recurses per level of nesting
        raise _too_deep(file, 1, 1) from None
    finally:
        loader.dispose()
    doc = Located(file=file, data=None)
    if node is None:
        doc.positions[()] = (1, 1)
        return doc
    constructor = yaml.constructor.SafeConstructor()
    count = [0]
    doc.data = _build(node, (), doc, constructor, count)
    return doc


def _too_deep(file: str, line: int, column: int) -> RuleError:
    return RuleError(Problem(f"values nested more than {MAX_DEPTH} levels deep", file=file, line=line, column=column,
                             suggestion="rule and catalog files need a few levels"))


def _build(node: yaml.Node, path: Path_, doc: Located, constructor: yaml.constructor.SafeConstructor,
           count: list[int]) -> Any:
    if len(path) > MAX_DEPTH:
        raise _too_deep(doc.file, *_mark(node))
    count[0] += 1
    if count[0] > MAX_NODES:
        raise RuleError(Problem(f"document has more than {MAX_NODES} values", file=doc.file,
                                line=_mark(node)[0], column=_mark(node)[1]))
    doc.positions[path] = _mark(node)
    if node.tag not in ALLOWED_TAGS:
        line, col = _mark(node)
        raise RuleError(Problem(f"YAML tag {node.tag!r} is not allowed", file=doc.file, line=line, column=col,
                                suggestion="write plain values"))
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _mark(key_node)
                raise RuleError(Problem("mapping keys must be plain words", file=doc.file, line=line,
                                        column=col))
            key = None if key_node.tag.endswith(":merge") else _scalar(key_node, doc, constructor)
            if key is None or key == "<<":
                line, col = _mark(key_node)
                raise RuleError(Problem("YAML merge keys (<<) are not allowed", file=doc.file,
                                        line=line, column=col))
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                line, col = _mark(key_node)
                raise RuleError(Problem(f"duplicate key '{key}'", file=doc.file, line=line, column=col))
            doc.key_positions[path + (key,)] = _mark(key_node)
            out[key] = _build(value_node, path + (key,), doc, constructor, count)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), doc, constructor, count) for i, item in enumerate(node.value)]
    value = _scalar(node, doc, constructor)
    # Dates and binary blobs have no place in rule files; keep their text so validation reports them.
    if not isinstance(value, (str, int, float, bool, type(None))):
        return node.value
    if isinstance(value, str) and _SURROGATE.search(value):
        line, col = _mark(node)
        raise RuleError(Problem("not valid Unicode text (an escaped lone surrogate)", file=doc.file, line=line,
                                column=col))
    if isinstance(value, int | float) and not isinstance(value, bool) and not abs(value) <= MAX_NUMBER:
        line, col = _mark(node)
        raise RuleError(Problem(f"number {node.value[:20]}{'...' if len(node.value) > 20 else ''} is out of range",
                                file=doc.file, line=line, column=col,
                                suggestion=f"numbers in rule files are finite and within ±{MAX_NUMBER:g}"))
    return value


def _scalar(node: yaml.Node, doc: Located, constructor: yaml.constructor.SafeConstructor) -> Any:
    try:
        return constructor.construct_object(node)
    except yaml.YAMLError as exc:
        line, col = _mark(node)
        raise RuleError(Problem(f"bad YAML value: {getattr(exc, 'problem', exc)}", file=doc.file, line=line,
                                column=col)) from None


def load_file(path: Path) -> Located:
    """Read and parse one YAML file with the size bound checked before reading it whole."""
    name = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RuleError(Problem(f"cannot read: {exc.strerror}", file=name)) from None
    if size > MAX_FILE_BYTES:
        raise RuleError(Problem(f"file is {size} bytes, over the limit of {MAX_FILE_BYTES}", file=name,
                                line=1, column=1, suggestion="split it into several files"))
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(not_utf8(name, data, exc)) from None
    return load_text(text, name)


def not_utf8(name: str, data: bytes, exc: UnicodeDecodeError) -> Problem:
    """Where a file stops being UTF-8 (line, and column counted in bytes), and what to do about it."""
    line_start = data.rfind(b"\n", 0, exc.start) + 1
    return Problem(f"not UTF-8 text (byte 0x{data[exc.start]:02X})", file=name, line=data.count(b"\n", 0, exc.start) + 1,
                   column=exc.start - line_start + 1, suggestion="save the file as UTF-8")


def misnamed_yaml(directory: Path, what: str) -> list[Problem]:
    """A problem for each file of ``directory`` that looks like YAML but is not named ``*.yaml`` (``x.yml``,
    ``x.YAML``): such files are not read, so a rule or resource in one would be left out without a word."""
    return [Problem(f"not read: {what} are named *.yaml", file=str(path), suggestion=f"rename it to {path.stem}.yaml")
            for path in sorted(Path(directory).iterdir())
            if path.suffix.lower() in (".yml", ".yaml") and path.suffix != ".yaml" and path.is_file()]
