"""``load_graph(path)``: read a graph YAML file into a :class:`~agentloom.graph.builder.Graph`.

Parsing follows ``yaml.safe_load`` (no Python tags), but duplicate keys and tabs are refused,
and every problem in the file comes back at once in one :class:`~agentloom.errors.SpecError`,
each line ``file:line:col: CODE message``. Nothing else is ever raised for a bad spec.

Codes: ``YAML`` (syntax), ``TAB``, ``DUPLICATE_KEY``, ``EMPTY``, ``NOT_MAPPING``, ``FILE``,
``ENCODING``; ``UNKNOWN_KEY`` (with the closest valid key), ``MISSING``, ``TYPE``, ``VALUE``,
``UNKNOWN_KIND``; ``MISPLACED`` (a setting in the wrong section); ``UNKNOWN_TOOL``,
``UNKNOWN_MODEL``, ``UNKNOWN_NODE``, ``UNKNOWN_NAME`` (a state path), ``UNKNOWN_INPUT`` (a
placeholder), ``INTERPOLATION``, ``IMPORT`` (``module:attr``), ``LOOP_LIMIT``, ``EDGE``,
``UNREACHABLE``, ``NAME``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from agentloom.errors import SpecError
from agentloom.graph._problems import Problem, format_problems

if TYPE_CHECKING:
    from agentloom.graph.builder import Graph

__all__ = ["load_graph", "parse_graph"]


#: A graph spec is a short YAML file; anything larger is a mistake (a data file, a device).
MAX_SPEC_BYTES = 1024 * 1024


def _read_spec_file(file: Path, source: str) -> bytes:
    """The bytes of a regular file of at most ``MAX_SPEC_BYTES``, checked before reading, so a FIFO
    never blocks, ``/dev/zero`` never fills memory and a huge file is refused at once."""
    st = os.stat(file)  # follows links; FileNotFoundError as usual
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(str(file))
    if not stat.S_ISREG(st.st_mode):
        raise SpecError(f"{source}:1:1: FILE is not a regular file (a pipe, device or socket); give a graph YAML file")
    if st.st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{source}:1:1: FILE is {st.st_size:,} bytes; a graph spec may be at most "
                        f"{MAX_SPEC_BYTES:,} bytes (1 MB); split it or move data out of it")
    with file.open("rb") as fh:
        raw = fh.read(MAX_SPEC_BYTES + 1)
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"{source}:1:1: FILE grew past {MAX_SPEC_BYTES:,} bytes while it was read; a graph spec may be at most 1 MB")
    return raw


def load_graph(path: str | os.PathLike[str]) -> Graph:
    """The graph in the YAML file at ``path``; ``SpecError`` lists every problem in it."""
    file = Path(path)
    source = str(path)
    try:
        raw = _read_spec_file(file, source)
    except FileNotFoundError:
        raise SpecError(f"{source}:1:1: FILE no such file; check the path") from None
    except IsADirectoryError:
        raise SpecError(f"{source}:1:1: FILE is a directory; give a graph YAML file") from None
    except OSError as exc:
        raise SpecError(f"{source}:1:1: FILE cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{source}:1:{exc.start + 1}: ENCODING the file is not UTF-8 text; save it as UTF-8") from None
    return parse_graph(text, source=source, base_dir=file.resolve().parent)


def parse_graph(text: str, *, source: str = "<string>", base_dir: str | os.PathLike[str] | None = None) -> Graph:
    """The graph in YAML ``text``; ``source`` names it in problems, ``base_dir`` anchors relative
    paths and ``module:attr`` imports (default: the working directory)."""
    from agentloom.graph._validate import validate_data
    from agentloom.graph._yaml import parse_yaml
    from agentloom.graph.builder import Graph

    base = Path(base_dir) if base_dir is not None else Path.cwd()
    try:
        data, marks, problems = parse_yaml(text)
        if data is None and problems:
            raise SpecError(format_problems(problems, source))
        validation = validate_data(data, marks, base)
    except SpecError:
        raise
    except RecursionError:
        raise SpecError(f"{source}:1:1: YAML the document is nested too deeply") from None
    except Exception as exc:  # a bug, but the user still gets one line, not a traceback
        problem = Problem("INTERNAL", f"could not check the spec ({type(exc).__name__}: {exc}); please report this", line=1, col=1)
        raise SpecError([problem.format(source)]) from exc
    problems = [*problems, *validation.problems]
    if problems or validation.spec is None:
        raise SpecError(format_problems(problems, source) or [f"{source}:1:1: VALUE the spec is invalid"])
    return Graph.from_spec(validation.spec, source=source, base_dir=base, refs=validation.refs)
