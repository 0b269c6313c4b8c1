"""Rules for client input; each failure names the field it refuses."""

import functools
import re
import unicodedata

from service.errors import BadUserInput

# \A and \Z, not ^ and $: `$` also matches before a final newline, which let "zara\n" register
# as a second account that looks like "zara".
USERNAME_RULE = re.compile(r"\A[A-Za-z0-9_.-]{3,30}\Z")
WORD = re.compile(r"\w+")
PASSWORD_MIN, PASSWORD_MAX = 8, 128
DISPLAY_NAME_MAX = 80
PAGE_MIN, PAGE_MAX = 1, 100
SEARCH_MAX = 200


def username(value: str, field: str = "username") -> str:
    if not USERNAME_RULE.fullmatch(value):
        raise BadUserInput(
            f"{field} must be 3 to 30 characters: letters, digits, '_', '.' or '-'", field=field
        )
    return value


@functools.cache
def common_passwords() -> frozenset[str]:
    """The passwords signUp refuses as too common (NIST SP 800-63B: "passwords obtained from
    previous breach corpuses" and "commonly-used" values must be refused).

    The list is zxcvbn's `passwords` frequency list: the 30,000 most frequent passwords of
    leaked password corpora, lower-cased, shipped inside the `zxcvbn` package (maintained on
    PyPI, pure Python, no data downloaded at run time). Alternatives weighed: Django ships a
    similar list but would bring a web framework for one file; the Pwned Passwords API is larger
    but makes every signUp depend on a third party over the network. Loaded on first use.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password(value: str, field: str = "password") -> str:
    if not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise BadUserInput(
            f"{field} must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long", field=field
        )
    if value.strip() == "":
        raise BadUserInput(f"{field} must not be blank", field=field)
    if not has_visible(value):
        raise BadUserInput(f"{field} must not be only invisible characters", field=field)
    if value.lower() in common_passwords():
        raise BadUserInput(
            f"{field} is one of the most common passwords; choose another", field=field
        )
    return value


def _has_control_chars(value: str) -> bool:
    """C0, DEL and C1 controls (Unicode category Cc), except newline, return and tab."""
    return any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in value)


# What shows nothing on its own: controls, format characters (zero-width spaces and joiners,
# the BOM, bidirectional marks), separators and combining marks, and the letters that render
# blank (Hangul fillers, the braille blank).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Not in a name: controls, format characters (right-to-left overrides and isolates, zero-width
# characters) and line or paragraph separators, which let one name pass for another.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def has_visible(value: str) -> bool:
    """Whether the text has a character that shows (not only whitespace, zero-width
    characters or a lone byte-order mark)."""
    return any(
        unicodedata.category(c) not in _INVISIBLE_CATEGORIES and c not in _BLANK_LETTERS
        for c in value
    )


def text(value: str, max_length: int, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise BadUserInput(f"{field} must be at most {max_length} characters", field=field)
    if _has_control_chars(value):
        raise BadUserInput(f"{field} must not contain control characters", field=field)
    if not has_visible(value):
        raise BadUserInput(
            f"{field} must contain visible characters (not only invisible ones)", field=field
        )
    return stripped


def display_name(value: str | None, fallback: str, field: str = "displayName") -> str:
    if value is None:
        return fallback
    name = text(value, DISPLAY_NAME_MAX, field)
    if any(unicodedata.category(c) in _NOT_IN_NAMES for c in name):
        raise BadUserInput(
            f"{field} must not contain control or formatting characters (such as"
            " right-to-left overrides or zero-width characters)",
            field=field,
        )
    return name


def name_key(name: str) -> str:
    """What two names are compared by: NFKC-normalized and case-folded (Unicode's
    NFKC_Casefold, near enough), so "Ｚａｒａ" and "ZARA" are both "zara"."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


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
