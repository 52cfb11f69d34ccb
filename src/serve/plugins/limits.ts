/**
 * Per-request limits and the error format. Each request gets an AbortSignal (`request.work`) aborted when
 * its deadline passes (→ 504) or when the client disconnects before the answer (its queued images are
 * dropped). Every error is answered as `{error: {message, type, code}}` with its status; Fastify's own
 * errors (validation, body too large, unsupported media type) keep their status and message.
 */
import { HttpError } from '../errors.js';
import { global, type App } from '../context.js';

export const limitsPlugin = global(async (app: App) => {
  const timeoutMs = app.dinov2.opts.requestTimeoutMs;
  app.decorateRequest('work', null as unknown as AbortSignal);
  app.addHook('onRequest', async (request, reply) => {
    const controller = new AbortController();
    request.work = controller.signal;
    const timer = setTimeout(() => controller.abort(new HttpError(504, `request timed out after ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    reply.raw.on('close', () => {
      clearTimeout(timer);
      if (!reply.raw.writableFinished && !controller.signal.aborted) controller.abort(new HttpError(499, 'client closed the request', {}, 'client_closed'));
    });
  });

  app.setErrorHandler(async (error: unknown, request, reply) => {
    const e = error as Error & { statusCode?: number; code?: string; validation?: unknown; headers?: Record<string, string> };
    let status = e instanceof HttpError ? e.statusCode : (e.statusCode ?? 500);
    if (status < 400 || status > 599) status = 500;
    let message = e.message;
    let code = e instanceof HttpError ? e.code : (e.code ?? 'error');
    if (e.validation) code = 'invalid_request';
    if (code === 'FST_ERR_CTP_BODY_TOO_LARGE' || code === 'FST_REQ_FILE_TOO_LARGE' || code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT') {
      status = 413;
      message = `request body is larger than the limit of ${app.dinov2.opts.bodyLimit} bytes`;
      code = 'payload_too_large';
    }
    if (status === 500) {
      request.log.error({ err: e }, 'internal error');
      message = 'internal error';
    }
    if (e instanceof HttpError) for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
    if (status === 499) return reply.code(499).send();
    return reply.code(status).type('application/json').send({ error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code } });
  });

  app.setNotFoundHandler(async (request, reply) => {
    return reply.code(404).send({ error: { message: `no route ${request.method} ${request.url.split('?')[0]}`, type: 'invalid_request_error', code: 'not_found' } });
  });
});
