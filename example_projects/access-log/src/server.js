'use strict';

// access-log: a tiny API that counts access-log entries posted to it.
// Uses only Node's built-in modules, so `npm install` needs no registry.

const http = require('http');
const os = require('os');

const PORT = Number(process.env.PORT) || 80;
const MAX_BODY_BYTES = 64 * 1024;

const state = {
  logs: 0,
  instance: os.hostname(),
  started: new Date().toISOString(),
};

function send(res, status, body, contentType = 'application/json') {
  const payload = contentType === 'application/json' ? JSON.stringify(body) : String(body);
  res.writeHead(status, {
    'Content-Type': `${contentType}; charset=utf-8`,
    'Content-Length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // Stop buffering; the rest of the body is drained and discarded.
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// POST /access-log: body is optional; if present it must be a JSON object.
async function postAccessLog(req, res) {
  const raw = (await readBody(req)).trim();
  let entry = {};
  if (raw !== '') {
    try {
      entry = JSON.parse(raw);
    } catch (err) {
      return send(res, 400, { error: 'invalid JSON body' });
    }
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      return send(res, 400, { error: 'JSON body must be an object' });
    }
  }
  state.logs += 1;
  console.log(`access-log entry #${state.logs}: path=${entry.path || '-'} client=${entry.client || '-'}`);
  return send(res, 201, { logs: state.logs });
}

const routes = {
  '/access-log': { POST: postAccessLog },
  '/stats': { GET: (req, res) => send(res, 200, state) },
  '/health': { GET: (req, res) => send(res, 200, 'ok', 'text/plain') },
};

const server = http.createServer(async (req, res) => {
  res.on('finish', () => console.log(`${req.method} ${req.url} ${res.statusCode}`));
  const path = new URL(req.url, 'http://localhost').pathname;
  const route = routes[path];
  try {
    if (!route) {
      return send(res, 404, { error: `not found: ${path}` });
    }
    const handler = route[req.method];
    if (!handler) {
      res.setHeader('Allow', Object.keys(route).join(', '));
      return send(res, 405, { error: `method not allowed: ${req.method}` });
    }
    return await handler(req, res);
  } catch (err) {
    if (!res.headersSent) {
      send(res, err.status || 500, { error: err.message });
    }
  }
});

server.listen(PORT, () => {
  console.log(`access-log listening on port ${PORT}`);
});

function shutdown(signal) {
  console.log(`access-log received ${signal}, shutting down`);
  server.close(() => process.exit(0));
  // Don't let idle keep-alive connections hold the process open.
  if (server.closeAllConnections) server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
