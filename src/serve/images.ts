/**
 * Image inputs of a request → bytes → decoded RGB. A JSON input is base64 (bare or a `data:` URI) or, only
 * when the server allows it, an http(s) URL; nothing a client sends is ever read as a server path.
 * URL fetching refuses private, loopback, link-local and other non-public addresses — checked on the address
 * the connection actually uses (the socket's lookup), so a DNS answer cannot change between check and use.
 */
import { lookup as dnsLookup } from 'node:dns';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { HttpError } from './errors.js';
import { decodeImage } from '../data/decode.js';
import type { RgbImage } from '../data/image.js';

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}\s*$/;

const blocked = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  blocked.addSubnet(net, bits, 'ipv6');
}

/** True for addresses a server-side fetch must not reach (private, loopback, link-local, multicast, …). */
export function isBlockedAddress(address: string): boolean {
  const v = isIP(address);
  if (v === 0) return true;
  if (v === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blocked.check(mapped[1]!, 'ipv4');
    return blocked.check(address, 'ipv6');
  }
  return blocked.check(address, 'ipv4');
}

export interface FetchLimits {
  maxBytes: number;
  timeoutMs: number;
  /** Host → addresses (default dns.lookup); tests substitute it. */
  lookupHost?: ((host: string) => Promise<string[]>) | undefined;
}

function checkedLookup(what: string, lookupHost: FetchLimits['lookupHost']): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    const resolveAll = lookupHost
      ? lookupHost(hostname)
      : new Promise<string[]>((res, rej) => dnsLookup(hostname, { all: true }, (err, addrs) => (err ? rej(err) : res(addrs.map((a) => a.address)))));
    resolveAll.then(
      (addrs) => {
        if (addrs.length === 0) return callback(new HttpError(400, `${what}: host ${hostname} has no address`));
        const bad = addrs.find(isBlockedAddress);
        if (bad) return callback(new HttpError(400, `${what}: ${hostname} resolves to ${bad}, a private or loopback address; only public hosts can be fetched`));
        const family = isIP(addrs[0]!);
        if (options?.all) callback(null, addrs.map((address) => ({ address, family: isIP(address) })));
        else callback(null, addrs[0], family);
      },
      (e: Error) => callback(new HttpError(400, `${what}: cannot resolve ${hostname} (${e.message})`)),
    );
  }) as unknown as LookupFunction;
}

/** GETs an image URL under the limits (no redirects, public addresses only). */
export function fetchImageUrl(url: string, what: string, limits: FetchLimits): Promise<Uint8Array> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new HttpError(400, `${what}: not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new HttpError(400, `${what}: only http and https URLs are fetched`);
  if (u.username || u.password) throw new HttpError(400, `${what}: URLs with credentials are refused`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && isBlockedAddress(host)) {
    throw new HttpError(400, `${what}: ${host} is a private or loopback address; only public hosts can be fetched`);
  }
  const get = u.protocol === 'https:' ? httpsGet : httpGet;
  return new Promise<Uint8Array>((resolve, reject) => {
    const req = get(u, { lookup: checkedLookup(what, limits.lookupHost), timeout: limits.timeoutMs, headers: { accept: 'image/*' } }, (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new HttpError(422, `${what}: the URL answered HTTP ${res.statusCode}${res.statusCode && res.statusCode >= 300 && res.statusCode < 400 ? ' (redirects are not followed)' : ''}`));
        return;
      }
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > limits.maxBytes) {
        res.destroy();
        reject(new HttpError(413, `${what}: the image at the URL is ${declared} bytes, above the limit of ${limits.maxBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limits.maxBytes) {
          res.destroy();
          reject(new HttpError(413, `${what}: the image at the URL is above the limit of ${limits.maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
      res.on('error', (e) => reject(new HttpError(422, `${what}: download failed (${e.message})`)));
    });
    req.on('timeout', () => req.destroy(new HttpError(422, `${what}: the URL did not answer within ${limits.timeoutMs} ms`)));
    req.on('error', (e) => reject(e instanceof HttpError ? e : new HttpError(422, `${what}: cannot fetch the URL (${e.message})`)));
  });
}

export interface InputRules {
  allowUrls: boolean;
  fetch: FetchLimits;
}

/** The bytes of one JSON image input (`what` names it in messages, e.g. `input[2]`). */
export async function inputBytes(input: unknown, what: string, rules: InputRules): Promise<Uint8Array> {
  if (typeof input !== 'string' || input.length === 0) throw new HttpError(400, `${what}: expected a base64 string, a data URI or a URL`);
  if (/^https?:\/\//i.test(input)) {
    if (!rules.allowUrls) throw new HttpError(400, `${what}: URL inputs are disabled on this server (start it with --allow-urls); send the image as base64 or multipart`);
    return fetchImageUrl(input, what, rules.fetch);
  }
  let b64 = input;
  if (input.startsWith('data:')) {
    const comma = input.indexOf(',');
    if (comma < 0 || !/;base64$/i.test(input.slice(0, comma))) throw new HttpError(400, `${what}: data URIs must be base64 (data:image/...;base64,...)`);
    b64 = input.slice(comma + 1);
  }
  if (!BASE64.test(b64.slice(0, 4096)) || !BASE64.test(b64) || b64.replace(/\s+/g, '').length % 4 !== 0) {
    throw new HttpError(400, `${what}: not base64 image data, a data URI or an http(s) URL (server paths are never read)`);
  }
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length === 0) throw new HttpError(400, `${what}: empty image`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes image bytes under the pixel limit: 413 for too many pixels, 422 for what is not an image. */
export async function decodeInput(bytes: Uint8Array, what: string, maxPixels: number): Promise<RgbImage> {
  try {
    return await decodeImage(bytes, { name: what, maxPixels });
  } catch (e) {
    throw decodeFailure((e as Error).message);
  }
}

/** The HTTP error for decodeImage's message (from this thread or a preprocessing worker). */
export function decodeFailure(msg: string): HttpError {
  if (/pixels, above the limit/.test(msg)) return new HttpError(413, msg.replace(/ \(a guard against.*\)$/, ' (the server\'s pixel limit)'), {}, 'image_too_large');
  return new HttpError(422, msg, {}, 'invalid_image');
}
