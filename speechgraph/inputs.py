"""What users hand `replay` besides audio: corpus manifests and context files, checked line by line.

A bad line costs only itself: each manifest row becomes a stream, and a row
that cannot be replayed is a stream with one error naming the manifest and the
line, so the rows beside it still run. A file that cannot be read at all is one
`ValueError` naming it (the command prints it as one line).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from nodes.decoder.context import normalise_phrases

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManifestRow:
    """One line of a manifest: its audio (or, when the row is bad, `manifest:line`) and why it cannot run."""

    path: str
    context: list[str] = field(default_factory=list)
    device_playing: bool = False
    error: str | None = None


def read_text(path: str | Path, what: str) -> str:
    """A UTF-8 text file, or a ValueError that names it and says what is wrong."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ValueError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{what} {path}: is a folder, not a file") from None
    except OSError as exc:
        raise ValueError(f"{what} {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{what} {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_context(path: str | Path) -> list[str]:
    """Context phrases, one per line, normalised as the decoder spells (see `normalise_phrases`)."""
    return normalise_phrases(read_text(path, "context file").splitlines())


def read_manifest(path: str | Path, limit: int = 0) -> list[ManifestRow]:
    """The rows of a corpus manifest (the first `limit` lines that are not blank), each with its context.

    Audio paths are relative to the manifest's folder and must stay inside it: a manifest is data,
    and `../../` or an absolute path in it is refused, not opened.
    """
    from corpus.contexts import row_context

    manifest = Path(path)
    text = read_text(manifest, "manifest")
    corpus = manifest.parent
    splits_file = corpus / "splits.json"
    try:
        splits = json.loads(read_text(splits_file, "the manifest's splits file"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{splits_file}: not JSON ({exc})") from None
    rows: list[ManifestRow] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if limit and len(rows) >= limit:
            break
        where = f"{manifest}:{number}"
        try:
            row = json.loads(line)
            audio = _audio_path(corpus, row)
            split = splits.get(row.get("split")) if isinstance(splits, dict) else None
            if split is None:
                raise _BadRow(f"unknown split {row.get('split')!r} (splits.json has {', '.join(splits)})")
            if not isinstance(row.get("id"), str) or not isinstance(row.get("slots"), dict):
                raise _BadRow("needs an 'id' (text) and 'slots' (an object) for its context")
            playing = (row.get("condition") or {}).get("device_playing", "none") not in ("none", None)
            context = row_context(row, split)
        except json.JSONDecodeError as exc:
            rows.append(ManifestRow(where, error=f"not a JSON object ({exc.msg} at column {exc.colno})"))
        except (_BadRow, AttributeError, KeyError, TypeError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, _BadRow) else f"malformed row ({type(exc).__name__}: {exc})"
            rows.append(ManifestRow(where, error=reason))
        else:
            rows.append(ManifestRow(audio, normalise_phrases(context), playing))
    bad = sum(r.error is not None for r in rows)
    if bad:
        log.warning("%s: %d of %d rows cannot be replayed", manifest, bad, len(rows))
    return rows


class _BadRow(ValueError):
    """A manifest row that cannot be replayed, with the reason as users read it."""


def _audio_path(corpus: Path, row: object) -> str:
    if not isinstance(row, dict):
        raise _BadRow(f"not a JSON object but {type(row).__name__}")
    audio = row.get("audio")
    if not isinstance(audio, str) or not audio:
        raise _BadRow("no 'audio' path")
    if os.path.isabs(audio):
        raise _BadRow(f"audio path {audio!r} is absolute: manifest paths are relative to its folder")
    joined = os.path.normpath(corpus / audio)
    if os.path.relpath(joined, os.path.normpath(corpus)).split(os.sep)[0] == os.pardir:
        raise _BadRow(f"audio path {audio!r} leaves the manifest's folder")
    return joined
