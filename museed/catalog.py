"""The FMA catalog: real `fma_metadata/tracks.csv` + `genres.csv` and the audio tree beside them.

Works on the real Free Music Archive download (fma_full: 106,574 tracks) and on the project's synthetic
corpus, which is written in the same format. `tracks.csv` has the FMA multi-row header::

    ,album,album,...,track,track                 <- top-level column names
    ,comments,date_created,...,tags,title         <- sub-column names
    track_id,,,...,,                              <- index name
    2,0,2008-11-26 01:44:45,...,[],Food           <- data

and is read like the FMA project's own `utils.load()` (`pd.read_csv(path, index_col=0, header=[0, 1])`),
restricted to the columns MUSEED uses. Top-level genres are whatever `genres.csv` says has `parent == 0`.
"""

from __future__ import annotations

import ast
import csv
import json
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from museed.errors import PipelineError

__all__ = [
    "AUDIO_DIR_NAMES",
    "AUDIO_EXTENSIONS",
    "TRACK_COLUMNS",
    "Catalog",
    "CatalogError",
    "CatalogReport",
    "audio_path_for",
    "load_catalog",
]

AUDIO_DIR_NAMES = ("fma_full", "fma_large", "fma_medium", "fma_small")  # preference order
# .mp3 first: when a track has several files, the FMA format wins
AUDIO_EXTENSIONS = (".mp3", ".ogg", ".flac", ".wav", ".m4a")
METADATA_DIR_NAME = "fma_metadata"

# (top-level, sub-column) in tracks.csv -> column of Catalog.tracks
_USED_COLUMNS: dict[tuple[str, str], str] = {
    ("track", "title"): "title",
    ("artist", "id"): "artist_id",
    ("artist", "name"): "artist_name",
    ("album", "id"): "album_id",
    ("album", "title"): "album_title",
    ("track", "genre_top"): "genre_top",
    ("track", "genres"): "genres",
    ("track", "genres_all"): "genres_all",
    ("track", "duration"): "duration",
    ("track", "license"): "license",
    ("set", "split"): "split",
    ("set", "subset"): "subset",
}
_TEXT_COLUMNS = ("title", "artist_name", "album_title", "genre_top", "license", "split", "subset")

TRACK_COLUMNS = (
    "title",
    "artist_id",
    "artist_name",
    "album_id",
    "album_title",
    "genre_top",
    "genre_top_source",
    "genres",
    "genres_all",
    "duration",
    "license",
    "split",
    "subset",
    "audio_path",
)


_AudioScan = tuple[dict[int, str], list[Path]]  # listed track id -> audio path, unlisted audio files


class CatalogError(PipelineError):
    """The FMA metadata is missing or not in the FMA format."""


def audio_path_for(audio_dir: Path, track_id: int) -> Path:
    """Return where FMA keeps a track's audio: track 2 -> `<audio_dir>/000/000002.mp3`."""
    tid = f"{int(track_id):06d}"
    return Path(audio_dir) / tid[:3] / f"{tid}.mp3"


