/**
 * The package as a user installs it: `npm pack`, a fresh project elsewhere on disk, the tarball and
 * `effect` from the registry, then the README's program type-checked (strict, `nodenext` and
 * `bundler` resolution) and run with plain `node` on the machine's Node 20 and on Node 22, and
 * every subpath export imported by name. Each step that breaks says which one it was.
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as RedisServer from "./support/RedisServer.ts"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  readonly name: string
  readonly exports: Record<string, unknown>
  readonly peerDependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
}

interface Output {
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command; a failure names the step and shows the tail of what the command printed. */
const step = (name: string, command: string, args: ReadonlyArray<string>, cwd: string): Promise<Output> =>
  new Promise((resolve, reject) => {
    execFile(command, args, { cwd, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) return resolve({ stdout, stderr })
      const tail = `${stdout}\n${stderr}`.trim().split("\n").slice(-40).join("\n")
      reject(new Error(`consumer check failed at step "${name}": ${command} ${args.join(" ")}\n${error.message}\n${tail}`))
    })
  })

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The machine's own `node` (the first on PATH outside any node_modules), not the repo's pinned toolchain. */
const systemNode = (): string | undefined => {
  if (process.env.CONSUMER_NODE20 !== undefined) return process.env.CONSUMER_NODE20
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "" || dir.includes("node_modules")) continue
    const candidate = join(dir, "node")
    if (executable(candidate)) return candidate
  }
  return undefined
}

const major = async (node: string): Promise<number> =>
  Number((await step(`${node} --version`, node, ["--version"], root)).stdout.trim().replace(/^v/, "").split(".")[0])

/** The program under "## Using it" in README.md. */
const readmeProgram = (): string => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## Using it"))
  const match = /```ts\n([\s\S]*?)```/.exec(section)
  if (match === null) throw new Error("README.md has no ```ts block under \"## Using it\"")
  return match[1]!
}

const subpaths = Object.keys(pkg.exports).filter((key) => key !== "./package.json")

