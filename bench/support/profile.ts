/**
 * `node bench/support/profile.ts file.cpuprofile [top]`: self time per function
 * (name, file:line) and per file of a `node --cpu-prof` profile, largest first.
 */
import { readFileSync } from "node:fs"

interface Node {
  readonly id: number
  readonly callFrame: { functionName: string; url: string; lineNumber: number }
  readonly children?: ReadonlyArray<number>
}
const [file, topArg] = process.argv.slice(2)
if (file === undefined) throw new Error("usage: profile.ts file.cpuprofile [top]")
const profile = JSON.parse(readFileSync(file, "utf8")) as {
  nodes: ReadonlyArray<Node>
  samples: ReadonlyArray<number>
  timeDeltas: ReadonlyArray<number>
}
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const total = [...self.values()].reduce((a, b) => a + b, 0)
const short = (url: string) => url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/main\//, "")
const fns = new Map<string, number>()
const files = new Map<string, number>()
for (const [id, t] of self) {
  const { functionName, lineNumber, url } = byId.get(id)!.callFrame
  const f = `${functionName || "(anonymous)"} ${short(url)}:${lineNumber + 1}`
  fns.set(f, (fns.get(f) ?? 0) + t)
  const u = short(url) || `(${functionName})`
  files.set(u, (files.get(u) ?? 0) + t)
}
const top = Number(topArg ?? 30)
const pct = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)} %`
console.log(`total ${(total / 1e6).toFixed(2)} s\n-- by function`)
for (const [f, t] of [...fns].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${f}`)
console.log("-- by file")
for (const [f, t] of [...files].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(t)}  ${f}`)

// `profile.ts file top name`: who calls the functions named `name` (self time by caller chain, 3 deep).
const focus = process.argv[4]
if (focus !== undefined) {
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const label = (id: number | undefined) => {
    if (id === undefined) return "-"
    const { functionName, lineNumber, url } = byId.get(id)!.callFrame
    return `${functionName || "(anonymous)"} ${short(url)}:${lineNumber + 1}`
  }
  const chains = new Map<string, number>()
  for (const [id, t] of self) {
    if (byId.get(id)!.callFrame.functionName !== focus) continue
    const p1 = parent.get(id)
    const p2 = p1 === undefined ? undefined : parent.get(p1)
    const p3 = p2 === undefined ? undefined : parent.get(p2)
    const chain = `${label(p1)} <- ${label(p2)} <- ${label(p3)}`
    chains.set(chain, (chains.get(chain) ?? 0) + t)
  }
  console.log(`-- callers of ${focus}`)
  for (const [c, t] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(t)}  ${c}`)
}
