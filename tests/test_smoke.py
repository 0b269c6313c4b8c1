"""The demo book page renders from one query."""

from tests.support.app import DemoApp


async def test_book_page_renders(demo: DemoApp) -> None:
    data = await demo.app.client.data(
        "query($id: ID!) { book(id: $id) { title ratingStats { count histogram { stars percent } }"
        " shelfCounts { wantToRead currentlyReading } reviewsCount } }",
        {"id": demo.book_id},
    )
    book = data["book"]
    assert book["title"] == "The Dance of Intimacy"
    assert [b["percent"] for b in book["ratingStats"]["histogram"]] == [38, 34, 20, 4, 2]
    assert book["reviewsCount"] == 29
