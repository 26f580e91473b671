// These tests run the built client (dist/) against a live keel serve that
// test/jsclient (Go) starts and fills: a workspace, a form and a
// published post. They take what they need from the environment.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createKeelClient } from "../dist/index.js";

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} is not set: run these tests through go test ./test/jsclient`);
  return v;
}

const baseUrl = env("KEEL_URL");
const ws = env("KEEL_WORKSPACE");
const form = env("KEEL_FORM");
const slug = env("KEEL_POST_SLUG");
// An API key with events:read, as a partner following the feed has.
const keel = createKeelClient({ baseUrl, token: env("KEEL_API_KEY") });
// A visitor's browser or a static site's script: no credentials.
const anonymous = createKeelClient({ baseUrl });

// lastEvent reads the whole feed, page by page, and returns the ID of its
// last event (undefined when it is empty), as a partner stores it.
async function lastEvent() {
  let after;
  for (;;) {
    const { data, error } = await keel.GET("/v1/workspaces/{ws}/events", {
      params: { path: { ws }, query: after ? { after } : {} },
    });
    assert.equal(error, undefined, JSON.stringify(error));
    if (data.data.length > 0) {
      after = data.data.at(-1).id;
    }
    if (!data.has_more) {
      return after;
    }
    assert.equal(data.next_cursor, after);
  }
}

test("a submission, a post and the change feed", async () => {
  const before = await lastEvent();

  const sent = await anonymous.POST("/v1/forms/{form}/submissions", {
    params: { path: { form } },
    body: { name: "Ada", email: "ada@example.com", message: "Hello from Node" },
  });
  assert.equal(sent.response.status, 201, JSON.stringify(sent.error));
  assert.match(sent.data.id, /^sub_/);
  assert.match(sent.data.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.match(sent.response.headers.get("Location"), new RegExp(`^/v1/workspaces/ws_\\w+/submissions/${sent.data.id}$`));

  const post = await anonymous.GET("/v1/sites/{site}/posts/{slug}", {
    params: { path: { site: ws, slug } },
  });
  assert.equal(post.response.status, 200, JSON.stringify(post.error));
  assert.equal(post.data.slug, slug);
  assert.equal(post.data.kind, "post");
  assert.match(post.data.body_html, /<p>/);

  // What follows the stored cursor is the submission's event, once.
  const { data: feed, error } = await keel.GET("/v1/workspaces/{ws}/events", {
    params: { path: { ws }, query: before ? { after: before } : {} },
  });
  assert.equal(error, undefined, JSON.stringify(error));
  const created = feed.data.filter((e) => e.type === "submission.created");
  assert.equal(created.length, 1, JSON.stringify(feed.data));
  assert.equal(created[0].data.id, sent.data.id);
  assert.equal(created[0].data.values.message, "Hello from Node");
  assert.equal(feed.has_more, false);
});

test("errors resolve to the problem with its code", async () => {
  const { data, error, response } = await anonymous.GET("/v1/sites/{site}/posts/{slug}", {
    params: { path: { site: ws, slug: "no-such-post" } },
  });
  assert.equal(data, undefined);
  assert.equal(response.status, 404);
  assert.equal(error.code, "not_found");
  assert.equal(error.status, 404);
});

test("a bad key is refused with 401 unauthenticated", async () => {
  const stranger = createKeelClient({ baseUrl, token: "keel_bad_key" });
  const { error, response } = await stranger.GET("/v1/workspaces/{ws}/events", { params: { path: { ws } } });
  assert.equal(response.status, 401);
  assert.equal(error.code, "unauthenticated");
});
