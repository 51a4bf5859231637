/** Levenshtein distance, small inputs only (keys and names). */
function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/**
 * A lower bound of the edit distance, in time linear in the lengths: each edit changes the count
 * of at most one character up and one down, so the distance is at least the larger of the
 * characters `a` has beyond `b` and those `b` has beyond `a`.
 */
function characterCountBound(a: string, b: string): number {
  const counts = new Map<string, number>();
  for (const ch of a) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  for (const ch of b) counts.set(ch, (counts.get(ch) ?? 0) - 1);
  let surplus = 0;
  let deficit = 0;
  for (const n of counts.values()) {
    if (n > 0) surplus += n;
    else deficit -= n;
  }
  return Math.max(surplus, deficit);
}

/** The closest candidate within a third of the word's length, for "did you mean" hints. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  const lower = word.toLowerCase();
  for (const c of candidates) {
    // The distance is at least the difference in length, and at least the character-count bound:
    // most candidates need no table at all (a profile of 15,000 unknown sysctls asks for one each).
    if (Math.abs(c.length - word.length) >= bestDistance) continue;
    const other = c.toLowerCase();
    if (characterCountBound(lower, other) >= bestDistance) continue;
    const d = editDistance(lower, other);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}
