'use strict';

// Minimal HTTP server that the test images run as their application.
const http = require('node:http');

const port = Number(process.env.PORT || 3000);

const server = http.createServer((request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ status: 'ok', node: process.version }));
});

server.listen(port, () => {
  console.log(`listening on port ${port}`);
});
