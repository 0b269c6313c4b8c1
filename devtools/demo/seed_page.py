"""Parser of the seed page (a copy of a real Goodreads-like book page, as plain text).

The demo data is derived from this page so that the embedded service shows real text and
figures in the real proportions. Everything here is pure: `parse_seed_page` turns the text
into frozen dataclasses; only `read_seed_page` touches the file system. Layout changes make
the parser raise ValueError instead of silently producing a different page.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

from service.documents import Shelf

DEFAULT_SEED_PATH = Path(__file__).parent / "book-page.txt"

STAR_LEVELS = 5
TITLE_SEPARATOR = ": "
RATE_MARKER = "Rate this book"
ABOUT_AUTHOR_MARKER = "About the author"
RATINGS_MARKER = "Ratings & Reviews"
PROFILE_PREFIX = "Profile Image for "
SHELF_LABELS: dict[str, Shelf] = {
    "Want to read": Shelf.WANT_TO_READ,
    "Currently reading": Shelf.CURRENTLY_READING,
    "Read": Shelf.READ,
}

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE_FORMAT = "%B %d, %Y"
_NUMBER = r"[\d,]+(?:\.\d+)?[km]?"
_SCALE_SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000}

_FULL_DATE = re.compile(rf"^(?:{_MONTHS}) \d{{1,2}}, \d{{4}}$")
_PAGES_FORMAT = re.compile(r"^(?P<pages>[\d,]+) pages, (?P<format>.+)$")
_FIRST_PUBLISHED = re.compile(rf"^First published (?P<date>(?:{_MONTHS}) \d{{1,2}}, \d{{4}})$")
_CURRENTLY_READING = re.compile(r"^(?P<n>[\d,]+) (?:people are|person is) currently reading$")
_WANT_TO_READ = re.compile(r"^(?P<n>[\d,]+) (?:people want|person wants) to read$")
# The page separates these figures from their words with no-break spaces; \s matches both.
_AUTHOR_FIGURES = re.compile(
    rf"^(?P<books>{_NUMBER})\s+books?(?P<followers>{_NUMBER})\s+followers?$"
)
_STAR_LINE = re.compile(r"^(?P<stars>[1-5]) stars?$")
_STAR_COUNT = re.compile(r"^(?P<count>[\d,]+) \((?P<percent>\d+)%\)$")
_DISPLAYING = re.compile(
    r"^Displaying (?P<first>[\d,]+) - (?P<last>[\d,]+) of (?P<total>[\d,]+) reviews?$"
)
# "109 reviews24 followers", "2 reviews", "Author 2 books2,466 followers", "Author 1 book10 ..."
_REVIEWER_STATS = re.compile(
    rf"^(?:Author\s+(?P<books>{_NUMBER})\s+books?)?"
    rf"(?:(?P<reviews>{_NUMBER})\s+reviews?)?"
    rf"(?:(?P<followers>{_NUMBER})\s+followers?)?$"
)


@dataclass(frozen=True)
class SeedBook:
    title: str
    subtitle: str | None
    description: str
    page_count: int
    format: str
    first_published: date


@dataclass(frozen=True)
class SeedAuthor:
    name: str
    bio: str
    books_count: int  # page figure ("69 books"), not the number of books we load
    followers: int  # page figure ("974 followers")


@dataclass(frozen=True)
class RatingHistogram:
    """Per-star figures, index 0 is 1 star ... index 4 is 5 stars (as in RatingStatsDoc)."""

    counts: tuple[int, int, int, int, int]
    percents: tuple[int, int, int, int, int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    def count_for(self, stars: int) -> int:
        return self.counts[stars - 1]

    def percent_for(self, stars: int) -> int:
        return self.percents[stars - 1]


@dataclass(frozen=True)
class SeedReview:
    """One review block of the page; `name` is None where the page lost the profile line."""

    position: int  # 1-based order on the page
    name: str | None
    authored_books_count: int | None  # the "Author N books" badge
    reviewer_reviews: int | None  # reviewer's figures elsewhere, parsed but not stored
    reviewer_followers: int | None
    shelf: Shelf | None  # only when the page states one ("Want to read")
    reviewed_on: date
    text: str
    rating: int | None  # whole stars stated in the text, see infer_rating


@dataclass(frozen=True)
class SeedPage:
    book: SeedBook
    author: SeedAuthor
    histogram: RatingHistogram
    currently_reading: int
    want_to_read: int
    reviews_total: int  # "of 320 reviews"
    displayed_first: int  # "Displaying 1 - 30"
    displayed_last: int
    reviews: tuple[SeedReview, ...]


def read_seed_page(path: Path = DEFAULT_SEED_PATH) -> SeedPage:
    """Parse the seed page stored at `path` (the packaged page by default)."""
    return parse_seed_page(path.read_text(encoding="utf-8"))


def parse_seed_page(text: str) -> SeedPage:
    lines = [line.rstrip() for line in text.splitlines()]
    first_footer, last_footer = _footer_indexes(lines)
    footer = _DISPLAYING.match(lines[first_footer])
    assert footer is not None  # _footer_indexes only returns matching lines
    return SeedPage(
        book=_parse_book(lines),
        author=_parse_author(lines),
        histogram=_parse_histogram(lines[:first_footer]),
        currently_reading=_parse_int(_single_match(lines, _CURRENTLY_READING)["n"]),
        want_to_read=_parse_int(_single_match(lines, _WANT_TO_READ)["n"]),
        reviews_total=_parse_int(footer["total"]),
        displayed_first=_parse_int(footer["first"]),
        displayed_last=_parse_int(footer["last"]),
        reviews=tuple(_parse_reviews(lines[first_footer + 1 : last_footer])),
    )


# -- ratings stated in review text ------------------------------------------------------------

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_STARS_VALUE = r"[1-5]|one|two|three|four|five"
# Words that, earlier in the same sentence, make a star mention something other than this
# reviewer's rating of the book.
_DISQUALIFIERS = frozenset(
    {"not", "never", "no", "if", "almost", "nearly", "hardly", "without", "than", "maybe"}
)
_SENTENCE_ENDS = re.compile(r"[.!?;\n]")
# "4 out of 5 (stars)", "4/5", "5 stars out of 5"; another scale ("out of ten") disqualifies.
_OUT_OF = re.compile(
    rf"(?<![\w.])(?P<n>{_STARS_VALUE})(?P<half>\.5| and a half|½)?(?:\s*-?\s*stars?)?"
    r"\s*(?:out of|/)\s*(?P<scale>\d+|[a-z]+)(?:\s+stars?)?\b",
    re.IGNORECASE,
)
# "five stars", "3 stars", "1 star", "a three-star experience"; "3.5 stars" is caught as half.
_STAR_MENTION = re.compile(
    rf"(?<![\w.\-])(?P<n>{_STARS_VALUE})(?P<half>\.5| and a half|½)?"
    r"(?:(?P<plural>\s*-?\s*stars)\b|(?P<single>\s+star)\b(?!-)"
    r"|-star\s+(?P<noun>book|read|rating|review|experience)\b)",
    re.IGNORECASE,
)


def infer_rating(text: str) -> int | None:
    """Whole stars a review states for the book, or None when absent, partial or unclear.

    Conservative on purpose: a wrong rating would distort the seeded histogram, while a
    missing one only leaves a text review unrated. Half stars, other scales ("out of ten"),
    negated or conditional mentions and conflicting values all give None.
    """
    values: set[int] = set()
    taken: list[tuple[int, int]] = []
    for match in _OUT_OF.finditer(text):
        taken.append(match.span())
        scale = match["scale"].lower()
        if scale not in {"5", "five"} or match["half"] or _disqualified(text, match.start()):
            return None
        values.add(_star_value(match["n"]))
    for match in _STAR_MENTION.finditer(text):
        if any(start <= match.start() < end for start, end in taken):
            continue
        value = _star_value(match["n"])
        if match["single"] and value != 1:
            continue  # "five star" without a hyphen or plural is too loose to trust
        if match["half"] or _disqualified(text, match.start()):
            return None
        values.add(value)
    return values.pop() if len(values) == 1 else None


def _star_value(token: str) -> int:
    return int(token) if token.isdigit() else _NUMBER_WORDS[token.lower()]


def _disqualified(text: str, start: int) -> bool:
    """A negating or conditional word earlier in the mention's sentence."""
    sentence_start = max((m.end() for m in _SENTENCE_ENDS.finditer(text, 0, start)), default=0)
    before = re.findall(r"[\w'’]+", text[sentence_start:start].lower())
    return any(word in _DISQUALIFIERS or word.endswith(("n't", "n’t")) for word in before)


