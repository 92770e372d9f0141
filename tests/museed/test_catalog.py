"""museed.catalog on a small FMA root written by hand in the real fma_metadata format."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from museed.catalog import (
    AUDIO_DIR_NAMES,
    TRACK_COLUMNS,
    CatalogError,
    audio_path_for,
    load_catalog,
)

# the 52 columns of the real fma_metadata/tracks.csv, in file order
FMA_SUBCOLUMNS = {
    "album": ("comments", "date_created", "date_released", "engineer", "favorites", "id", "information",
              "listens", "producer", "tags", "title", "tracks", "type"),
    "artist": ("active_year_begin", "active_year_end", "associated_labels", "bio", "comments", "date_created",
               "favorites", "id", "latitude", "location", "longitude", "members", "name", "related_projects",
               "tags", "website", "wikipedia_page"),
    "set": ("split", "subset"),
    "track": ("bit_rate", "comments", "composer", "date_created", "date_recorded", "duration", "favorites",
              "genre_top", "genres", "genres_all", "information", "interest", "language_code", "license",
              "listens", "lyricist", "number", "publisher", "tags", "title"),
}  # fmt: skip
FMA_COLUMNS = [(top, sub) for top, subs in FMA_SUBCOLUMNS.items() for sub in subs]
HEADER_LINES = [
    "," + ",".join(top for top, _ in FMA_COLUMNS),
    "," + ",".join(sub for _, sub in FMA_COLUMNS),
    "track_id" + "," * len(FMA_COLUMNS),
]

# track 2 as the real file has it (quoted commas in bio/members, a newline inside the quoted bio)
TRACK_2_LINE = (
    "2,"
    "0,2008-11-26 01:44:45,2009-01-05 00:00:00,,4,1,<p></p>,6073,,[],AWOL - A Way Of Life,7,Album,"
    '2006-01-01 00:00:00,,,"<p>A Way Of Life, A Collective of Hip-Hop from Sussex</p>\n<p>Since 2006</p>",'
    "0,2008-11-26 01:42:32,9,1,40.058324,New Jersey,-74.405661,"
    '"Sajje Morocco,Brownbum,ZawidaGod,Custodian of Records,Monk Whoop",AWOL,'
    '"The list of past projects, 2 of which are available on the FMA","[\'awol\']",'
    "http://www.AzillionRecords.blogspot.com,,"
    "training,small,"
    "256000,0,,2008-11-26 01:48:12,2008-11-26 00:00:00,168,2,Hip-Hop,[21],[21],,4656,en,"
    "Attribution-NonCommercial-ShareAlike 3.0 International,1293,,3,,[],Food"
)

# the other rows: only the interesting cells, everything else as in a typical FMA row
ROWS: dict[int, dict[str, str]] = {
    3: {  # empty genre_top, one root (Electronic) -> derived
        "track.title": "Café Noir", "artist.id": "2", "artist.name": "東京", "album.id": "2",
        "album.title": "夜の音", "track.genre_top": "", "track.genres": "[236]",
        "track.genres_all": "[15, 236]", "track.duration": "201", "set.split": "validation",
        "set.subset": "medium",
    },
    5: {  # quoted comma in the title, Cyrillic artist
        "track.title": "Hello, World", "artist.id": "3", "artist.name": "Ля-ля", "album.id": "3",
        "album.title": "Songs, Vol. 1", "track.genre_top": "Rock", "track.genres": "[25]",
        "track.genres_all": "[12, 25]", "track.duration": "95.5",
    },
    10: {  # empty genre_top, two roots (Rock, Electronic) -> unknown; embedded quotes
        "track.title": 'Say "Hi"', "artist.id": "4", "artist.name": "Kurt", "album.id": "4",
        "album.title": "Hi", "track.genre_top": "", "track.genres": "[25, 236]",
        "track.genres_all": "[12, 15, 25, 236]", "set.split": "test",
    },
    20: {  # listed, no audio on disk; no album, no licence; a title pandas would read as NaN by default
        "track.title": "NA", "artist.id": "5", "artist.name": "null", "album.id": "", "album.title": "",
        "track.genre_top": "Jazz", "track.genres": "[4]", "track.genres_all": "[4]", "track.license": "",
    },
    26: {  # empty genre_top, no known genre at all -> unknown; empty title
        "track.title": "", "artist.id": "6", "artist.name": "Nobody", "track.genre_top": "",
        "track.genres": "[]", "track.genres_all": "[9999]",
    },
    1000: {  # same artist as track 2; audio in folder 001
        "track.title": "Rap Song", "artist.id": "1", "artist.name": "AWOL", "album.id": "1",
        "album.title": "AWOL - A Way Of Life", "track.genre_top": "Hip-Hop", "track.genres": "[539]",
        "track.genres_all": "[21, 539]",
    },
    155320: {  # the largest FMA id: folder 155
        "track.title": "Last", "artist.id": "7", "artist.name": "Ending", "album.id": "7",
        "album.title": "Fin", "track.genre_top": "Experimental", "track.genres": "[1]",
        "track.genres_all": "[1, 38]", "set.subset": "large",
    },
}  # fmt: skip
DEFAULT_CELLS = {
    "album.comments": "0", "album.date_created": "2009-01-01 00:00:00", "album.favorites": "0",
    "album.information": "<p></p>", "album.listens": "100", "album.tags": "[]", "album.tracks": "10",
    "album.type": "Album", "artist.comments": "0", "artist.favorites": "1", "artist.tags": "[]",
    "set.split": "training", "set.subset": "full", "track.bit_rate": "320000", "track.comments": "0",
    "track.date_created": "2009-01-01 00:00:00", "track.duration": "180", "track.favorites": "0",
    "track.interest": "10", "track.language_code": "en", "track.license": "Attribution 3.0 International",
    "track.listens": "10", "track.number": "1", "track.tags": "[]",
}  # fmt: skip

GENRES_CSV = """genre_id,#tracks,parent,title,top_level
1,8693,38,Avant-Garde,38
4,19167,0,Jazz,4
12,32923,0,Rock,12
15,34413,0,Electronic,15
21,8389,0,Hip-Hop,21
25,9261,12,Punk,12
38,38154,0,Experimental,38
236,1672,15,Ambient Electronic,15
539,1127,21,Rap,21
"""

AUDIO_FILES = [  # listed audio (track 5 twice: .flac wins over .wav)
    "000/000002.mp3",
    "000/000003.mp3",
    "000/000005.flac",
    "000/000005.wav",
    "000/000010.mp3",
    "000/000026.mp3",
    "001/001000.mp3",
    "155/155320.mp3",
]
UNLISTED_FILES = ["000/000999.mp3", "000/cover.mp3", "001/000002.mp3"]  # unlisted id, not an id, wrong folder


def tracks_csv_text(rows: dict[int, dict[str, str]] = ROWS) -> str:
    """The real-format tracks.csv: 3 header lines, the literal track 2, then `rows`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")  # minimal quoting, as the FMA files (pandas to_csv)
    for track_id, cells in rows.items():
        merged = {**DEFAULT_CELLS, **cells}
        writer.writerow([track_id, *(merged.get(f"{top}.{sub}", "") for top, sub in FMA_COLUMNS)])
    text = "\n".join([*HEADER_LINES, TRACK_2_LINE]) + "\n" + out.getvalue()
    assert all(len(r) == 53 for r in csv.reader(io.StringIO(text)))  # the fixture itself is well formed
    return text