@dataclass
class CatalogReport:
    """What the loader found: listing vs audio on disk, and where each `genre_top` came from."""

    listed: int
    with_audio: int
    missing_audio: list[int] = field(default_factory=list)
    unlisted_audio: list[Path] = field(default_factory=list)
    genre_top_listed: int = 0
    genre_top_derived: int = 0
    genre_top_unknown: int = 0
    artists: int = 0

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the CLI."""

        def examples(items: Iterable[object], limit: int = 5) -> str:
            items = list(items)
            shown = ", ".join(str(i) for i in items[:limit])
            return f" (e.g. {shown}{', ...' if len(items) > limit else ''})" if items else ""

        return [
            f"tracks listed in tracks.csv: {self.listed:,} by {self.artists:,} artists",
            f"tracks with audio: {self.with_audio:,}",
            f"listed tracks without audio: {len(self.missing_audio):,}{examples(self.missing_audio)}",
            f"audio files not listed: {len(self.unlisted_audio):,}{examples(self.unlisted_audio)}",
            f"genre_top listed: {self.genre_top_listed:,}, derived from a unique root genre: "
            f"{self.genre_top_derived:,}, unknown (no or several roots): {self.genre_top_unknown:,}",
        ]


@dataclass
class Catalog:
    """The loaded FMA catalog: genres, tracks (one row per listed track) and the load report."""

    root: Path
    audio_dir: Path | None
    genres: pd.DataFrame
    tracks: pd.DataFrame
    report: CatalogReport

    @property
    def top_level_genres(self) -> list[str]:
        """Titles of the root genres (`parent == 0` in genres.csv), ordered by genre_id."""
        roots = self.genres[self.genres["parent"] == 0].sort_index()
        return [str(t) for t in roots["title"]]

    def with_audio(self) -> pd.DataFrame:
        """The tracks whose audio file exists."""
        return self.tracks[self.tracks["audio_path"].notna()]

    def audio_paths(self) -> dict[int, str | None]:
        """Every listed track id -> its audio file (None when the catalog found no file), in listing order.

        The one catalog -> audio mapping: embedding, tagging, training and evaluation all read audio through it.
        """
        return {
            int(tid): (path if isinstance(path, str) else None)
            for tid, path in zip(self.tracks.index, self.tracks["audio_path"], strict=True)
        }

    def genre_title(self, genre_id: int) -> str:
        """Title of a genre id; raises KeyError for an id that genres.csv does not list."""
        try:
            return str(self.genres.at[int(genre_id), "title"])
        except KeyError:
            raise KeyError(f"genre id {genre_id} is not in genres.csv") from None


def load_catalog(fma_root: Path, audio_dir_name: str | None = None, scan_unlisted: bool = True) -> Catalog:
    """Load `fma_root/fma_metadata/{tracks,genres}.csv` and match the listing against the audio tree.

    `audio_dir_name` picks the audio directory (default: the first of AUDIO_DIR_NAMES that exists).
    With `scan_unlisted=False` only the folders of listed tracks are read, so `unlisted_audio` stays empty.
    Missing or unlisted audio is reported, never fatal; missing or malformed metadata raises CatalogError.
    """
    root = Path(fma_root).expanduser().absolute()
    genres = _read_genres(root / METADATA_DIR_NAME / "genres.csv")
    tracks = _read_tracks(root / METADATA_DIR_NAME / "tracks.csv")

    genre_top, source = _resolve_genre_top(tracks, genres)
    tracks["genre_top"] = pd.Series(genre_top, index=tracks.index, dtype=object)
    position = tracks.columns.get_loc("genre_top") + 1
    tracks.insert(position, "genre_top_source", pd.Series(source, index=tracks.index, dtype=object))

    audio_dir = _choose_audio_dir(root, audio_dir_name)
    listed_ids = set(tracks.index.tolist())
    found: dict[int, str] = {}
    unlisted: list[Path] = []
    if audio_dir is not None:
        found, unlisted = _scan_audio(audio_dir, listed_ids, scan_unlisted)
    # a list, not Index.map: pandas would turn the missing paths into NaN
    tracks["audio_path"] = pd.Series([found.get(t) for t in tracks.index], index=tracks.index, dtype=object)
    has_audio = tracks["audio_path"].notna()

    report = CatalogReport(
        listed=len(tracks),
        with_audio=int(has_audio.sum()),
        missing_audio=[int(t) for t in tracks.index[~has_audio]],
        unlisted_audio=sorted(unlisted),
        genre_top_listed=source.count("listed"),
        genre_top_derived=source.count("derived"),
        genre_top_unknown=source.count("unknown"),
        artists=int(tracks["artist_id"].nunique()),
    )
    return Catalog(root=root, audio_dir=audio_dir, genres=genres, tracks=tracks, report=report)


# --------------------------------------------------------------------------------------------- genres.csv


def _read_genres(path: Path) -> pd.DataFrame:
    """genres.csv -> index genre_id; columns title, parent, top_level, n_tracks."""
    if not path.is_file():
        raise CatalogError(f"FMA genres file not found: {path}")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot parse {path}: {exc}") from None
    missing = [c for c in ("genre_id", "parent", "title") if c not in raw.columns]
    if missing:
        fma_header = "genre_id,#tracks,parent,title,top_level"
        raise CatalogError(f"{path} lacks column(s) {missing}; expected the FMA header {fma_header}")
    try:
        ids = raw["genre_id"].astype(int)
        parent = raw["parent"].replace("", "0").astype(int)
        top_level = raw["top_level"].astype(int) if "top_level" in raw else None
        n_tracks = raw["#tracks"].replace("", "0").astype(int) if "#tracks" in raw else 0
    except ValueError as exc:
        raise CatalogError(f"{path}: non-integer genre id, parent, top_level or #tracks ({exc})") from None
    genres = pd.DataFrame(
        {"title": raw["title"].to_numpy(), "parent": parent.to_numpy(), "n_tracks": np.asarray(n_tracks)},
        index=pd.Index(ids.to_numpy(), name="genre_id"),
    )
    if genres.index.has_duplicates:
        dupes = sorted(set(genres.index[genres.index.duplicated()].tolist()))
        raise CatalogError(f"{path}: duplicate genre ids {dupes[:10]}")
    if top_level is None:
        top_level = _roots_by_walking_parents(genres["parent"], path)
    genres.insert(2, "top_level", top_level.to_numpy())
    return genres[["title", "parent", "top_level", "n_tracks"]]


def _roots_by_walking_parents(parent: pd.Series, path: Path) -> pd.Series:
    """top_level for a genres.csv that lacks the column: follow parents up to a genre with parent 0."""
    parent_of = parent.to_dict()
    roots: dict[int, int] = {}
    for gid in parent_of:
        seen: list[int] = []
        node = gid
        while parent_of.get(node, 0) != 0:
            if node in seen or parent_of[node] not in parent_of:
                raise CatalogError(f"{path}: genre {gid} has a broken parent chain {[*seen, node]}")
            seen.append(node)
            node = parent_of[node]
        roots[gid] = node
    return pd.Series(roots).reindex(parent.index)


# --------------------------------------------------------------------------------------------- tracks.csv


def _check_header(path: Path) -> None:
    """Fail with a clear message unless tracks.csv starts with the 3-line FMA header and has our columns."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            lines = [next(reader, None) for _ in range(3)]
    except UnicodeDecodeError:
        raise CatalogError(f"{path} is not UTF-8 text") from None
    except csv.Error as exc:
        raise CatalogError(f"{path}: unreadable header ({exc})") from None
    expected = "the FMA 3-line header (top-level names, sub-column names, then 'track_id,,,...')"
    if any(line is None for line in lines):
        raise CatalogError(f"{path} is too short for {expected}")
    top, sub, index_line = (line or [""] for line in lines)
    if index_line[0] != "track_id" or any(index_line[1:]) or top[0] or sub[0]:
        raise CatalogError(f"{path} does not start with {expected}; line 3 is {','.join(index_line)[:80]!r}")
    if not len(top) == len(sub) == len(index_line):
        counts = f"{len(top)}, {len(sub)} and {len(index_line)}"
        raise CatalogError(f"{path}: header lines have {counts} cells; expected {expected}")
    columns = list(zip(top[1:], sub[1:], strict=True))
    missing = [f"{a}/{b}" for a, b in _USED_COLUMNS if (a, b) not in columns]
    if missing:
        raise CatalogError(f"{path} lacks the FMA column(s) {', '.join(missing)}")


