/** Fitted linear models: the stored body every linear/GLM analysis writes, and scoring. */
export * from './body.ts';
export * from './score.ts';
