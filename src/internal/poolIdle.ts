/**
 * The idle list: connections that hold no turn, ready for a checkout, in an
 * Effect `Ref` (go-redis's `idleConns` under `connsMu`). LIFO by default, so
 * the most recently used connection is reused and the others age out; FIFO
 * (`poolFifo`) spreads use over all of them. The pool changes the list only in
 * synchronous sections (atomic on Node's one thread), through this module;
 * `Ref.get(idle.ref)` reads a snapshot.
 *
 * @internal
 */
import * as Ref from "effect/Ref"
import type { Entry } from "./poolEntry.ts"

/** @internal */
export class IdleList<C> {
  readonly ref: Ref.Ref<Array<Entry<C>>> = Ref.makeUnsafe<Array<Entry<C>>>([])
  readonly fifo: boolean

  constructor(fifo: boolean) {
    this.fifo = fifo
  }

  /** The live array (read only). */
  get entries(): ReadonlyArray<Entry<C>> {
    return this.ref.ref.current
  }

  get length(): number {
    return this.ref.ref.current.length
  }

  push(entry: Entry<C>): void {
    this.ref.ref.current.push(entry)
  }

  /** The next connection to hand out: the newest (LIFO) or the oldest (FIFO). */
  take(): Entry<C> | undefined {
    const list = this.ref.ref.current
    return this.fifo ? list.shift() : list.pop()
  }

  remove(entry: Entry<C>): boolean {
    const list = this.ref.ref.current
    const i = list.indexOf(entry)
    if (i < 0) return false
    list.splice(i, 1)
    return true
  }

  /** Keeps the connections `keep` accepts, in order; returns the others. */
  retain(keep: (entry: Entry<C>) => boolean): Array<Entry<C>> {
    const kept: Array<Entry<C>> = []
    const dropped: Array<Entry<C>> = []
    for (const entry of this.ref.ref.current) (keep(entry) ? kept : dropped).push(entry)
    if (dropped.length > 0) this.ref.ref.current = kept
    return dropped
  }

  /** Empties the list; returns what it held. */
  clear(): Array<Entry<C>> {
    const all = this.ref.ref.current
    this.ref.ref.current = []
    return all
  }
}
