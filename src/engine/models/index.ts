/** Fitted linear models: the stored body every linear/GLM analysis writes, links, and scoring. */
export * from './body.ts';
export * from './links.ts';
