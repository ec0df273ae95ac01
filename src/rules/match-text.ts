// Word and pattern matching as EOP's rules do it: words match whole words, case-insensitively
// (a phrase matches with any whitespace between its words); patterns are regular expressions,
// case-insensitive, run over text cut to a bound so no input can make a rule slow.

/** Longest text one pattern or word list is run over (subject + body text, one header …). */
export const MAX_MATCH_TEXT = 1024 * 1024;

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export type TextTest = (text: string) => boolean;

/** One regex for the whole list: a word is bounded by anything that is not a letter or digit. */
export function wordsTest(words: readonly string[]): TextTest {
  const alts = words.map((w) => w.trim().split(/\s+/).map(escape).join('\\s+'));
  const re = new RegExp(`(?<![\\p{L}\\p{N}_])(?:${alts.join('|')})(?![\\p{L}\\p{N}_])`, 'iu');
  return (text) => re.test(text.length > MAX_MATCH_TEXT ? text.slice(0, MAX_MATCH_TEXT) : text);
}

export function patternsTest(patterns: readonly string[]): TextTest {
  const res = patterns.map((p) => new RegExp(p, 'i'));
  return (text) => {
    const t = text.length > MAX_MATCH_TEXT ? text.slice(0, MAX_MATCH_TEXT) : text;
    return res.some((re) => re.test(t));
  };
}
