import ignore, { type Ignore } from 'ignore';

/** The per-folder ignore file, with gitignore semantics. */
export const IGNORE_FILE = '.hoardignore';

interface Layer {
  /** Folder the rules are relative to ('' = scan root), with a trailing '/' unless root. */
  base: string;
  rules: Ignore;
}

/**
 * gitignore semantics over nested `.hoardignore` files: deeper files override
 * shallower ones, `!pattern` re-includes, and an excluded folder is never entered
 * (so nothing inside it can be re-included, as in git). `--exclude` patterns act as
 * a root-level ignore file that deeper files can still override.
 */
export class IgnoreRules {
  private constructor(private readonly layers: readonly Layer[]) {}

  static fromPatterns(patterns: readonly string[]): IgnoreRules {
    return patterns.length ? new IgnoreRules([{ base: '', rules: ignore().add([...patterns]) }]) : new IgnoreRules([]);
  }

  /** Rules for a folder that has its own ignore file with `text`. `dir` is relative to the root. */
  withFile(dir: string, text: string): IgnoreRules {
    return new IgnoreRules([...this.layers, { base: dir ? `${dir}/` : '', rules: ignore().add(text) }]);
  }

  get empty(): boolean {
    return this.layers.length === 0;
  }

  /** Whether `rel` (relative to the scan root) is ignored. */
  ignores(rel: string, isDir: boolean): boolean {
    let ignored = false;
    for (const layer of this.layers) {
      const sub = layer.base ? rel.slice(layer.base.length) : rel;
      const verdict = layer.rules.test(isDir ? `${sub}/` : sub);
      if (verdict.ignored) ignored = true;
      else if (verdict.unignored) ignored = false;
    }
    return ignored;
  }
}
