// generate.js writes src/schema.d.ts, the client's types, from
// api/openapi.yaml with openapi-typescript (npm run generate, or make
// generate at the repository's root). With --check it writes nothing and
// fails when src/schema.d.ts is not what it would write, so that a change
// to the document cannot ship without the client's types; test/jsclient
// runs that (npm run check-generated).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const schema = join(root, "src", "schema.d.ts");
const cli = join(root, "node_modules", "openapi-typescript", "bin", "cli.js");

// --empty-objects-unknown: an object the document leaves open (an
// event's data, which is whatever resource the event is about) is
// `unknown`, to be narrowed, rather than `Record<string, never>`, which no
// value could satisfy.
function generate(output) {
  const run = spawnSync(process.execPath, [cli, "../../api/openapi.yaml", "--empty-objects-unknown", "--output", output], {
    cwd: root,
    encoding: "utf8",
  });
  if (run.status !== 0) {
    console.error(run.stdout, run.stderr);
    process.exit(1);
  }
}

if (!process.argv.includes("--check")) {
  generate(schema);
  process.exit(0);
}
const dir = mkdtempSync(join(tmpdir(), "keel-schema-"));
try {
  const fresh = join(dir, "schema.d.ts");
  generate(fresh);
  if (readFileSync(fresh, "utf8") !== readFileSync(schema, "utf8")) {
    console.error("clients/js/src/schema.d.ts is stale: api/openapi.yaml changed since it was generated; run make generate and commit it.");
    process.exit(1);
  }
  console.log("clients/js/src/schema.d.ts matches api/openapi.yaml");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
