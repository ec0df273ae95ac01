// The zod building blocks every config section uses. Two branches named the leaf module
// differently; schema-parts.ts is the one, and this name stays so both import paths work.
export * from './schema-parts.js';
