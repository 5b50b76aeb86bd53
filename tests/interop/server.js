// A reference socket.io server for the interop tests: socket.io 2.x (Engine.IO v3,
// what Avaya Spaces runs) or 4.x, the `/chat` namespace with the token check,
// SUBSCRIBE_CHANNEL answered as Avaya does, the seed payloads sent as MESSAGE_SENT
// once every listed space is subscribed, and the two REST listings the archiver
// calls. Usage: node server.js 2|4 TOKEN FIXTURE_DIR. Prints "listening PORT".
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");

const [version, token, fixtures] = process.argv.slice(2);
const payloads = fs
  .readdirSync(fixtures)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(fixtures, f), "utf8")));
const spaces = [...new Set(payloads.map((p) => p.topicId).filter(Boolean))];

function rest(req, res) {
  const url = new URL(req.url, "http://localhost");
  if (!url.pathname.startsWith("/api/")) return false;
  const auth = req.headers["authorization"] || "";
  res.setHeader("content-type", "application/json");
  if (auth !== `jwt ${token}` && auth !== `bearer ${token}`) {
    res.statusCode = 401;
    res.end(JSON.stringify({ error: { code: "unauthorized" } }));
    return true;
  }
  if (url.pathname === "/api/users/me/spaces") {
    res.end(JSON.stringify({ data: spaces.map((id) => ({ _id: id })), nextPageUrl: null }));
  } else if (url.pathname === "/api/users/me/messages") {
    res.end(JSON.stringify({ data: [], nextPageUrl: null }));
  } else {
    res.statusCode = 404;
    res.end("{}");
  }
  return true;
}

const server = http.createServer();
const options = { pingInterval: 1000, pingTimeout: 1000, transports: ["websocket"] };
const io = version === "2" ? require("sio2")(server, options) : new (require("sio4").Server)(server, options);
// socket.io attaches its own request listener; answer the REST paths first.
const listeners = server.listeners("request").slice();
server.removeAllListeners("request");
server.on("request", (req, res) => {
  if (!rest(req, res)) listeners.forEach((l) => l.call(server, req, res));
});

const chat = io.of("/chat");
chat.use((socket, next) => {
  const given = (socket.handshake.auth && socket.handshake.auth.token) || socket.handshake.query.token;
  next(given === token ? undefined : new Error("Authentication error"));
});
chat.on("connection", (socket) => {
  const subscribed = new Set();
  let sent = false;
  // Garbage first: an unknown event and a MESSAGE_SENT without a payload object.
  socket.emit("PRESENCE_EVENT_RESPONSE", { presence: "online" });
  socket.emit("MESSAGE_SENT", "not a payload");
  socket.on("SUBSCRIBE_CHANNEL", (request) => {
    const id = request && request.channel && request.channel._id;
    socket.join(id);
    subscribed.add(id);
    socket.emit("CHANNEL_SUBSCRIBED", { channel: { _id: id, type: "topic" }, dtsid: socket.id, sessionId: socket.id });
    if (!sent && spaces.every((s) => subscribed.has(s))) {
      sent = true;
      for (const p of payloads) socket.emit("MESSAGE_SENT", p);
    }
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
