// TLS for the simulator: a throwaway CA made once per process with the `openssl` command,
// a server certificate for 127.0.0.1 and localhost (and the us-east-1 endpoint names) signed by it, and one listening port
// that speaks HTTP and HTTPS alike (the first byte of a connection tells them apart).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TlsMaterial {
  /** The CA certificate file (PEM), for AWS_CA_BUNDLE / SSL_CERT_FILE. */
  caFile: string;
  caPem: string;
  key: Buffer;
  cert: Buffer;
}

/** The TLS record type of a ClientHello: the first byte of every TLS connection. */
const TLS_HANDSHAKE = 0x16;

let material: TlsMaterial | undefined;

/**
 * The process's throwaway CA and server certificate (made on first call, ~0.1 s; the files
 * are removed when the process exits). Throws a readable error without `openssl`.
 */
export function throwawayTls(): TlsMaterial {
  if (material) return material;
  const dir = mkdtempSync(path.join(tmpdir(), 'ssm-sim-tls-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): void => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    } catch (err) {
      const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
      throw new Error(`cannot make the simulator's TLS certificates with openssl (${detail})`);
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...ec, '-days', '2', '-subj', '/CN=ssm-simulator throwaway CA', '-keyout', 'ca.key', '-out', 'ca.pem',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  writeFileSync(
    path.join(dir, 'server.ext'),
    // The regional names too, so that tests can reach the simulator as the real endpoints
    // through a CONNECT proxy (as through a TLS-inspecting one) without any DNS.
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.us-east-1.amazonaws.com\nbasicConstraints=critical,CA:FALSE\n' +
      'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' +
      'subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n',
  );
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${Date.now().toString(16)}`,
    '-days', '2', '-extfile', 'server.ext', '-out', 'server.pem');
  const caFile = path.join(dir, 'ca.pem');
  material = {
    caFile,
    caPem: readFileSync(caFile, 'utf8'),
    key: readFileSync(path.join(dir, 'server.key')),
    cert: readFileSync(path.join(dir, 'server.pem')),
  };
  return material;
}

/**
 * A TCP server handing each connection to `https` when it starts with a TLS handshake,
 * to `http` otherwise. Connections that never send a byte are closed with it.
 */
export function dualProtocolServer(http: HttpServer, https: HttpsServer): Server {
  const idle = new Set<Socket>();
  const server = createServer((socket) => {
    idle.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('readable', () => {
      idle.delete(socket);
      const first = socket.read(1) as Buffer | null;
      if (first === null) return void socket.destroy();
      socket.unshift(first);
      (first[0] === TLS_HANDSHAKE ? https : http).emit('connection', socket);
    });
  });
  server.on('close', () => {
    for (const socket of idle) socket.destroy();
  });
  return server;
}