# -- scaling the page's figures ---------------------------------------------------------------


def scaled_count(count: int, scale: float) -> int:
    """`count` times `scale`, rounded, and at least 1 when both are positive."""
    if scale < 0:
        raise ValueError(f"scale must not be negative, got {scale}")
    if count <= 0 or scale == 0:
        return 0
    return max(1, round(count * scale))


def scaled_rating_counts(
    histogram: RatingHistogram, scale: float, at_least: Sequence[int] = (0,) * STAR_LEVELS
) -> tuple[int, int, int, int, int]:
    """Per-star counts (1 star first) near `histogram.counts * scale` whose floored
    percentages (count * 100 // total) equal the page's percents, so that a scaled-down
    demo shows the page's histogram. `at_least` holds per-star minimums (the seed reviews'
    own ratings, which count toward these totals). At scale 1 this returns the page's counts.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if len(at_least) != STAR_LEVELS:
        raise ValueError(f"at_least needs {STAR_LEVELS} values")
    wanted = [count * scale for count in histogram.counts]
    start = max(1, round(sum(wanted)), sum(at_least))
    # The page's own total is always feasible (its counts floor to its percents), so the
    # search ends at the latest once it reaches that total (or sum(at_least) beyond it).
    limit = max(start, histogram.total) + sum(at_least)
    for total in _outward(start, limit):
        counts = _counts_for_total(histogram.percents, wanted, at_least, total)
        if counts is not None:
            return counts
    raise ValueError(f"no per-star counts near scale {scale} match {histogram.percents}")


def _outward(start: int, limit: int) -> Iterator[int]:
    """start, start+1, start-1, start+2, ... staying within 1..limit."""
    for distance in range(limit + 1):
        for total in (start + distance, start - distance) if distance else (start,):
            if 1 <= total <= limit:
                yield total


def _counts_for_total(
    percents: Sequence[int], wanted: Sequence[float], at_least: Sequence[int], total: int
) -> tuple[int, int, int, int, int] | None:
    # count * 100 // total == p  <=>  p * total <= 100 * count < (p + 1) * total
    lows = [max(floor, -(-p * total // 100)) for p, floor in zip(percents, at_least, strict=True)]
    highs = [((p + 1) * total - 1) // 100 for p in percents]
    if any(lo > hi for lo, hi in zip(lows, highs, strict=True)):
        return None
    if not sum(lows) <= total <= sum(highs):
        return None
    weight = sum(wanted)
    targets = [w * total / weight for w in wanted]
    counts = [min(hi, max(lo, round(t))) for lo, hi, t in zip(lows, highs, targets, strict=True)]
    star_indexes = range(STAR_LEVELS)
    while sum(counts) < total:
        i = max(
            (i for i in star_indexes if counts[i] < highs[i]), key=lambda i: targets[i] - counts[i]
        )
        counts[i] += 1
    while sum(counts) > total:
        i = max(
            (i for i in star_indexes if counts[i] > lows[i]), key=lambda i: counts[i] - targets[i]
        )
        counts[i] -= 1
    one, two, three, four, five = counts
    return one, two, three, four, five


# -- page sections ----------------------------------------------------------------------------


def _parse_book(lines: list[str]) -> SeedBook:
    rate_markers = [i for i, line in enumerate(lines) if line == RATE_MARKER]
    if len(rate_markers) < 2:
        raise ValueError(f"expected two '{RATE_MARKER}' lines before the description")
    first, second = rate_markers[:2]
    full_title = _first_nonblank(lines[first + 1 : second], "title")
    title, separator, subtitle = full_title.partition(TITLE_SEPARATOR)
    pages = _single_match(lines, _PAGES_FORMAT)
    return SeedBook(
        title=title.strip(),
        subtitle=subtitle.strip() if separator else None,
        description=_paragraph_after(lines, second),
        page_count=_parse_int(pages["pages"]),
        format=pages["format"].strip(),
        first_published=_parse_date(_single_match(lines, _FIRST_PUBLISHED)["date"]),
    )


def _parse_author(lines: list[str]) -> SeedAuthor:
    about = _index_of(lines, ABOUT_AUTHOR_MARKER)
    end = _index_of(lines, RATINGS_MARKER, start=about)
    section = lines[about + 1 : end]
    name = _first_nonblank(section, "author name")
    figures_at = next((i for i, line in enumerate(section) if _AUTHOR_FIGURES.match(line)), None)
    if figures_at is None:
        raise ValueError("author figures line ('N books M followers') not found")
    figures = _AUTHOR_FIGURES.match(section[figures_at])
    assert figures is not None
    return SeedAuthor(
        name=name,
        bio="\n".join(section[figures_at + 1 :]).strip(),
        books_count=_parse_figure(figures["books"]),
        followers=_parse_figure(figures["followers"]),
    )


def _parse_histogram(lines: list[str]) -> RatingHistogram:
    counts = [0] * STAR_LEVELS
    percents = [0] * STAR_LEVELS
    seen: set[int] = set()
    for label, value in pairwise(lines):
        star = _STAR_LINE.match(label)
        figure = _STAR_COUNT.match(value)
        if star and figure:
            stars = int(star["stars"])
            seen.add(stars)
            counts[stars - 1] = _parse_int(figure["count"])
            percents[stars - 1] = int(figure["percent"])
    if len(seen) != STAR_LEVELS:
        raise ValueError(f"rating histogram incomplete: found stars {sorted(seen)}")
    one, two, three, four, five = counts
    p1, p2, p3, p4, p5 = percents
    return RatingHistogram(counts=(one, two, three, four, five), percents=(p1, p2, p3, p4, p5))


@dataclass(frozen=True)
class _Header:
    """Where a review block's header lines start and its date line sits."""

    start: int
    date_at: int
    name: str | None
    badge_books: int | None
    reviews: int | None
    followers: int | None
    shelf: Shelf | None


