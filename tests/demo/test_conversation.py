import pytest

from harness.demo.conversation import play
from tests.fakes.chat_server import running_fake

pytestmark = pytest.mark.anyio


async def test_conversation_shows_every_event():
    lines: list[str] = []
    with running_fake() as url:
        await play(url, lines.append)
    text = "\n".join(lines)
    for kind in ("welcome", "system", "message", "error"):
        assert f'"type":"{kind}"' in text.replace(" ", "")
    assert "bob left" in text


async def test_conversation_fails_loudly_on_a_broken_server():
    with running_fake({"no-join-announce"}) as url, pytest.raises((RuntimeError, TimeoutError)):
        await play(url, lambda line: None, timeout=1)
