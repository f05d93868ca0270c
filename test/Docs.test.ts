/**
 * The API reference builds from the sources' JSDoc (`npm run docs`, @effect/docgen): every
 * export carries `@since`, and every `@example` block type-checks against the sources.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

describe("the API reference", () => {
  it("npm run docs builds it, type-checking every @example", async () => {
    const output = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        [join(root, "node_modules", "@effect", "docgen", "bin.cjs")],
        { cwd: root, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error === null ? resolve(`${stdout}${stderr}`) : reject(new Error(`docgen failed:\n${stdout}\n${stderr}`))
      )
    )
    const examples = /(\d+) example\(s\) found/.exec(output)
    assert.isNotNull(examples, output)
    assert.isAtLeast(Number(examples![1]), 9, "fewer @example blocks than the sources had when this test was written")
    const reference = readFileSync(join(root, "docs", "modules", "RedisPool.ts.md"), "utf8")
    assert.include(reference, "layerConfig")
  }, 300_000)
})