def _read_tracks(path: Path) -> pd.DataFrame:
    """tracks.csv -> index track_id; the columns MUSEED uses under plain names (without audio_path)."""
    if not path.is_file():
        raise CatalogError(f"FMA tracks file not found: {path}")
    _check_header(path)
    text_names = (*_TEXT_COLUMNS, "genres", "genres_all")
    text_columns = [key for key, name in _USED_COLUMNS.items() if name in text_names]
    try:
        with warnings.catch_warnings():
            # mixed types in columns MUSEED drops (dates, bios) are not our concern
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            # the FMA utils.load() parse; pandas also checks every row has the header's number of cells
            raw = pd.read_csv(
                path,
                index_col=0,
                header=[0, 1],
                dtype=dict.fromkeys(text_columns, str),  # ids and duration: numbers inferred
                keep_default_na=False,  # a track titled "NA" or "null" stays a title
                na_values=[""],
                encoding="utf-8",  # the C parser decodes UTF-8 itself (utf-8-sig goes through Python: slower)
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise CatalogError(f"cannot parse {path}: {exc}") from None
    raw = raw[list(_USED_COLUMNS)]
    raw.columns = list(_USED_COLUMNS.values())

    if not pd.api.types.is_integer_dtype(raw.index):
        try:
            raw.index = pd.Index(pd.to_numeric(raw.index, errors="raise"))
        except (ValueError, TypeError):
            bad = [i for i in raw.index if not str(i).strip().isdigit()][:5]
            raise CatalogError(f"{path}: track ids must be integers, got {bad}") from None
        if len(raw) and not pd.api.types.is_integer_dtype(raw.index):
            raise CatalogError(f"{path}: track ids must be integers")
    raw.index = pd.Index(raw.index.astype("int64"), name="track_id")
    if raw.index.has_duplicates:
        dupes = sorted(set(raw.index[raw.index.duplicated()].tolist()))
        raise CatalogError(f"{path}: duplicate track ids {dupes[:10]}")

    tracks = pd.DataFrame(index=raw.index)
    tracks["title"] = _text(raw["title"], missing="")
    tracks["artist_id"] = _integers(raw["artist_id"], "artist/id", path, nullable=False)
    tracks["artist_name"] = _text(raw["artist_name"], missing="")
    tracks["album_id"] = _integers(raw["album_id"], "album/id", path, nullable=True)
    tracks["album_title"] = _text(raw["album_title"])
    tracks["genre_top"] = _text(raw["genre_top"])
    tracks["genres"] = _int_lists(raw["genres"], "track/genres", path)
    tracks["genres_all"] = _int_lists(raw["genres_all"], "track/genres_all", path)
    try:
        tracks["duration"] = pd.to_numeric(raw["duration"], errors="raise").astype("float64")
    except (ValueError, TypeError):
        raise CatalogError(f"{path}: track/duration holds non-numeric values") from None
    for name in ("license", "split", "subset"):
        tracks[name] = _text(raw[name])
    return tracks


def _text(column: pd.Series, missing: str | None = None) -> pd.Series:
    """Object column of str with `missing` (None or "") where the csv cell was empty — never NaN."""
    return pd.Series(column.to_numpy(dtype=object, na_value=missing), index=column.index, dtype=object)


def _integers(column: pd.Series, label: str, path: Path, *, nullable: bool) -> pd.Series:
    """Integer column: int64, or pandas nullable Int64 when empty cells are allowed."""
    try:
        values = pd.to_numeric(column, errors="raise")
    except (ValueError, TypeError):
        raise CatalogError(f"{path}: {label} holds non-numeric values") from None
    if not nullable and values.isna().any():
        empty = column.index[values.isna()][:10].tolist()
        raise CatalogError(f"{path}: {label} is empty for track(s) {empty}")
    try:
        return values.astype("Int64" if nullable else "int64")
    except (ValueError, TypeError):
        raise CatalogError(f"{path}: {label} holds non-integer values") from None


def _int_lists(column: pd.Series, label: str, path: Path) -> pd.Series:
    """Parse list cells like "[21, 76]" into list[int]; each distinct cell text is parsed once."""
    cells = column.to_numpy(dtype=object, na_value=None)  # numpy iteration: far faster than arrow strings
    parsed: dict[str | None, list[int]] = {None: []}  # an empty cell is an empty list
    for text in dict.fromkeys(cells.tolist()):
        if text is None:
            continue
        try:
            # JSON is ~10x faster than ast.literal_eval and covers FMA's "[21, 76]"
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                value = None
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value
        ):
            where = column.index[column == text][:5].tolist()
            problem = f"{label} must be a list of genre ids, got {text!r}"
            raise CatalogError(f"{path}: {problem} (track ids {where})")
        parsed[text] = [int(v) for v in value]
    # fresh list per row: rows sharing a cell text must not share a mutable list
    return pd.Series([list(parsed[v]) for v in cells], index=column.index, dtype=object)


