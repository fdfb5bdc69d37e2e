"""Where a columnar dataset is (``data.columnar``): a directory or an fsspec URL, and whether one is there."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError, Problem

MARKER = "_dataset.json"


def is_url(location: str | Path) -> bool:
    return "://" in str(location)


def is_dataset(location: str | Path) -> bool:
    """Whether ``location`` (a directory, or an fsspec URL such as s3://bucket/province) holds a dataset."""
    if not is_url(location):
        return (Path(location) / MARKER).is_file()
    try:
        fs, root = filesystem(str(location))
        return bool(fs.isfile(f"{root.rstrip('/')}/{MARKER}"))
    except (InputError, OSError):
        return False


def filesystem(url: str):
    """(fsspec filesystem, path in it) for a URL; an InputError naming what to install when its scheme has
    no implementation here."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise InputError(Problem(f"cannot open {url}: {exc}", file=url,
                                 suggestion="install the fsspec package of that storage (s3fs, gcsfs, adlfs) "
                                            "on the client and every worker, or mount it as a directory")) from None