def write_fma_root(root: Path, *, tracks_text: str | None = None, genres_text: str = GENRES_CSV) -> Path:
    """An FMA root with fma_metadata/ only."""
    meta = root / "fma_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "tracks.csv").write_text(tracks_text if tracks_text is not None else tracks_csv_text(), "utf-8")
    (meta / "genres.csv").write_text(genres_text, encoding="utf-8")
    return root


def touch_audio(audio_dir: Path, relative_paths: list[str]) -> None:
    for rel in relative_paths:
        path = audio_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"ID3\x00dummy")  # the catalog only checks existence


@pytest.fixture
def fma_root(tmp_path: Path) -> Path:
    root = write_fma_root(tmp_path / "fma")
    touch_audio(root / "fma_full", [*AUDIO_FILES, *UNLISTED_FILES, "000/notes.txt"])
    touch_audio(root / "fma_small", ["000/000002.mp3"])
    return root


def test_report_counts(fma_root: Path) -> None:
    report = load_catalog(fma_root).report
    assert report.listed == 8
    assert report.with_audio == 7
    assert report.missing_audio == [20]
    assert report.unlisted_audio == sorted(fma_root / "fma_full" / p for p in UNLISTED_FILES)
    assert report.genre_top_listed == 5
    assert report.genre_top_derived == 1
    assert report.genre_top_unknown == 2
    assert report.artists == 7
    text = "\n".join(report.summary_lines())
    assert "8 by 7 artists" in text and "without audio: 1 (e.g. 20)" in text and "derived" in text


