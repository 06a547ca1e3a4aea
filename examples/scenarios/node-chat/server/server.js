'use strict';
/*
 * The node-chat scenario's backend: a Node WebSocket chat service, written the way a Node team
 * ships one to Cloud Run (http + ws, jsonwebtoken, pino with Google's pino config, pino-http
 * access lines), with one real bug per failure mode. See ../README.md.
 *
 * Logging is the real configuration of @google-cloud/pino-logging-gcp-config 1.3.6
 * (createGcpLoggingPinoConfig, as its README shows): pino writes one JSON line per record on
 * stdout with `severity` (from pino's level) beside pino's numeric `level`, the text under
 * `message` (messageKey), `timestamp: {seconds, nanos}`, `logging.googleapis.com/insertId`,
 * `logging.googleapis.com/trace` from an OpenTelemetry-style `trace_id`, `serviceContext`,
 * pino's `pid` / `hostname`, and errors serialized by pino as `err: {type, message, stack}`
 * (plus `stack_trace`). Cloud Run's log agent turns such a line into a LogEntry's jsonPayload
 * and lifts those special fields (https://cloud.google.com/logging/docs/structured-logging).
 *
 * The bugs, each on purpose:
 *   - connection setup reads the session of a thread the token names; a new user has none, so
 *     `session.threadId` throws a TypeError and the socket is closed with 1011;
 *   - the upgrade verifies tokens with the current signing key only; tokens signed with the
 *     rotated-out key fail with "JsonWebTokenError: invalid signature" and get a 403;
 *   - the message loop catches a handler's exception, logs it and closes with a normal 1000
 *     (v1 clients send `agent.run` without `input.steps`);
 *   - `export` runs synchronously on the event loop (the client's keepalive ping times out);
 *   - routes are strict about the trailing slash and answer 307 (`/api/rooms` -> `/api/rooms/`);
 *   - presence reads Redis at REDIS_URL, else 127.0.0.1:<--redis-port>, where nothing listens;
 *   - summaries call an upstream service that drops the connection ("socket hang up"): 502;
 *   - with --require-redis-url (the next revision) startup throws when REDIS_URL is unset.
 *
 * Cloud Run's request logs are not the app's to write: with --request-log FILE the server
 * appends what happened to every request (start, latency, method, URL, status, user agent,
 * trace header) to FILE, and the generator turns that into Cloud Run's request log entries.
 */

const { AsyncLocalStorage } = require('node:async_hooks');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { parseArgs } = require('node:util');

const jwt = require('jsonwebtoken');
const { nanoid } = require('nanoid');
const pino = require('pino');
const pinoHttp = require('pino-http');
const { createGcpLoggingPinoConfig } = require('@google-cloud/pino-logging-gcp-config');
const { ulid } = require('ulid');
const { WebSocketServer } = require('ws');

const { values: args } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8080' },
    'redis-port': { type: 'string', default: '6379' },
    'upstream-port': { type: 'string', default: '9' },
    'request-log': { type: 'string' },
    'require-redis-url': { type: 'boolean', default: false },
    project: { type: 'string', default: 'fivewhys-example' },
  },
});

const SIGNING_KEY = process.env.JWT_SIGNING_KEY || 'chat-signing-key-2025-09';
const SUMMARIZER_KEY = process.env.SUMMARIZER_API_KEY || '';
const EXPORT_BLOCK_MS = 1500;
const HEARTBEAT_MS = 1000;
const PRESENCE_REFRESH_MS = 2500;

/*
 * The request's trace, as OpenTelemetry's pino instrumentation injects it: a mixin adds
 * `trace_id` / `span_id` / `trace_flags` to every record logged inside the request's context,
 * and the pino config turns them into `logging.googleapis.com/trace` and `.../spanId`. Lines
 * logged outside any request (heartbeats, the presence refresher) carry no trace.
 */
const traceContext = new AsyncLocalStorage();

const logger = pino(
  createGcpLoggingPinoConfig(
    {
      serviceContext: { service: 'chat-api', version: '2.14.1' },
      traceGoogleCloudProjectId: args.project,
    },
    { level: 'info', mixin: () => traceContext.getStore() || {} },
  ),
);

if (args['require-redis-url'] && !process.env.REDIS_URL) {
  // Uncaught on purpose: Node prints the stack on stderr and exits with code 1.
  throw new Error('REDIS_URL must be set (presence and sessions need Redis)');
}

