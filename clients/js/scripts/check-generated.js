// check-generated.js fails when src/schema.d.ts is not what
// openapi-typescript makes of the current api/openapi.yaml, so that a
// change to the document cannot ship without the client's types (run
// `make generate` to refresh them). test/jsclient runs it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const committed = join(root, "src", "schema.d.ts");
const dir = mkdtempSync(join(tmpdir(), "keel-schema-"));
try {
  const fresh = join(dir, "schema.d.ts");
  const cli = join(root, "node_modules", "openapi-typescript", "bin", "cli.js");
  const run = spawnSync(process.execPath, [cli, "../../api/openapi.yaml", "--output", fresh], { cwd: root, encoding: "utf8" });
  if (run.status !== 0) {
    console.error(run.stdout, run.stderr);
    process.exit(1);
  }
  if (readFileSync(fresh, "utf8") !== readFileSync(committed, "utf8")) {
    console.error("clients/js/src/schema.d.ts is stale: api/openapi.yaml changed since it was generated; run make generate and commit it.");
    process.exit(1);
  }
  console.log("clients/js/src/schema.d.ts matches api/openapi.yaml");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
