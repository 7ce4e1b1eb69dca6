"""/settings voice and /voice delete with names that are paths, globs or patterns: one sentence,
and no file anywhere is touched (another server's cached voice, a file beside the settings). The
real bot on the emulator, on both databases."""

from __future__ import annotations

from tests.bot.harness import refusal, running_bot

HOSTILE = ("../*/*", "../../*", "../../../**/*", "[a-z]*", "a@b", "a/b", "a\\b")
NAME_RULE = "A voice's name must be 1 to 20 letters, digits, - or _, starting with a letter or digit."


async def test_a_hostile_voice_name_is_one_sentence_and_touches_no_file(tmp_path, database):
    async with running_bot(tmp_path, database_url=database) as run:
        here = run.emu.world.guild.id
        voices = run.bot.voices.folder
        planted = [voices / "cache" / str(here) / "lore@1.000000.safetensors",
                   voices / "cache" / "42" / "theirs@1.000000.safetensors",
                   voices / "42" / "theirs.safetensors",
                   tmp_path / "beside-the-settings@1.safetensors"]
        for path in planted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"kept")
        said = set()
        for name in HOSTILE:
            run.emu.clock.advance(60)  # past /settings' pace
            said.add(refusal(await run.ask("/settings voice", user="admin", name=name)))
            said.add(refusal(await run.ask("/voice delete", user="admin", name=name)))
        assert [path for path in planted if not path.exists()] == []
        assert said == {NAME_RULE}
