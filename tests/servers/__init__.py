"""Real, independent chat servers that do not speak protocol v1, for protocol profiles (issue 12).

Each module is one server written the way its kind is usually written, sharing no code with
reference_server/ or tests/fakes/, with a context manager that runs it on 127.0.0.1 and an
ephemeral port and yields its base URL, `ws://127.0.0.1:PORT`:

    with running_relay_no_echo() as url:
        ...connect to f"{url}/rooms/lobby/ws?user=ann"...

ASGI apps run on uvicorn in a background thread (tests.servers.asgi, uvicorn's defaults: pings
every 20 s, permessage-deflate offered); extra keyword arguments go to uvicorn.Config. Each has
a draft profile in profiles/NAME.toml; test_profiles.py checks that it classifies the frames
that test_servers.py and test_socketio.py pin.

fastapi_docs (`running_fastapi_docs`): the FastAPI documentation's multi-client WebSocket
example. Connect to `/ws/{client_id}` with an integer id (anything else is refused with 403);
events name a member by that id. Plain text both ways. For each text the sender alone first
gets `You wrote: TEXT`, then everybody, the sender included, gets `Client #ID says: TEXT`; a
disconnect is broadcast as `Client #ID left the chat`. One room for everybody, no welcome, no
join announcement, echo (through the broadcast). Its broadcast awaits each member's send in
turn, so one member that stops reading stalls the room, and a send that fails on a dead member
raises in the sender's handler, which then drops the sender.

socketio_chat (`running_socketio_chat`, python-socketio) and socketio_node
(`running_socketio_node`, Node's socket.io 4 running node/chat.js): Socket.IO's own chat
example. Socket.IO v4 at `/socket.io/` (raw: `/socket.io/?EIO=4&transport=websocket`, open
packet `0{...}`, `40` answered by `40{"sid": ...}`, events `42[NAME, DATA]`, the server's ping
`2` answered by `3`). One global room. A client names itself by emitting `add user` with its
name; it gets `login` `{numUsers}` (the users added so far, itself included) and every other
connected client, added or not, gets `user joined` `{username, numUsers}`. `new message` (a
string) reaches everybody BUT the sender as `new message` `{username, message}`: no echo.
`typing` / `stop typing` reach the others as `{username}`; a user that was added and
disconnects is announced as `user left` `{username, numUsers}`. Ping interval and timeout
(seconds) are options of both; Node needs `node` and `npm` and installs socket.io into
node/node_modules on first use, raising NodeUnavailable when it cannot.

json_other_fields (`running_json_other_fields`, FastAPI): JSON with rooms, other field names
and no welcome. Connect to `/chat?room=R&nick=N` (nick required, room `lobby` by default); the
nick names the member. The others in the room get `{"event": "joined", "who": N}` and
`{"event": "left", "who": N}`; a client sends `{"say": TEXT}` and everybody in the room, the
sender too, gets `{"event": "say", "from": N, "body": TEXT, "channel": R}`; any other frame
gets the sender `{"event": "error", "reason": ...}`. Correct: bounded outbox per member with a
writer task; one that overflows is announced as left and closed with 1008.

relay_no_echo (`running_relay_no_echo`, a Starlette WebSocketEndpoint): JSON with rooms and
no echo. Connect to `/rooms/{room}/ws?user=N` (user `anonymous` by default); the joiner gets
`{"type": "hello", "members": COUNT}` (itself included), the others
`{"type": "presence", "user": N, "status": "online"}` and later `"offline"`. A client sends
`{"msg": TEXT}`; every other member of the room gets `{"type": "msg", "user": N, "msg": TEXT}`,
the sender nothing. JSON of another shape gets `{"type": "error", "reason": ...}`; a frame that
is not JSON closes the sender with 1003 (Starlette's way) and it is announced offline.
Correct, with bounded outboxes as above.

plain_text_room (`running_plain_text_room`, the websockets library): plain text, one room
for everybody. Connect to `/?name=N` (a missing or empty name is refused with 400, another
path with 404). The others get `* N has joined` and `* N has left`; a client sends raw text and
everybody, the sender too, gets `<N> TEXT` (new lines kept); a binary frame gets the sender
`! text frames only`. No welcome. Correct, with bounded outboxes as above; websockets pings
every `ping_interval` seconds (20) and drops a member silent for `ping_timeout` more (20).
"""