def _resolve_genre_top(tracks: pd.DataFrame, genres: pd.DataFrame) -> tuple[list[str | None], list[str]]:
    """genre_top title and its source per track: listed, derived from a unique root, or unknown.

    FMA leaves genre_top empty when a track's genres lead to several roots (or none); every id in
    genres_all and genres is mapped to its root (`top_level`) and a single root gives the title.
    """
    root_of: dict[int, int] = genres["top_level"].to_dict()
    title_of: dict[int, str] = genres["title"].to_dict()
    titles: list[str | None] = tracks["genre_top"].tolist()
    sources = ["listed" if t is not None else "unknown" for t in titles]
    all_ids, ids = tracks["genres_all"].to_numpy(), tracks["genres"].to_numpy()
    for i in np.flatnonzero(tracks["genre_top"].isna().to_numpy()):
        roots = {root_of[g] for g in (*all_ids[i], *ids[i]) if g in root_of}
        if len(roots) == 1 and (title := title_of.get(roots.pop())) is not None:
            titles[i], sources[i] = title, "derived"
    return titles, sources


# ---------------------------------------------------------------------------------------------- audio tree


def _choose_audio_dir(root: Path, audio_dir_name: str | None) -> Path | None:
    """The requested audio directory, else the first of AUDIO_DIR_NAMES present, else None."""
    if audio_dir_name is not None:
        chosen = root / audio_dir_name
        if not chosen.is_dir():
            raise CatalogError(f"audio directory not found: {chosen}")
        return chosen
    for name in AUDIO_DIR_NAMES:
        if (root / name).is_dir():
            return root / name
    return None


