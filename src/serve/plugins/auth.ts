/**
 * Bearer-token authentication: with API keys configured, every route except the liveness/readiness probes,
 * the web app's static files (including the /web/ bundle) and the API description needs `Authorization: Bearer <key>`. Keys are compared
 * in constant time (hashes of equal length).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from '../errors.js';
import { global, type App } from '../context.js';

const PUBLIC = new Set(['/health', '/ready', '/openapi.json', '/docs', '/', '/app.js', '/app.css', '/favicon.ico']);

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export const authPlugin = global(async (app: App) => {
  const keys = app.dinov2.opts.apiKeys.map(digest);
  if (keys.length === 0) return;
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0]!;
    if (PUBLIC.has(path) || path.startsWith('/web/') || request.method === 'OPTIONS') return;
    const header = request.headers.authorization;
    if (!header) throw new HttpError(401, 'missing API key: send "Authorization: Bearer <key>"', { 'www-authenticate': 'Bearer' });
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new HttpError(401, 'malformed Authorization header: expected "Bearer <key>"', { 'www-authenticate': 'Bearer' });
    const given = digest(m[1]!);
    let ok = false;
    for (const k of keys) ok = timingSafeEqual(k, given) || ok;
    if (!ok) throw new HttpError(401, 'invalid API key', { 'www-authenticate': 'Bearer error="invalid_token"' });
  });
});
