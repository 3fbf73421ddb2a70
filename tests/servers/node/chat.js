// Socket.IO's chat example (examples/chat/index.js) without the static pages, for chatbench's
// tests. It listens on 127.0.0.1 and the port in PORT (0: an ephemeral one), prints
// "Server listening at port N" once it listens, and exits when its standard input closes, so a
// test runner that dies takes it along. PING_INTERVAL and PING_TIMEOUT (milliseconds) override
// Socket.IO's defaults (25000 and 20000).
const { createServer } = require("http");
const { Server } = require("socket.io");

const options = {};
if (process.env.PING_INTERVAL) options.pingInterval = Number(process.env.PING_INTERVAL);
if (process.env.PING_TIMEOUT) options.pingTimeout = Number(process.env.PING_TIMEOUT);

const server = createServer();
const io = new Server(server, options);
const port = Number(process.env.PORT || 0);

server.listen(port, "127.0.0.1", () => {
  console.log("Server listening at port %d", server.address().port);
});

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));

// The chat: one global room, as in Socket.IO's example. "Others" is every other connected
// socket, whether it has sent `add user` or not.
let numUsers = 0;

io.on("connection", (socket) => {
  let added = false;

  socket.on("add user", (username) => {
    if (added) return; // a second `add user` is ignored
    added = true;
    socket.username = username;
    numUsers += 1;
    socket.emit("login", { numUsers });
    socket.broadcast.emit("user joined", { username, numUsers });
  });

  // The sender gets no copy of its own message.
  socket.on("new message", (message) => {
    socket.broadcast.emit("new message", { username: socket.username, message });
  });

  for (const event of ["typing", "stop typing"]) {
    socket.on(event, () => socket.broadcast.emit(event, { username: socket.username }));
  }

  socket.on("disconnect", () => {
    if (!added) return;
    numUsers -= 1;
    socket.broadcast.emit("user left", { username: socket.username, numUsers });
  });
});
