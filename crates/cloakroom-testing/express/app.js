// A small real Express service keeping its sessions with express-session in
// connect-redis: what cloakroom's express import takes over in its tests.
//
// Environment: PORT (0 for any free one), REDIS_URL (comma-separated nodes with
// REDIS_CLUSTER=1), SESSION_SECRETS (comma-
// separated, the first signs), COOKIE_NAME (default connect.sid), PREFIX
// (default sess:), MAX_AGE_MS (unset: a browser-session cookie).
// Prints "listening on <port>" once it serves.
//
// POST /login {"user": ..., "fields": {...}}   regenerates, sets userId and the fields
// POST /passport {"user": ..., "fields": {...}} the same, with passport.user
// GET  /session                                 the session as express sees it
// POST /logout                                  destroys the session
import express from "express";
import session from "express-session";
import { RedisStore } from "connect-redis";
import { createClient, createCluster } from "redis";

const env = process.env;
const client = env.REDIS_CLUSTER === "1"
  ? createCluster({ rootNodes: env.REDIS_URL.split(",").map((url) => ({ url })) })
  : createClient({ url: env.REDIS_URL });
client.on("error", (err) => console.error("redis:", err.message));
await client.connect();

const app = express();
app.use(express.json());
app.use(
  session({
    store: new RedisStore({ client, prefix: env.PREFIX ?? "sess:" }),
    secret: (env.SESSION_SECRETS ?? "keyboard cat").split(","),
    name: env.COOKIE_NAME ?? "connect.sid",
    resave: false,
    saveUninitialized: false,
    cookie: env.MAX_AGE_MS ? { maxAge: Number(env.MAX_AGE_MS) } : {},
  }),
);

function signIn(put) {
  return (req, res, next) => {
    const { user, fields = {} } = req.body ?? {};
    req.session.regenerate((err) => {
      if (err) return next(err);
      Object.assign(req.session, fields);
      put(req.session, user);
      req.session.save((err) => (err ? next(err) : res.json({ ok: true })));
    });
  };
}

app.post("/login", signIn((s, user) => { s.userId = user; }));
app.post("/passport", signIn((s, user) => { s.passport = { user }; }));
app.get("/session", (req, res) => {
  const { cookie, ...fields } = req.session;
  res.json({ id: req.session.userId ?? req.session.passport?.user ?? null, fields });
});
app.post("/logout", (req, res, next) => {
  req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
});

const server = app.listen(Number(env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`listening on ${server.address().port}`);
});