/** `./Errors` → `ModuleErrors`, `.` → `Root`. */
const bindingOf = (subpath: string) => subpath === "." ? "Root" : `Module${subpath.slice(2)}`
const specifierOf = (subpath: string) => subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`

/** Names each public module exports, read from the sources the package was built from. */
const sourceExports = async (): Promise<Record<string, ReadonlyArray<string>>> => {
  const out: Record<string, ReadonlyArray<string>> = {}
  for (const subpath of subpaths) {
    const file = subpath === "." ? "index" : subpath.slice(2)
    out[bindingOf(subpath)] = Object.keys(await import(join(root, "src", `${file}.ts`))).sort()
  }
  return out
}

const tsconfig = (resolution: "nodenext" | "bundler", emit: boolean) =>
  JSON.stringify({
    compilerOptions: {
      strict: true,
      target: "ES2022",
      module: resolution === "nodenext" ? "NodeNext" : "ESNext",
      moduleResolution: resolution === "nodenext" ? "NodeNext" : "Bundler",
      ...(emit ? { outDir: "out" } : { noEmit: true })
    },
    files: ["app.ts", "subpaths.ts"]
  })

layer(RedisServer.layer(), { excludeTestServices: true })("the package, installed and used as a user would", (it) => {
  it.effect("npm pack → a fresh project → tsc (nodenext, bundler) → plain node 20 and 22 → every subpath", () =>
    Effect.gen(function*() {
      const server = yield* RedisServer.RedisServer
      const node20 = systemNode()
      if (node20 === undefined) {
        assert.fail("no system `node` on PATH: the consumer check runs the package on Node 20 (install Node.js 20)")
      }
      const dir = mkdtempSync(join(tmpdir(), "effect-redis-pool-consumer-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      yield* Effect.promise(async () => {
        const versions = [await major(node20), await major(process.execPath)]
        assert.deepStrictEqual(
          versions,
          [20, 22],
          `the check runs the package on the machine's Node 20 (${node20}) and the repo's Node 22 (${process.execPath}); ` +
            `set CONSUMER_NODE20 to a Node 20 binary if the machine's node is another version`
        )

        // 1. the tarball: what it ships and what it leaves out
        const packed = JSON.parse((await step("npm pack", "npm", ["pack", "--json", "--pack-destination", dir], root)).stdout)[0] as {
          filename: string
          size: number
          entryCount: number
          files: ReadonlyArray<{ path: string }>
        }
        const files = packed.files.map((f) => f.path)
        for (const required of ["README.md", "LICENSE", "CHANGELOG.md", "package.json", "dist/index.js", "dist/index.d.ts"]) {
          assert.include(files, required, `the tarball lacks ${required}`)
        }
        const stray = files.filter((f) =>
          /^(test|bench|examples|scripts|\.ci|docs)\//.test(f) || /^(tsconfig.*|vitest\.config\.ts|\.gitignore)$/.test(f)
        )
        assert.deepStrictEqual(stray, [], "the tarball ships files that are not the library")

        // 2. a fresh project: the tarball and effect as dependencies, the compiler as a dev dependency
        writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))
        await step("npm install the tarball and effect", "npm", [
          "install",
          "--no-audit",
          "--no-fund",
          join(dir, packed.filename),
          `effect@${pkg.peerDependencies.effect}`
        ], dir)
        await step("npm install the compiler", "npm", [
          "install",
          "--no-audit",
          "--no-fund",
          "--save-dev",
          `typescript@${pkg.devDependencies.typescript}`,
          `@types/node@${pkg.devDependencies["@types/node"]}`
        ], dir)
        const tree = JSON.parse((await step("npm ls --omit=dev", "npm", ["ls", "--omit=dev", "--all", "--json"], dir)).stdout) as {
          dependencies: Record<string, { dependencies?: Record<string, unknown> }>
        }
        assert.deepStrictEqual(Object.keys(tree.dependencies).sort(), ["effect", "effect-redis-pool"])
        assert.deepStrictEqual(Object.keys(tree.dependencies["effect-redis-pool"]!.dependencies ?? {}), ["effect"])

        // 3. the README's program and an import of every subpath, type-checked both ways
        const program = readmeProgram()
        const url = "redis://localhost:6379/0?pool_size=20"
        assert.include(program, url, "the README's program connects somewhere else than the check expects")
        writeFileSync(join(dir, "app.ts"), program.replace(url, `${server.url}/0?pool_size=20`))
        const expected = await sourceExports()
        writeFileSync(
          join(dir, "subpaths.ts"),
          [
            ...subpaths.map((s) => `import * as ${bindingOf(s)} from "${specifierOf(s)}"`),
            `import { RedisPool } from "${pkg.name}"`,
            `import { ConnectionError } from "${pkg.name}/Errors"`,
            `import { layer } from "${pkg.name}/RedisPool"`,
            `const named: ReadonlyArray<unknown> = [RedisPool.layer, layer, new ConnectionError({ reason: "closed", message: "" })]`,
            `const found: Record<string, ReadonlyArray<string>> = { ${
              subpaths.map((s) => `${bindingOf(s)}: Object.keys(${bindingOf(s)}).sort()`).join(", ")
            } }`,
            `console.log(JSON.stringify({ named: named.length, found }))`
          ].join("\n")
        )
        const tsc = join(dir, "node_modules", "typescript", "bin", "tsc")
        writeFileSync(join(dir, "tsconfig.json"), tsconfig("nodenext", true))
        writeFileSync(join(dir, "tsconfig.bundler.json"), tsconfig("bundler", false))
        await step("tsc, moduleResolution nodenext (strict, emitting JavaScript)", process.execPath, [tsc, "-p", "tsconfig.json"], dir)
        await step("tsc --noEmit, moduleResolution bundler (strict)", process.execPath, [tsc, "-p", "tsconfig.bundler.json"], dir)

        // 4. plain node, the machine's 20 and the repo's 22
        for (const node of [node20, process.execPath]) {
          const run = await step(`node out/app.js on ${node}`, node, ["out/app.js"], dir)
          assert.match(run.stdout, /hello \d+ \[\]/, `the README's program printed: ${run.stdout}${run.stderr}`)
          const imports = await step(`node out/subpaths.js on ${node}`, node, ["out/subpaths.js"], dir)
          const result = JSON.parse(imports.stdout) as { named: number; found: Record<string, ReadonlyArray<string>> }
          assert.strictEqual(result.named, 3)
          assert.deepStrictEqual(result.found, expected, "a subpath exports other names than its source module")
        }
      })
    }), { timeout: 600_000 })
})

describe("the version", () => {
  it("the version sent as CLIENT SETINFO LIB-VER is package.json's", async () => {
    const { version } = await import("../src/internal/connVersion.ts")
    assert.strictEqual(version, JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version)
  })
})
