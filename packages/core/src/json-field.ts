/**
 * Reads a struct field out of a parsed JSON object the way Go's `encoding/json` fills a struct, so
 * values written for (or by) upstream flanneld mean the same thing here.
 *
 * Go decodes each key of the object in order and stores it into the field whose name equals the key
 * exactly or case-insensitively; a later matching key overwrites an earlier one. So, for one field,
 * the value of the last matching key wins: `{"Network":"a","network":"b"}` reads `b` for `Network`.
 * (Go's preference for an exact match only decides between two *fields* whose names fold alike; our
 * callers never declare such fields, so it never changes the answer here.)
 *
 * Known gaps, both from `JSON.parse` rather than from this function: a key repeated verbatim keeps its
 * first position but its last value, and integer-like keys are listed first. Neither affects flannel's
 * field names in practice.
 *
 * @param obj a parsed JSON object
 * @param name the Go field name, e.g. `SubnetLen`
 * @returns the value, or undefined when no key matches
 */
export function jsonField(obj: Readonly<Record<string, unknown>>, name: string): unknown {
  const wanted = foldName(name);
  let value: unknown;
  for (const key of Object.keys(obj)) {
    if (key === name || foldName(key) === wanted) value = obj[key];
  }
  return value;
}

// Port of Go encoding/json fold.go foldName: ASCII letters are upper-cased; any other character is
// replaced by the smallest member of its simple case-fold set. That is why Go lets `ſ` (U+017F) match
// `s` and the Kelvin sign (U+212A) match `k`, and this must too, or a key upstream accepts would be
// ignored here.
function foldName(name: string): string {
  // Every lease value repeats the same few keys: remembering their folded form makes decoding
  // 5000 leases cheap. Bounded, since keys come from the store.
  const cached = foldCache.get(name);
  if (cached !== undefined) return cached;
  let out = '';
  for (const ch of name) out += foldChar(ch);
  if (foldCache.size >= 1024) foldCache.clear();
  foldCache.set(name, out);
  return out;
}

const foldCache = new Map<string, string>();

function foldChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  if (code < 0x80) return ch.toUpperCase();
  // JavaScript has no SimpleFold; the one-character upper/lower variants reach the same fold set for
  // the characters that matter (those folding onto ASCII letters). Multi-character mappings such as
  // `ß` ⇒ `SS` are not simple folds in Go, so they are skipped.
  const upper = ch.toUpperCase();
  const lower = ch.toLowerCase();
  let smallest = code;
  for (const variant of [upper, lower, upper.toLowerCase(), lower.toUpperCase()]) {
    const v = variant.codePointAt(0) ?? code;
    if (variant.length === String.fromCodePoint(v).length && v < smallest) smallest = v;
  }
  return String.fromCodePoint(smallest);
}
