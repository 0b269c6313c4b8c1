"""Rules for client input; each failure names the field it refuses."""

import re
import unicodedata

from service.errors import BadUserInput

USERNAME_RULE = re.compile(r"^[A-Za-z0-9_.-]{3,30}$")
WORD = re.compile(r"\w+")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
DISPLAY_NAME_MAX = 80
PAGE_MIN, PAGE_MAX = 1, 100
SEARCH_MAX = 200


def username(value: str, field: str = "username") -> str:
    if not USERNAME_RULE.match(value):
        raise BadUserInput(
            f"{field} must be 3 to 30 characters: letters, digits, '_', '.' or '-'", field=field
        )
    return value


def password(value: str, field: str = "password") -> str:
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise BadUserInput(
            f"{field} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long", field=field
        )
    if value.strip() == "":
        raise BadUserInput(f"{field} must not be blank", field=field)
    return value


def _has_control_chars(value: str) -> bool:
    """C0, DEL and C1 controls (Unicode category Cc), except newline, return and tab."""
    return any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value)


def text(value: str, max_length: int, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise BadUserInput(f"{field} must be at most {max_length} characters", field=field)
    if _has_control_chars(value):
        raise BadUserInput(f"{field} must not contain control characters", field=field)
    return stripped


def display_name(value: str | None, fallback: str, field: str = "displayName") -> str:
    if value is None:
        return fallback
    return text(value, DISPLAY_NAME_MAX, field)


def stars(value: int, field: str = "stars") -> int:
    if not 1 <= value <= 5:
        raise BadUserInput(f"{field} must be between 1 and 5, got {value}", field=field)
    return value


def stars_filter(values: list[int] | None, field: str = "stars") -> list[int] | None:
    if values is None:
        return None
    return sorted({stars(v, field) for v in values})


def page_size(value: int | None, field: str = "first", default: int = 20) -> int:
    """`first` of a connection; an explicit null means the default."""
    if value is None:
        return default
    if not PAGE_MIN <= value <= PAGE_MAX:
        raise BadUserInput(
            f"{field} must be between {PAGE_MIN} and {PAGE_MAX}, got {value}", field=field
        )
    return value


def search(value: str | None, field: str = "search") -> str | None:
    """The words to search for, space-separated; None for no search (null or blank).

    Only the words are kept: the text-search syntax of MongoDB (`-word` negation, quoted
    phrases) is not part of the API, so a search is always for its words, literally. A value
    with no word at all matches nothing by definition and is refused (MongoDB's $text fails
    on a search without a searchable token).
    """
    if value is None:
        return None
    if len(value) > SEARCH_MAX:
        raise BadUserInput(f"{field} must be at most {SEARCH_MAX} characters", field=field)
    if _has_control_chars(value):
        raise BadUserInput(f"{field} must not contain control characters", field=field)
    if not value.strip():
        return None
    words = WORD.findall(value)
    if not words:
        raise BadUserInput(
            f"{field} must contain at least one word (letters or digits)", field=field
        )
    return " ".join(words)
