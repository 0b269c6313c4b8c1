"""The seed page parser against the packaged page, and the pure helpers the demo load uses."""

from datetime import date

import pytest

from devtools.demo.loader import build_demo_documents, seed_usernames, username_for
from devtools.demo.seed_page import (
    SeedPage,
    infer_rating,
    read_seed_page,
    scaled_count,
    scaled_rating_counts,
)
from service.validation import USERNAME_RULE

PAGE_PERCENTS = (2, 4, 20, 34, 38)  # 1 star ... 5 stars, as the page shows them
PAGE_COUNTS = (243, 461, 2038, 3446, 3937)
# The page says "Displaying 1 - 30" but its text holds 29 review blocks (26 with a
# "Profile Image for" line, 3 whose profile line was lost); no 30th header exists.
PAGE_REVIEW_BLOCKS = 29
UNNAMED_POSITIONS = [10, 14, 18]


@pytest.fixture(scope="module")
def page() -> SeedPage:
    return read_seed_page()


def _review_by(page: SeedPage, name: str):
    return next(r for r in page.reviews if r.name == name)


def test_book(page: SeedPage) -> None:
    assert page.book.title == "The Dance of Intimacy"
    assert page.book.subtitle == "A Woman's Guide to Courageous Acts of Change in Key Relationships"
    assert page.book.description.startswith("In The Dance of Intimacy, the bestselling author")
    assert page.book.description.endswith("that both women and men may ever encounter.")
    assert page.book.page_count == 255
    assert page.book.format == "Paperback"
    assert page.book.first_published == date(1989, 1, 1)


def test_shelf_figures_and_totals(page: SeedPage) -> None:
    assert page.currently_reading == 510
    assert page.want_to_read == 10012
    assert page.reviews_total == 320
    assert (page.displayed_first, page.displayed_last) == (1, 30)


def test_histogram(page: SeedPage) -> None:
    assert page.histogram.counts == PAGE_COUNTS
    assert page.histogram.percents == PAGE_PERCENTS
    assert page.histogram.count_for(5) == 3937
    assert page.histogram.total == 10125


def test_author(page: SeedPage) -> None:
    assert page.author.name == "Harriet Lerner"
    assert page.author.bio.startswith("Dr. Harriet Lerner")
    assert "Marriage Rules" in page.author.bio
    assert page.author.bio.endswith("William Allen")
    assert "Ratings & Reviews" not in page.author.bio
    assert (page.author.books_count, page.author.followers) == (69, 974)


def test_every_review_block_is_found(page: SeedPage) -> None:
    assert len(page.reviews) == PAGE_REVIEW_BLOCKS
    assert [r.position for r in page.reviews] == list(range(1, PAGE_REVIEW_BLOCKS + 1))
    assert [r.position for r in page.reviews if r.name is None] == UNNAMED_POSITIONS
    assert all(r.text for r in page.reviews)
    assert not any("Profile Image for" in r.text for r in page.reviews)
    assert page.reviews[-1].name == "Lyndsey"
    assert "Displaying" not in page.reviews[-1].text


def test_first_review(page: SeedPage) -> None:
    heather = page.reviews[0]
    assert heather.name == "Heather"
    assert heather.reviewed_on == date(2011, 3, 26)
    assert (heather.reviewer_reviews, heather.reviewer_followers) == (109, 24)
    assert heather.authored_books_count is None
    assert heather.shelf is None
    assert heather.text.startswith("You can't fix a relationship")
    assert heather.text.endswith("less the player of a particular role.")
    assert heather.text.count("\n\n") == 3  # four paragraphs kept apart


def test_reviewer_figures(page: SeedPage) -> None:
    elyse = _review_by(page, "Elyse Walters")
    assert (elyse.reviewer_reviews, elyse.reviewer_followers) == (4010, 11900)
    victoria = _review_by(page, "Victoria")
    assert (victoria.reviewer_reviews, victoria.reviewer_followers) == (1164, None)
    unnamed = page.reviews[UNNAMED_POSITIONS[0] - 1]
    assert (unnamed.reviewer_reviews, unnamed.reviewer_followers) == (913, 503)
    assert unnamed.reviewed_on == date(2010, 12, 26)


@pytest.mark.parametrize(
    ("name", "books", "followers"),
    [("Meredith Holley", 2, 2466), ("Alex Gruenenfelder", 1, 10), ("Jude Arnold", 8, 95)],
)
def test_author_badges(page: SeedPage, name: str, books: int, followers: int) -> None:
    review = _review_by(page, name)
    assert review.authored_books_count == books
    assert review.reviewer_followers == followers
    assert review.reviewer_reviews is None  # the badge replaces the review count


def test_want_to_read_entry(page: SeedPage) -> None:
    dawn = _review_by(page, "Dawn")
    assert dawn.shelf == "WANT_TO_READ"
    assert dawn.reviewed_on == date(2009, 9, 1)
    assert dawn.text == "Recommended by my therapist..."
    assert [r.name for r in page.reviews if r.shelf is not None] == ["Dawn"]


