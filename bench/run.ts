/**
 * `npm run bench [name ...]`: runs each benchmark file in its own Node process, one
 * after another, so that no benchmark warms the JIT or the heap for the next one.
 * Without names it runs every `bench/*.ts` except this runner.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const all = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -3))
  .sort()
const wanted = process.argv.slice(2)
const unknown = wanted.filter((name) => !all.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${all.join(", ")}`)
  process.exit(2)
}
let failed = false
for (const name of wanted.length > 0 ? wanted : all) {
  console.log(`\n=== bench/${name}.ts`)
  const result = spawnSync(process.execPath, ["--expose-gc", join(here, `${name}.ts`)], { stdio: "inherit" })
  if (result.status !== 0) failed = true
}
process.exit(failed ? 1 : 0)