const requestLog = args['request-log'] ? fs.openSync(args['request-log'], 'a') : null;

/** What Cloud Run's frontend would see of one request, for the generator's request logs. */
function recordRequest(fields) {
  if (requestLog !== null) fs.writeSync(requestLog, JSON.stringify(fields) + '\n');
}

/** `X-Cloud-Trace-Context: TRACE/SPAN;o=1` -> the OpenTelemetry fields the pino config lifts. */
function traceFields(headers) {
  const match = /^([0-9a-f]{32})(?:\/(\d+))?(?:;o=(\d))?/.exec(headers['x-cloud-trace-context'] || '');
  if (!match) return {};
  const fields = { trace_id: match[1], trace_flags: match[3] === '1' ? '01' : '00' };
  if (match[2]) fields.span_id = BigInt(match[2]).toString(16).padStart(16, '0');
  return fields;
}

function requestFacts(req, startNs) {
  return {
    start_ns: startNs.toString(),
    method: req.method,
    url: req.url,
    user_agent: req.headers['user-agent'] || '',
    trace_header: req.headers['x-cloud-trace-context'] || '',
    remote_ip: req.socket.remoteAddress,
    request_size: Number(req.headers['content-length'] || 0) + 300,
  };
}

// --- sessions ------------------------------------------------------------------------------------

/** Threads by id; the onboarding service would create them (it never does for new users). */
const threads = new Map();

function connectionId() {
  return `ws_staging-_${Math.floor(Date.now() / 1000)}_${crypto.randomBytes(4).toString('hex')}`;
}

function verifyToken(token) {
  return jwt.verify(token, SIGNING_KEY, { algorithms: ['HS256'] });
}

// --- HTTP ----------------------------------------------------------------------------------------

const httpLogger = pinoHttp({
  logger,
  genReqId: () => ulid(),
});

function redisPresence(log) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(args['redis-port']) });
    socket.once('connect', () => {
      socket.end();
      resolve([]);
    });
    socket.once('error', (err) => {
      log.debug({ err }, 'redis connect error');
      reject(err);
    });
  });
}

function callSummarizer(thread) {
  const url = `http://127.0.0.1:${args['upstream-port']}/v1/summarize?key=${SUMMARIZER_KEY}`;
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ thread, summary: '' }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ thread }));
  });
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function route(req, res) {
  const path = req.url.split('?')[0];
  if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
  if (path === '/api/rooms') {
    // strict routing: the canonical URL has the slash
    res.writeHead(307, { location: '/api/rooms/', 'content-length': 0 });
    return res.end();
  }
  if (path === '/api/rooms/') return sendJson(res, 200, { rooms: ['general', 'release', 'oncall'] });
  if (path === '/api/presence') {
    try {
      const online = await redisPresence(req.log);
      return sendJson(res, 200, { online });
    } catch (err) {
      req.log.error({ err }, 'presence lookup failed');
      return sendJson(res, 500, { error: 'internal' });
    }
  }
  if (path === '/api/summary') {
    req.log.info({ upstream: `http://127.0.0.1:${args['upstream-port']}/v1/summarize?key=${SUMMARIZER_KEY}` }, 'calling summarizer');
    try {
      return sendJson(res, 200, await callSummarizer('general'));
    } catch (err) {
      req.log.error({ err }, 'summarizer request failed');
      return sendJson(res, 502, { error: 'bad gateway' });
    }
  }
  return sendJson(res, 404, { error: 'not found' });
}

const server = http.createServer((req, res) => {
  const startNs = process.hrtime.bigint();
  const wallNs = BigInt(Date.now()) * 1000000n;
  traceContext.run(traceFields(req.headers), () => handleRequest(req, res, startNs, wallNs));
});

function handleRequest(req, res, startNs, wallNs) {
  httpLogger(req, res);
  res.on('finish', () => {
    recordRequest({
      ...requestFacts(req, wallNs),
      status: res.statusCode,
      latency_s: Number(process.hrtime.bigint() - startNs) / 1e9,
      response_size: Number(res.getHeader('content-length') || 0) + 200,
    });
  });
  route(req, res).catch((err) => {
    req.log.error({ err }, 'unhandled route error');
    if (!res.headersSent) sendJson(res, 500, { error: 'internal' });
  });
}

