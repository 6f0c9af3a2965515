"""Every reply and event a real daemon sends fits the published schema."""

from __future__ import annotations

from typing import Any

from cmp.client import Client
from cmp.core.ops import OPS
from cmp.core.schema import EVENT_DATA, OP_RESULTS
from tests.conftest import ClientFactory


class Checked:
    """Calls ops through a client and validates each result against its model."""

    def __init__(self, client: Client, seen: set[str]) -> None:
        self.client = client
        self.seen = seen

    async def __call__(self, op: str, **args: Any) -> dict[str, Any]:
        result = await self.client.call(op, **args)
        OP_RESULTS[op].model_validate(result)
        self.seen.add(op)
        return result


async def test_all_ops_and_events_fit_the_schema(connect: ClientFactory, admin_token: str) -> None:
    seen: set[str] = set()
    admin = Checked(await connect(admin_token), seen)
    await admin("auth", token=admin_token)
    await admin("time", client_send_ms=1.5)
    issued = await admin("token_issue", role="host", name="hana")
    spare = await admin("token_issue", role="admin", name="spare", ttl_s=600)
    await admin("token_list")
    await admin("token_revoke", jti=spare["jti"])

    host_client = await connect(issued["token"])
    host = Checked(host_client, seen)
    created = await host("session_create", name="all ops")
    s = created["session"]["id"]
    subscribed = await host("subscribe", session=s)
    assert subscribed["mode"] == "snapshot"
    anonymous = Checked(await connect(), seen)
    joined = await anonymous("session_join", code=created["session"]["invite_code"], name="gus")
    guest = Checked(await connect(joined["token"]), seen)
    other = await anonymous("session_join", code=created["session"]["invite_code"], name="olga")
    olga = Checked(await connect(other["token"]), seen)
    resumed = await guest("subscribe", session=s, since_rev=1)
    assert resumed["mode"] == "events"
    let_in = await host("session_listener", session=s, name="shop-left")
    listener = Checked(await connect(let_in["token"]), seen)
    assert (await listener("auth", token=let_in["token"]))["role"] == "listener"

    a = (await host("playlist_add", session=s, uri="a.ogg", title="A"))["item"]["id"]
    b = (await host("playlist_add", session=s, uri="b.ogg", duration_ms=60_000))["item"]["id"]
    await host("playlist_move", session=s, item=b, position=0)
    await host("item_duration", session=s, item=a, duration_ms=90_000)
    await listener("item_duration", session=s, item=a, duration_ms=1)  # known: unchanged
    asked = await guest("request_playlist_change", session=s, action="add", uri="c.ogg")
    await host("request_approve", session=s, request=asked["request"]["id"])
    asked = await guest("request_playlist_change", session=s, action="remove", item=a)
    await host("request_reject", session=s, request=asked["request"]["id"], reason="no")
    asked = await guest("request_playlist_change", session=s, action="move", item=a, position=0)
    await guest("request_withdraw", session=s, request=asked["request"]["id"])
    await guest("request_list", session=s)
    await guest(
        "follower_report",
        session=s,
        name="gus-laptop",
        item=b,
        state="in_sync",
        error_ms=0.3,
        speed=1.0,
        offset_ms=12.5,
        rtt_ms=0.4,
    )
    for action, extra in [
        ("play", {}),
        ("pause", {}),
        ("seek", {"position_ms": 1_000}),
        ("skip_next", {}),
        ("skip_prev", {}),
    ]:
        await host("playback_command", session=s, action=action, **extra)
    await host("playback_repeat", session=s, mode="all")
    await host("playlist_remove", session=s, item=a)
    await host("session_get", session=s)
    await guest("session_list")
    await listener("session_list")
    await listener("session_get", session=s)
    await listener("follower_report", session=s, name="shop-left", state="playing")
    await host("session_rotate_invite", session=s)
    await host("session_kick", session=s, user=other["user"])
    await host("session_kick", session=s, user=let_in["user"])
    await guest("request_playlist_change", session=s, action="add", uri="d.ogg")
    await host("playlist_clear", session=s)
    await guest("unsubscribe", session=s)
    await guest("session_leave", session=s)
    ended = await host("session_end", session=s)
    del olga

    assert seen == set(OPS), f"ops not exercised: {sorted(set(OPS) - seen)}"
    kinds = set()
    event: dict[str, Any] = {"rev": 0}
    while event["rev"] < ended["rev"]:
        event = await host_client.next_event(5)
        if event["type"] != "snapshot":
            EVENT_DATA[event["type"]].model_validate(event["data"])
            kinds.add(event["type"])
    assert kinds == set(EVENT_DATA)