def _scan_audio(audio_dir: Path, listed_ids: set[int], scan_unlisted: bool) -> _AudioScan:
    """Map listed track ids to their audio file and collect audio files that belong to no listed track.

    A listed track's audio is `<audio_dir>/<first 3 digits>/<6-digit id>.<ext>`, as in FMA; any other audio
    file (unlisted id, name that is not a track id, wrong folder) is unlisted.
    """
    rank = {ext: i for i, ext in enumerate(AUDIO_EXTENSIONS)}
    found: dict[int, tuple[int, str]] = {}
    unlisted: list[Path] = []

    def visit_folder(folder: str, name: str) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            stem, dot, ext = entry.name.rpartition(".")
            ext_rank = rank.get(dot + ext.lower())
            if ext_rank is None or not entry.is_file():
                if scan_unlisted and entry.is_dir():
                    visit_other(entry.path)
                continue
            tid = int(stem) if stem.isdigit() else -1
            if tid in listed_ids and stem == f"{tid:06d}" and stem[:3] == name:
                best = found.get(tid)
                if best is None or ext_rank < best[0]:
                    found[tid] = (ext_rank, entry.path)
            elif scan_unlisted:
                unlisted.append(Path(entry.path))

    def visit_other(folder: str) -> None:
        # anything outside an FMA "NNN" folder can only be unlisted audio
        for dirpath, _dirs, files in os.walk(folder):
            unlisted.extend(Path(dirpath, f) for f in files if os.path.splitext(f)[1].lower() in rank)

    if scan_unlisted:
        with os.scandir(audio_dir) as it:
            top = list(it)
        for entry in top:
            if entry.is_dir(follow_symlinks=True):
                visit_folder(entry.path, entry.name)
            elif os.path.splitext(entry.name)[1].lower() in rank:
                unlisted.append(Path(entry.path))
    else:
        for name in sorted({f"{tid:06d}"[:3] for tid in listed_ids}):
            visit_folder(os.path.join(audio_dir, name), name)
    return {tid: path for tid, (_, path) in found.items()}, unlisted
