"""User.display_name: family name first for CJK names, "First Last" otherwise, else the username."""

import pytest

from valuecrm.accounts.models import User, person_name


@pytest.mark.parametrize(
    ("first", "last", "username", "expected"),
    [
        ("洋", "刘", "liuyang", "刘洋"),
        ("婷", "黄", "huangting", "黄婷"),
        ("Yang", "刘", "x", "刘Yang"),  # either part in CJK script puts the family name first
        ("Ada", "Lovelace", "ada", "Ada Lovelace"),
        ("Ada", "", "ada", "Ada"),
        ("", "Lovelace", "ada", "Lovelace"),
        (" ", "", "ada", "ada"),
        ("", "", "", ""),
        ("さくら", "佐藤", "sato", "佐藤さくら"),
    ],
)
def test_person_name(first, last, username, expected):
    assert person_name(first, last, username) == expected


def test_user_properties():
    user = User(username="liuyang", first_name="洋", last_name="刘")
    assert user.display_name == "刘洋"
    assert user.get_full_name() == "刘洋"
    assert User(username="ada").display_name == "ada"
    assert User(username="ada").get_full_name() == ""