def _parse_reviews(lines: list[str]) -> Iterator[SeedReview]:
    """Review blocks are found from their date lines, looking upwards for the optional shelf,
    stats (badge and figures, on one line or two) and "Profile Image for" lines. Three blocks
    of the stored page have lost their profile line; they keep name None."""
    headers = [h for i in range(len(lines)) if (h := _header_at(lines, i)) is not None]
    consumed = {i for h in headers for i in range(h.start, h.date_at + 1)}
    stray = [
        i for i, line in enumerate(lines) if line.startswith(PROFILE_PREFIX) and i not in consumed
    ]
    if stray:
        raise ValueError(f"profile lines without a review date: {[lines[i] for i in stray]}")
    ends = [h.start for h in headers[1:]] + [len(lines)]
    for position, (header, end) in enumerate(zip(headers, ends, strict=True), start=1):
        text = _trim_blank_lines(lines[header.date_at + 1 : end])
        yield SeedReview(
            position=position,
            name=header.name,
            authored_books_count=header.badge_books,
            reviewer_reviews=header.reviews,
            reviewer_followers=header.followers,
            shelf=header.shelf,
            reviewed_on=_parse_date(lines[header.date_at]),
            text=text,
            rating=infer_rating(text),
        )


def _header_at(lines: list[str], date_at: int) -> _Header | None:
    if not _FULL_DATE.match(lines[date_at]):
        return None
    i = date_at - 1
    shelf = SHELF_LABELS.get(lines[i]) if i >= 0 else None
    if shelf is not None:
        i -= 1
    badge_books = reviews = followers = None
    for _ in range(2):  # badge and figures may share one line or take two
        stats = _REVIEWER_STATS.match(lines[i]) if i >= 0 and lines[i] else None
        if stats is None:
            break
        badge_books = badge_books if stats["books"] is None else _parse_figure(stats["books"])
        reviews = reviews if stats["reviews"] is None else _parse_figure(stats["reviews"])
        followers = followers if stats["followers"] is None else _parse_figure(stats["followers"])
        i -= 1
    name = None
    if i >= 0 and lines[i].startswith(PROFILE_PREFIX):
        name = lines[i].removeprefix(PROFILE_PREFIX).removesuffix(".").strip()
        i -= 1
    if name is None and reviews is None and followers is None and badge_books is None:
        return None  # a date standing alone in a review's text
    return _Header(i + 1, date_at, name, badge_books, reviews, followers, shelf)


