"""Trend reports for B2B customers: what listeners create and like, week by week (ISO weeks, UTC).

A playlist's label on an axis is the filter it asked for (`genre`, `mood_style`), else the label most of its
seeds share (the recipe's `seed_profile`), else none; the counting is done in SQL (`B2BRepository`), the shares,
the movers and the chart here.

No cell of a report reveals one listener's choices: a label's row in a week, or a seed track, is listed only when at
least `trend_min_listeners` distinct listeners (owners of the playlists, or givers of the likes) are behind it; the
week's `total` still counts everything, so the listed shares of a week add up to less than 1 by what was
withheld."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import Depends

from api.b2b.repository import B2BRepository, WeekCounts
from api.b2b.schemas import Movers, SeedTrackUse, TagMove, TagShare, TrendAxis, TrendSource, TrendsOut, WeekShares
from api.b2b.service import B2BLimiterDep
from api.deps import SessionDep, SettingsDep
from api.errors import Unprocessable
from api.tracks.service import brief

#: the longest range one report may cover (weeks)
MAX_WEEKS = 52
#: the most movers and seed tracks a report may list
MAX_TOP = 50
#: axis -> (the recipe's filter option, the seed-profile key) a playlist's label is read from
TREND_AXES: dict[TrendAxis, tuple[str, str]] = {"genre": ("genre", "genre_top"), "mood": ("mood_style", "mood_style")}
ChartFormat = Literal["svg", "png"]
CHART_MEDIA_TYPES: dict[ChartFormat, str] = {"svg": "image/svg+xml", "png": "image/png"}


def iso_week(monday: date) -> str:
    """'2026-W48' for the week starting on `monday`."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def week_range(until: date, weeks: int) -> list[date]:
    """The Mondays of the `weeks` ISO weeks that end with the one holding `until`, oldest first."""
    last = until - timedelta(days=until.weekday())
    return [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


#: label -> (playlists or likes, distinct listeners behind them) of one week on one axis
LabelCounts = dict[str | None, tuple[int, int]]


def _shares(counts: LabelCounts, total: int, min_listeners: int) -> list[TagShare]:
    """The week's labels backed by at least `min_listeners` listeners, largest first, as shares of `total`."""
    listed = {v: n for v, (n, listeners) in counts.items() if listeners >= min_listeners and n > 0}
    ordered = sorted(listed.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    return [TagShare(value=v, count=n, share=round(n / total, 4)) for v, n in ordered]


def _by_week(rows: WeekCounts) -> dict[date, LabelCounts]:
    out: dict[date, LabelCounts] = defaultdict(dict)
    for week, value, n, listeners in rows:
        before, most = out[week].get(value, (0, 0))
        # distinct listeners of two rows cannot be added (one may be in both): the larger is a safe lower bound
        out[week][value] = (before + n, max(most, listeners))
    return out


def _movers(weeks: Sequence[WeekShares], top: int) -> Movers:
    """The labelled values whose share changed most between the last two weeks (unlabelled ones excluded)."""
    before, now = weeks[-2], weeks[-1]
    moves: list[TagMove] = []
    for axis in TREND_AXES:
        old = {s.value: s.share for s in getattr(before, axis) if s.value is not None}
        new = {s.value: s.share for s in getattr(now, axis) if s.value is not None}
        for value in sorted(old.keys() | new.keys()):
            a, b = old.get(value, 0.0), new.get(value, 0.0)
            moves.append(TagMove(axis=axis, value=value, share_before=a, share_now=b, change=round(b - a, 4)))
    return Movers(
        from_week=before.week,
        to_week=now.week,
        rising=sorted((m for m in moves if m.change > 0), key=lambda m: (-m.change, m.axis, m.value))[:top],
        falling=sorted((m for m in moves if m.change < 0), key=lambda m: (m.change, m.axis, m.value))[:top],
    )


class TrendService:
    """Builds the weekly trend report from SQL aggregates."""

    def __init__(self, repo: B2BRepository, clock: Callable[[], datetime], min_listeners: int) -> None:
        self.repo = repo
        self.clock = clock
        self.min_listeners = min_listeners

    def report(self, until: date | None, weeks: int, top: int) -> TrendsOut:
        """Shares per week of the `weeks` ISO weeks ending with `until`'s (default: this week), the movers of the
        last two weeks and the `top` seed tracks of the range; cells of fewer than `min_listeners` left out."""
        if not 2 <= weeks <= MAX_WEEKS or not 1 <= top <= MAX_TOP:
            raise Unprocessable(f"weeks must be 2..{MAX_WEEKS} and top 1..{MAX_TOP}")
        mondays = week_range(until or self.clock().date(), weeks)
        since_at = datetime.combine(mondays[0], time.min, tzinfo=UTC)
        until_at = datetime.combine(mondays[-1] + timedelta(weeks=1), time.min, tzinfo=UTC)
        counters: dict[TrendSource, Callable[[str, str, datetime, datetime], WeekCounts]] = {
            "created": self.repo.playlists_created_by_week,
            "liked": self.repo.playlist_likes_by_week,
        }
        series: dict[TrendSource, list[WeekShares]] = {}
        for source, count in counters.items():
            per_axis = {
                axis: _by_week(count(option, key, since_at, until_at)) for axis, (option, key) in TREND_AXES.items()
            }
            series[source] = []
            for monday in mondays:
                genre, mood = per_axis["genre"].get(monday, {}), per_axis["mood"].get(monday, {})
                # every playlist (like) has exactly one label per axis, none included: all the genre rows add up
                total = sum(n for n, _ in genre.values())
                series[source].append(
                    WeekShares(
                        week=iso_week(monday),
                        starts=monday,
                        total=total,
                        genre=_shares(genre, total, self.min_listeners),
                        mood=_shares(mood, total, self.min_listeners),
                    )
                )
        seeds = self.repo.top_seed_tracks(since_at, until_at, top, self.min_listeners)
        return TrendsOut(
            since=mondays[0],
            until=mondays[-1] + timedelta(days=6),
            weeks=weeks,
            created=series["created"],
            liked=series["liked"],
            movers={source: _movers(s, top) for source, s in series.items()},
            top_seed_tracks=[SeedTrackUse(**brief(t).model_dump(), playlists=n) for t, n in seeds],
        )


def trend_chart(report: TrendsOut, axis: TrendAxis, fmt: ChartFormat) -> bytes:
    """The report's stacked share bars per week on `axis` (one panel for created playlists, one for likes), as
    SVG or PNG (matplotlib's Agg canvas)."""
    # the object API, not pyplot: no global figure state shared by the server's threads
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = sorted(
        {s.value or "none shared" for w in [*report.created, *report.liked] for s in getattr(w, axis)},
    )
    fig = Figure(figsize=(10, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    cmap = colormaps["tab20"]
    colours = {label: cmap(i % 20) for i, label in enumerate(labels)}
    for col, (title, weeks) in enumerate((("playlists created", report.created), ("playlists liked", report.liked))):
        ax = fig.add_subplot(1, 2, col + 1)
        x = list(range(len(weeks)))
        bottom = [0.0] * len(weeks)
        for label in labels:
            heights = [
                next((s.share for s in getattr(w, axis) if (s.value or "none shared") == label), 0.0) for w in weeks
            ]
            ax.bar(x, heights, bottom=bottom, color=colours[label], label=label, width=0.8)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_xticks(x, [f"{w.week}\n(n={w.total})" for w in weeks], fontsize=7, rotation=45 if len(x) > 8 else 0)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"share of {title}")
        ax.set_title(f"{axis} of {title}, per ISO week", fontsize=10)
    if labels:
        fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="center right", fontsize=7, frameon=False)
    fig.subplots_adjust(right=0.84, bottom=0.22, wspace=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


async def get_trend_service(session: SessionDep, settings: SettingsDep, limiter: B2BLimiterDep) -> TrendService:
    """The request's trend service (the limiter's clock says what "this week" is)."""
    return TrendService(B2BRepository(session), limiter.clock, settings.trend_min_listeners)


TrendServiceDep = Annotated[TrendService, Depends(get_trend_service)]