def test_tracks_columns_and_types(fma_root: Path) -> None:
    tracks = load_catalog(fma_root).tracks
    assert tuple(tracks.columns) == TRACK_COLUMNS
    assert tracks.index.name == "track_id" and tracks.index.dtype == "int64"
    assert tracks.index.tolist() == [2, 3, 5, 10, 20, 26, 1000, 155320]
    assert tracks["artist_id"].dtype == "int64"
    assert str(tracks["album_id"].dtype) == "Int64" and tracks.at[20, "album_id"] is pd.NA
    assert tracks.at[3, "album_id"] == 2
    assert tracks["duration"].dtype == "float64" and tracks.at[5, "duration"] == 95.5
    for column in (
        "title",
        "artist_name",
        "album_title",
        "genre_top",
        "license",
        "split",
        "subset",
        "audio_path",
    ):
        assert all(v is None or isinstance(v, str) for v in tracks[column]), column  # no NaN
    assert tracks.at[20, "album_title"] is None and tracks.at[20, "license"] is None
    assert tracks.at[26, "title"] == ""
    assert tracks.loc[2, ["split", "subset"]].tolist() == ["training", "small"]


def test_text_round_trips(fma_root: Path) -> None:
    tracks = load_catalog(fma_root).tracks
    assert tracks.at[2, "title"] == "Food" and tracks.at[2, "album_title"] == "AWOL - A Way Of Life"
    assert tracks.at[2, "license"] == "Attribution-NonCommercial-ShareAlike 3.0 International"
    assert tracks.at[3, "title"] == "Café Noir" and tracks.at[3, "artist_name"] == "東京"
    assert tracks.at[3, "album_title"] == "夜の音"
    assert tracks.at[5, "title"] == "Hello, World" and tracks.at[5, "artist_name"] == "Ля-ля"
    assert tracks.at[5, "album_title"] == "Songs, Vol. 1"
    assert tracks.at[10, "title"] == 'Say "Hi"'
    assert tracks.at[20, "title"] == "NA" and tracks.at[20, "artist_name"] == "null"


def test_genre_lists_and_genre_top(fma_root: Path) -> None:
    tracks = load_catalog(fma_root).tracks
    assert tracks.at[10, "genres"] == [25, 236] and tracks.at[10, "genres_all"] == [12, 15, 25, 236]
    assert tracks.at[26, "genres"] == [] and tracks.at[26, "genres_all"] == [9999]
    assert all(isinstance(g, int) for g in tracks.at[3, "genres_all"])
    tracks.at[2, "genres"].append(99)  # rows with the same cell text do not share one list
    assert tracks.at[2, "genres_all"] == [21]

    top = tracks[["genre_top", "genre_top_source"]]
    assert top.loc[2].tolist() == ["Hip-Hop", "listed"]
    assert top.loc[3].tolist() == ["Electronic", "derived"]  # [15, 236] -> root 15
    assert top.loc[10].tolist() == [None, "unknown"]  # roots 12 and 15
    assert top.loc[26].tolist() == [None, "unknown"]  # 9999 is not in genres.csv
    assert top.loc[155320].tolist() == ["Experimental", "listed"]


def test_parse_matches_fma_utils_load(fma_root: Path) -> None:
    """Same values as the FMA project's own `pd.read_csv(path, index_col=0, header=[0, 1])`."""
    fma = pd.read_csv(fma_root / "fma_metadata" / "tracks.csv", index_col=0, header=[0, 1])
    assert fma.shape == (8, 52) and list(fma.columns) == FMA_COLUMNS
    tracks = load_catalog(fma_root).tracks
    assert tracks.index.tolist() == fma.index.tolist()
    assert tracks["artist_id"].tolist() == fma["artist", "id"].tolist()
    assert tracks["duration"].tolist() == fma["track", "duration"].tolist()
    assert tracks.loc[[2, 3, 5, 10], "title"].tolist() == fma.loc[[2, 3, 5, 10], ("track", "title")].tolist()


def test_genres_and_top_level(fma_root: Path) -> None:
    catalog = load_catalog(fma_root)
    assert catalog.top_level_genres == ["Jazz", "Rock", "Electronic", "Hip-Hop", "Experimental"]
    assert list(catalog.genres.columns) == ["title", "parent", "top_level", "n_tracks"]
    assert catalog.genres.index.name == "genre_id"
    assert catalog.genres.loc[236].tolist() == ["Ambient Electronic", 15, 15, 1672]
    assert catalog.genre_title(15) == "Electronic" and catalog.genre_title(1) == "Avant-Garde"
    with pytest.raises(KeyError, match="777"):
        catalog.genre_title(777)