# -- helpers ----------------------------------------------------------------------------------


def _footer_indexes(lines: list[str]) -> tuple[int, int]:
    footers = [i for i, line in enumerate(lines) if _DISPLAYING.match(line)]
    if not footers:
        raise ValueError("'Displaying N - M of T reviews' line not found")
    return footers[0], footers[-1] if len(footers) > 1 else len(lines)


def _single_match(lines: list[str], pattern: re.Pattern[str]) -> re.Match[str]:
    matches = [m for line in lines if (m := pattern.match(line))]
    if len(matches) != 1:
        raise ValueError(f"expected one line matching {pattern.pattern!r}, found {len(matches)}")
    return matches[0]


def _index_of(lines: list[str], marker: str, start: int = 0) -> int:
    try:
        return lines.index(marker, start)
    except ValueError:
        raise ValueError(f"'{marker}' line not found") from None


def _first_nonblank(lines: list[str], what: str) -> str:
    for line in lines:
        if line.strip():
            return line.strip()
    raise ValueError(f"{what} not found")


def _paragraph_after(lines: list[str], index: int) -> str:
    paragraph: list[str] = []
    for line in lines[index + 1 :]:
        if not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    if not paragraph:
        raise ValueError("description not found")
    return "\n".join(paragraph)


def _trim_blank_lines(lines: list[str]) -> str:
    """Keep the lines (and so the paragraph breaks) as shown, minus blank lines at either end."""
    return "\n".join(lines).strip("\n")


def _parse_int(text: str) -> int:
    return int(text.replace(",", ""))


def _parse_figure(text: str) -> int:
    """Page figures such as '2,466', '11.9k' or '1.2m'."""
    text = text.lower().replace(",", "")
    suffix = text[-1] if text[-1] in _SCALE_SUFFIXES else ""
    return int(Decimal(text.removesuffix(suffix)) * _SCALE_SUFFIXES[suffix])


def _parse_date(text: str) -> date:
    return datetime.strptime(text, _DATE_FORMAT).date()
