"""What "Continue as Shakespeare" and the seed suggestions make of what people typed."""

from __future__ import annotations

from bot.commands.menu import plain_text
from bot.commands.options import MAX_CHOICE_LENGTH, MAX_CHOICES, SEED_SUGGESTIONS, seed_suggestions


def plain(text: str) -> str:
    return plain_text(text, users={"111111111111111111": "Miranda"}, roles={"222222222222222222": "Players"},
                      channels={"333333333333333333": "stage"})


def test_mentions_emoji_links_and_markdown_become_plain_words() -> None:
    assert plain("<@111111111111111111> and <@!111111111111111111>, hail!") == "@Miranda and @Miranda, hail!"
    assert plain("<@999999999999999999> met <@&222222222222222222> in <#333333333333333333>") == (
        "@someone met @Players in #stage")
    assert plain("so <:wink:444444444444444444> and <a:dance:555555555555555555>") == "so wink and dance"
    assert plain("see https://www.example.com/a/b?c=d and <https://discord.com/x>") == (
        "see example.com and discord.com")
    assert plain("**bold** __under__ *it* ~~gone~~ ||secret|| `code`") == "bold under it gone secret code"
    assert plain("# Act I\n> quoted line\nplain") == "Act I\nquoted line\nplain"
    assert plain("@everyone come at <t:1700000000:R>") == "everyone come at a moment"


def test_a_message_of_only_links_markup_or_nothing_is_empty_or_says_so() -> None:
    assert plain("") == ""
    assert plain("   ** **  ") == ""
    assert plain("https://example.com") == "example.com"


def test_seed_suggestions_offer_what_was_typed_then_known_seeds_containing_it() -> None:
    assert seed_suggestions("") == list(SEED_SUGGESTIONS)[:MAX_CHOICES]
    romeo = seed_suggestions("rom")
    assert romeo[0] == "rom" and "ROMEO:" in romeo and romeo.index("ROMEO:") < romeo.index(
        "O Romeo, Romeo! wherefore art thou Romeo?")
    assert seed_suggestions("ROMEO:")[0] == "ROMEO:" and seed_suggestions("ROMEO:").count("ROMEO:") == 1
    assert seed_suggestions("Xyzzy plugh") == ["Xyzzy plugh"]  # works as typed, nothing known matches


def test_seed_suggestions_respect_discords_limits_whatever_is_typed() -> None:
    for typed in ("a" * 10_000, "e", " " * 50, "\u200b" * 200):
        choices = seed_suggestions(typed)
        assert len(choices) <= MAX_CHOICES
        assert all(0 < len(choice) <= MAX_CHOICE_LENGTH for choice in choices)
