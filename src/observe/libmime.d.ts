// libmime ships no types; the one function the header reader uses (a CommonJS default export).
declare module 'libmime' {
  const libmime: { decodeWords(str: string): string };
  export default libmime;
}
