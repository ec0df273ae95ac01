// libmime (nodemailer's MIME helpers) ships no types; only what Sluice calls is declared.
declare module 'libmime' {
  const libmime: { decodeWords(s: string): string };
  export default libmime;
}
