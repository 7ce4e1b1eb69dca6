"""Every REST call the bot made, and every answer the emulator gave, checked against Discord's own
OpenAPI description (discord/discord-api-spec): all the session's traffic so far, and its own.
The emulator fixture checks the whole session's traffic once more when it ends."""

from __future__ import annotations

import pytest

from discord_emulator import Emulator
from discord_emulator.process import BotProcess
from tests.e2e.helpers import ask, fresh_user

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

# The endpoints a slash-command bot cannot do without; the test also covers any others it used.
ESSENTIAL = {
    "GET /users/@me",
    "PUT /applications/{application_id}/commands",
    "POST /interactions/{interaction_id}/{token}/callback",
    "PATCH /webhooks/{application_id}/{token}/messages/{message_id}",
}


async def test_every_endpoint_the_bot_uses_matches_discords_published_contract(
    emulator: Emulator, bot: BotProcess
) -> None:
    if not emulator.contract.enabled:
        pytest.skip("Discord's OpenAPI description is absent: set DISCORD_OPENAPI_PATH, or put it "
                    "at ../shared/data/discord-openapi.json beside the checkout")
    # Make sure both kinds of answer are in the traffic even when this test runs alone.
    await ask(emulator, "/about")
    await ask(emulator, "/shakespeare seed:a length:30", user=fresh_user(emulator))

    violations = emulator.contract_violations()
    used = {f"{call.method} {call.route}" for call in emulator.calls if not call.injected}
    assert used >= ESSENTIAL, f"not exercised: {ESSENTIAL - used}"
    assert "" not in {call.route for call in emulator.calls}, emulator.recorder.unknown_routes()
    for endpoint in sorted(used):
        problems = [
            problem for call in emulator.calls if f"{call.method} {call.route}" == endpoint
            for problem in call.contract_errors
        ]
        assert problems == [], f"{endpoint}:\n" + "\n".join(problems)
    assert violations == []
