export { buildServer, serve, type RunningServer, type ServeOptions } from './server.js';
export type { ModelSpec, HeadFiles } from './options.js';