def test_top_level_genres_come_from_the_data(tmp_path: Path) -> None:
    genres = (
        "genre_id,#tracks,parent,title,top_level\n"
        "1235,14938,0,Instrumental,1235\n3,1752,0,Blues,3\n21,8389,0,Hip-Hop,21\n539,1127,21,Rap,21\n"
    )
    catalog = load_catalog(write_fma_root(tmp_path, genres_text=genres))
    assert catalog.top_level_genres == ["Blues", "Hip-Hop", "Instrumental"]
    tracks = catalog.tracks
    assert tracks.at[1000, "genre_top"] == "Hip-Hop"
    assert tracks.at[3, "genre_top"] is None  # 15 and 236 are unknown to this genres.csv


def test_genres_without_top_level_column(tmp_path: Path) -> None:
    genres = "genre_id,parent,title\n38,0,Experimental\n1,38,Avant-Garde\n7,1,Deeper\n"
    catalog = load_catalog(write_fma_root(tmp_path, genres_text=genres))
    assert catalog.genres["top_level"].to_dict() == {38: 38, 1: 38, 7: 38}


def test_audio_paths(fma_root: Path) -> None:
    assert audio_path_for(Path("/data/fma_full"), 2) == Path("/data/fma_full/000/000002.mp3")
    assert audio_path_for(Path("/data/fma_full"), 1000) == Path("/data/fma_full/001/001000.mp3")
    assert audio_path_for(Path("/data/fma_full"), 155320) == Path("/data/fma_full/155/155320.mp3")

    catalog = load_catalog(fma_root)
    full = fma_root / "fma_full"
    assert catalog.audio_dir == full and catalog.root == fma_root
    paths = catalog.tracks["audio_path"]
    assert paths[2] == str(full / "000" / "000002.mp3") == str(audio_path_for(full, 2))
    assert paths[5] == str(full / "000" / "000005.flac")
    assert paths[1000] == str(full / "001" / "001000.mp3")
    assert paths[20] is None
    assert Path(paths[155320]).is_absolute()
    assert catalog.with_audio().index.tolist() == [2, 3, 5, 10, 26, 1000, 155320]


def test_scan_unlisted_off(fma_root: Path) -> None:
    report = load_catalog(fma_root, scan_unlisted=False).report
    assert report.with_audio == 7 and report.missing_audio == [20] and report.unlisted_audio == []


def test_audio_dir_preference_and_override(tmp_path: Path) -> None:
    assert AUDIO_DIR_NAMES == ("fma_full", "fma_large", "fma_medium", "fma_small")
    root = write_fma_root(tmp_path)
    catalog = load_catalog(root)
    assert catalog.audio_dir is None
    assert catalog.report.with_audio == 0 and len(catalog.report.missing_audio) == 8
    assert catalog.tracks["audio_path"].isna().all() and catalog.report.unlisted_audio == []

    for name in reversed(AUDIO_DIR_NAMES):  # each better directory takes over once it exists
        touch_audio(root / name, ["000/000002.mp3"])
        assert load_catalog(root).audio_dir == root / name

    touch_audio(root / "fma_small", ["000/000003.mp3"])
    small = load_catalog(root, audio_dir_name="fma_small")
    assert small.audio_dir == root / "fma_small"
    assert small.with_audio().index.tolist() == [2, 3]
    assert load_catalog(root).report.with_audio == 1  # fma_full still wins by default

    with pytest.raises(CatalogError, match="fma_nope"):
        load_catalog(root, audio_dir_name="fma_nope")


def test_missing_metadata_files(tmp_path: Path) -> None:
    assert issubclass(CatalogError, ValueError)
    with pytest.raises(CatalogError, match=r"genres\.csv"):
        load_catalog(tmp_path)
    root = write_fma_root(tmp_path)
    (root / "fma_metadata" / "tracks.csv").unlink()
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    assert str(root / "fma_metadata" / "tracks.csv") in str(info.value)


