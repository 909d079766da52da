export * from './frames.js';
export * from './feed.js';
