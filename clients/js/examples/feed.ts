// feed.ts shows the client's types at work; `npm run typecheck` compiles it
// (test/jsclient runs that), so a change of the document that breaks such
// code fails the tests instead of a partner's build.
import { createKeelClient, type Schemas } from "../src/index.js";

const keel = createKeelClient({ baseUrl: "https://api.example.com", token: "keel_…" });

/** follow prints what happened in a workspace after the event `after`. */
export async function follow(ws: string, after?: string): Promise<string | undefined> {
  const { data, error } = await keel.GET("/v1/workspaces/{ws}/events", {
    params: { path: { ws }, query: { after, limit: 100 } },
  });
  if (error) {
    const code: string = error.code;
    throw new Error(`${error.status} ${code}: ${error.detail ?? error.title}`);
  }
  for (const event of data.data) {
    const type: Schemas["EventType"] = event.type;
    // data is the resource the event is about, whose shape depends on the
    // type: narrow before use.
    const subject = typeof event.data.id === "string" ? event.data.id : "";
    console.log(event.id, type, event.created_at, subject);
  }
  const more: boolean = data.has_more;
  return more ? (data.next_cursor ?? undefined) : data.data.at(-1)?.id;
}

/** submit posts a contact form as a visitor's script would. */
export async function submit(form: string): Promise<Schemas["Submitted"]> {
  const visitor = createKeelClient({ baseUrl: "https://api.example.com" });
  const { data, error } = await visitor.POST("/v1/forms/{form}/submissions", {
    params: { path: { form } },
    body: { name: "Ada", email: "ada@example.com" },
  });
  // The endpoint answers browsers' form posts with HTML, which a script
  // that sends JSON does not get; the types say it can happen.
  if (error !== undefined) {
    throw new Error(typeof error === "string" ? "refused" : error.code);
  }
  if (data === undefined || typeof data === "string") {
    throw new Error("an HTML answer to a JSON request");
  }
  return data;
}

/** title reads a published post's title. */
export async function title(site: string, slug: string): Promise<string> {
  const { data } = await keel.GET("/v1/sites/{site}/posts/{slug}", { params: { path: { site, slug } } });
  return data?.title ?? "";
}

// The types are the document's, not `any`: each of these is an error, and
// an unused @ts-expect-error is one too.
export async function wrong(): Promise<void> {
  // @ts-expect-error: no such path.
  await keel.GET("/v1/workspaces/{ws}/event", { params: { path: { ws: "docs" } } });
  // @ts-expect-error: the feed's limit is a number.
  await keel.GET("/v1/workspaces/{ws}/events", { params: { path: { ws: "docs" }, query: { limit: "100" } } });
  // @ts-expect-error: the path parameter is missing.
  await keel.GET("/v1/sites/{site}/posts/{slug}", { params: { path: { site: "docs" } } });
}