def test_multi_part_review_stays_one_block(page: SeedPage) -> None:
    rebecca = _review_by(page, "Rebecca")
    assert rebecca.reviewed_on == date(2013, 9, 9)
    assert rebecca.text.startswith("July 2013\n")
    assert "August 2009" in rebecca.text
    assert rebecca.text.endswith('maintain sameness coexist for good reason."')


def test_ratings_found_in_seed_reviews(page: SeedPage) -> None:
    rated = {r.position: r.rating for r in page.reviews if r.rating is not None}
    rebecca = _review_by(page, "Rebecca")
    assert rated == {rebecca.position: 5, UNNAMED_POSITIONS[0]: 3}
    # "3.5" and "2.5" head these reviews: half stars are not whole-star ratings.
    assert _review_by(page, "Noelle").rating is None
    assert _review_by(page, "Lyndsey").rating is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Read most of The Dance of Intimacy again. Still five stars.", 5),
        ("I gave both books five stars because I like the subject so much", 5),
        ("3 stars", 3),
        ("Solid. 1 star for the cover, though? No: 4 stars.", None),
        ("reading this book was a three-star experience for me", 3),
        ("4 out of 5 stars", 4),
        ("I'd say 4/5.", 4),
        ("Five Stars!", 5),
        ("five stars out of ten", None),
        ("4 out of 10", None),
        ("3.5 stars", None),
        ("three and a half stars", None),
        ("3.5", None),
        ("This is not a five-star book.", None),
        ("I wouldn't give it five stars.", None),
        ("If I could I would give it five stars", None),
        ("Anger gets five stars, this one three stars.", None),
        ("I feel a bit bad taking off stars", None),
        ("a five-star hotel of a book", None),
        ("twenty-five stars", None),
        ("", None),
    ],
)
def test_infer_rating(text: str, expected: int | None) -> None:
    assert infer_rating(text) == expected


@pytest.mark.parametrize("scale", [1, 0.5, 0.1, 0.05, 0.02, 0.01, 0.001])
def test_scaled_counts_keep_the_page_percents(page: SeedPage, scale: float) -> None:
    counts = scaled_rating_counts(page.histogram, scale, at_least=(0, 0, 1, 0, 1))
    total = sum(counts)
    assert tuple(c * 100 // total for c in counts) == PAGE_PERCENTS
    assert counts[2] >= 1 and counts[4] >= 1
    if scale >= 0.02:
        assert abs(total - page.histogram.total * scale) <= 2


def test_scaled_counts_at_known_scales(page: SeedPage) -> None:
    assert scaled_rating_counts(page.histogram, 1) == PAGE_COUNTS
    assert scaled_rating_counts(page.histogram, 0.02) == (5, 9, 41, 69, 78)
    assert scaled_rating_counts(page.histogram, 0.05) == (12, 23, 102, 173, 196)


def test_scaled_count() -> None:
    assert scaled_count(510, 1) == 510
    assert scaled_count(510, 0.02) == 10
    assert scaled_count(10012, 0.02) == 200
    assert scaled_count(510, 0.0001) == 1
    assert scaled_count(510, 0) == 0
    with pytest.raises(ValueError):
        scaled_count(510, -1)


@pytest.mark.parametrize(
    ("name", "username"),
    [("Heather", "heather"), ("Elyse Walters", "elyse_walters"), ("Uğur", "ugur"), ("Al", "al_")],
)
def test_username_for(name: str, username: str) -> None:
    assert username_for(name) == username


def test_seed_usernames_are_valid_and_unique(page: SeedPage) -> None:
    names = seed_usernames(page)
    assert len({n.lower() for n in names}) == len(names) == PAGE_REVIEW_BLOCKS
    assert all(USERNAME_RULE.match(n) for n in names)
    assert "kelly" in names and "reviewer_10" in names


def test_demo_documents_carry_the_page_figures(page: SeedPage) -> None:
    """The built documents (no database involved) hold the scaled populations."""
    docs = build_demo_documents(page, 0.02)
    assert docs.ratings == (5, 9, 41, 69, 78)
    assert (docs.currently_reading, docs.want_to_read) == (10, 200)
    per_star = [sum(1 for r in docs.reviews if r["rating"] == s) for s in range(1, 6)]
    assert tuple(per_star) == docs.ratings
    assert sum(1 for r in docs.reviews if r["shelf"] == "WANT_TO_READ") == 200
    assert sum(1 for r in docs.reviews if r["shelf"] == "CURRENTLY_READING") == 10
    assert sum(1 for r in docs.reviews if r["has_text"]) == PAGE_REVIEW_BLOCKS
    assert len(docs.users) == len(docs.reviews) == len({r["user_id"] for r in docs.reviews})
    assert all(r["created_at"].tzinfo is not None for r in docs.reviews)
    assert {u["authored_books_count"] for u in docs.users} == {0, 1, 2, 8}