@pytest.mark.parametrize(
    ("tracks_text", "message"),
    [
        pytest.param("track_id,title,genres\n2,Food,[21]\n", "3-line header", id="flat-header"),
        pytest.param("\n".join([*HEADER_LINES[:2], TRACK_2_LINE, ""]), "3-line header", id="no-id-line"),
        pytest.param("", "too short", id="empty-file"),
        pytest.param(
            "\n".join([HEADER_LINES[0], HEADER_LINES[1] + ",extra", HEADER_LINES[2]]) + "\n",
            "cells",
            id="ragged",
        ),
        pytest.param(
            tracks_csv_text().replace(",genre_top,", ",top_genre,", 1), "track/genre_top", id="missing-column"
        ),
        pytest.param(tracks_csv_text() + "30,too,few,cells\n", None, id="short-row"),
        pytest.param(
            tracks_csv_text() + TRACK_2_LINE.replace("2,", "31,", 1) + ",extra\n",
            "Expected 53 fields",
            id="long-row",
        ),
        pytest.param(tracks_csv_text().replace("[236]", "[236", 1), "track/genres", id="bad-list"),
        pytest.param(tracks_csv_text() + TRACK_2_LINE + "\n", "duplicate track ids", id="duplicate-id"),
        pytest.param(tracks_csv_text().replace("\n5,", "\nfive,", 1), "integers", id="bad-id"),
    ],
)
def test_malformed_tracks_csv(tmp_path: Path, tracks_text: str, message: str | None) -> None:
    root = write_fma_root(tmp_path, tracks_text=tracks_text)
    if message is None:  # a short row is padded with empty cells, as pandas does; artist/id is then missing
        message = "artist/id is empty"
    with pytest.raises(CatalogError, match=message):
        load_catalog(root)


def test_malformed_genres_csv(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="parent"):
        load_catalog(write_fma_root(tmp_path, genres_text="genre_id,title\n1,Rock\n"))
    with pytest.raises(CatalogError, match="non-integer"):
        load_catalog(write_fma_root(tmp_path, genres_text="genre_id,parent,title\nx,0,Rock\n"))


def test_header_only_file_loads_empty(tmp_path: Path) -> None:
    catalog = load_catalog(write_fma_root(tmp_path, tracks_text="\n".join(HEADER_LINES) + "\n"))
    assert catalog.report.listed == 0 and tuple(catalog.tracks.columns) == TRACK_COLUMNS


def test_pandas_written_tracks_csv_is_the_same_format(fma_root: Path, tmp_path: Path) -> None:
    """FMA wrote tracks.csv with pandas; a frame read the FMA way and written back loads the same."""
    path = fma_root / "fma_metadata" / "tracks.csv"
    fma = pd.read_csv(path, index_col=0, header=[0, 1], dtype=str, keep_default_na=False)
    copy = write_fma_root(tmp_path / "copy", tracks_text=fma.to_csv(lineterminator="\n"))
    written = (copy / "fma_metadata" / "tracks.csv").read_text("utf-8")
    assert written.startswith("\n".join(HEADER_LINES) + "\n")
    before = load_catalog(fma_root).tracks.drop(columns="audio_path")
    pd.testing.assert_frame_equal(load_catalog(copy).tracks.drop(columns="audio_path"), before)


def test_full_size_tracks_csv(tmp_path: Path) -> None:
    """106,574 rows, the size of fma_full, in the real format; the load takes a few seconds."""
    n = 106_574
    rows = list(csv.reader(io.StringIO(tracks_csv_text())))[3:]
    artist_id = 1 + FMA_COLUMNS.index(("artist", "id"))
    out = io.StringIO()
    out.write("\n".join(HEADER_LINES) + "\n")
    writer = csv.writer(out, lineterminator="\n")
    for i in range(n):
        row = rows[i % len(rows)].copy()
        row[0], row[artist_id] = str(i + 2), str(i % 16_341)  # track ids 2.., 16,341 artists like fma_full
        writer.writerow(row)
    root = write_fma_root(tmp_path, tracks_text=out.getvalue())
    touch_audio(root / "fma_full", ["000/000002.mp3", "106/106575.mp3", "999/999999.mp3"])

    started = time.perf_counter()
    catalog = load_catalog(root)
    seconds = time.perf_counter() - started
    report = catalog.report
    assert report.listed == n and report.artists == 16_341
    assert report.with_audio == 2 and report.unlisted_audio == [root / "fma_full" / "999" / "999999.mp3"]
    sources = [
        "listed",
        "derived",
        "listed",
        "unknown",
        "listed",
        "unknown",
        "listed",
        "listed",
    ]  # fixture order
    expected = Counter(sources[i % len(sources)] for i in range(n))
    assert report.genre_top_listed == expected["listed"]
    assert report.genre_top_derived == expected["derived"]
    assert report.genre_top_unknown == expected["unknown"]
    assert catalog.tracks.at[3, "title"] == "Café Noir" and catalog.tracks.at[4, "title"] == "Hello, World"
    assert seconds < 10, f"loading {n:,} tracks took {seconds:.1f} s"