// --- WebSocket -----------------------------------------------------------------------------------

const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', (req, socket, head) => {
  const trace = traceFields(req.headers);
  traceContext.run(trace, () => handleUpgrade(req, socket, head, trace));
});

function handleUpgrade(req, socket, head, trace) {
  const startNs = process.hrtime.bigint();
  const wallNs = BigInt(Date.now()) * 1000000n;
  const reqId = ulid();
  const log = logger.child({ reqId });
  const auth = req.headers.authorization || '';
  const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
  let claims;
  try {
    claims = verifyToken(token);
  } catch (err) {
    const who = (jwt.decode(token) || {}).sub || 'anonymous';
    log.warn({ err }, `ws upgrade rejected for ${who}: ${err.message}`);
    socket.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    recordRequest({
      ...requestFacts(req, wallNs),
      status: 403,
      latency_s: Number(process.hrtime.bigint() - startNs) / 1e9,
      response_size: 120,
    });
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('close', () => {
      recordRequest({
        ...requestFacts(req, wallNs),
        status: 101,
        latency_s: Number(process.hrtime.bigint() - startNs) / 1e9,
        response_size: 0,
      });
    });
    onConnection(ws, claims, log, trace);
  });
}

function onConnection(ws, claims, requestLogger, trace) {
  const connId = connectionId();
  const userId = claims.sub;
  const log = requestLogger.child({ connId, userId });
  let session;
  try {
    if (claims.thread && !threads.has(claims.thread)) {
      threads.set(claims.thread, { threadId: claims.thread, createdAt: Date.now() });
    }
    session = threads.get(claims.thread);
    ws.send(JSON.stringify({ type: 'welcome', connectionId: connId, threadId: session.threadId }));
  } catch (err) {
    log.error({ err }, `connection setup failed for ${connId}`);
    ws.close(1011, 'internal error');
    return;
  }
  log.info('ws session ready');
  ws.on('message', (data) => traceContext.run(trace, () => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
      handleMessage(ws, msg, session, log);
    } catch (err) {
      log.error({ err, msgType: msg && msg.type }, `message handler threw on ${connId}`);
      ws.close(1000, 'session closed');
    }
  }));
  ws.on('close', (code) => traceContext.run(trace, () => log.info({ code }, 'ws closed')));
}

function handleMessage(ws, msg, session, log) {
  switch (msg.type) {
    case 'say':
      ws.send(JSON.stringify({ type: 'said', threadId: session.threadId, text: msg.text, at: Date.now() }));
      return;
    case 'ping':
      ws.send(JSON.stringify({ type: 'pong', serverTime: Date.now() }));
      return;
    case 'agent.run': {
      // v2 payload: {agent, input: {steps: [...]}}; v1 clients send {agent, prompt}
      const runId = nanoid();
      const steps = msg.input.steps.length;
      log.info({ runId, agent: msg.agent, steps }, 'agent run started');
      ws.send(JSON.stringify({ type: 'agent.started', runId, steps }));
      return;
    }
    case 'export': {
      const started = Date.now();
      let digest = Buffer.from(session.threadId);
      while (Date.now() - started < EXPORT_BLOCK_MS) {
        digest = crypto.pbkdf2Sync(digest, 'export', 2000, 32, 'sha256');
      }
      const tookMs = Date.now() - started;
      log.warn({ durationMs: tookMs, msgType: 'export' }, `slow ws message handler: export took ${tookMs}ms`);
      ws.send(JSON.stringify({ type: 'export.ready', digest: digest.toString('hex') }));
      return;
    }
    default:
      ws.send(JSON.stringify({ type: 'error', reason: `unknown type ${msg.type}` }));
  }
}

// --- background work that logs without ids -------------------------------------------------------

setInterval(() => logger.info({ alive: wss.clients.size }, `heartbeat: ${wss.clients.size} sockets alive`), HEARTBEAT_MS).unref();
setInterval(() => {
  redisPresence(logger).catch((err) => logger.warn({ err }, 'presence cache refresh failed'));
}, PRESENCE_REFRESH_MS).unref();

server.listen(Number(args.port), args.host, () => {
  const { port } = server.address();
  logger.info({ port, node: process.version }, `chat-api listening on http://${args.host}:${port}`);
});

function shutdown(signal) {
  logger.info({ signal }, 'shutting down');
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
