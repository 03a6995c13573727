// What TLS connections to AWS (API calls and the data channel) trust: the operating
// system's certificate store, as the official plugin does (Go verifies with it; corporate
// TLS-inspecting proxies put their root there), Node's bundled roots, NODE_EXTRA_CA_CERTS,
// and the certificates in AWS_CA_BUNDLE, added to the others rather than replacing them,
// so that a bundle never breaks a connection the official tools would make.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';

/** A setting the user must fix; retrying cannot help. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** Options to spread into https.Agent / ws / tls.connect options. */
export interface TlsTrust {
  secureContext?: tls.SecureContext;
}

/**
 * Where Go's crypto/x509 looks for the OS store on Linux (root_linux.go): the first bundle
 * file that exists, then every file of the directories; SSL_CERT_FILE and SSL_CERT_DIR
 * (colon-separated) replace the lists. /etc/ssl/cert.pem is also macOS's and the BSDs' file.
 */
const OS_BUNDLE_FILES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Arch, Gentoo
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem', // Alpine, macOS, BSDs
];
const OS_CERT_DIRS = ['/etc/ssl/certs', '/etc/pki/tls/certs'];

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

const contexts = new Map<string, tls.SecureContext>();

/**
 * The trust for a TLS connection to AWS. Empty (Node's default context) when that already
 * holds the OS store, i.e. when Node runs with `--use-system-ca` (the single executables
 * do) and no AWS_CA_BUNDLE is set; otherwise one secure context per setting, made on first
 * use (reading the OS store takes tens of milliseconds), holding every certificate above.
 */
export function tlsTrust(env: NodeJS.ProcessEnv = process.env): TlsTrust {
  const bundle = env.AWS_CA_BUNDLE || '';
  if (!bundle && defaultTrustHasOsStore()) return {};
  const key = JSON.stringify([bundle, env.SSL_CERT_FILE ?? '', env.SSL_CERT_DIR ?? '', env.NODE_EXTRA_CA_CERTS ?? '']);
  let secureContext = contexts.get(key);
  if (!secureContext) {
    const extra = bundle ? readBundle(bundle) : [];
    secureContext = tls.createSecureContext({ ca: unique([...defaultAndOsCertificates(env), ...extra]) });
    contexts.set(key, secureContext);
  }
  return { secureContext };
}

/**
 * Starts Node loading its root store (bundled roots, NODE_EXTRA_CA_CERTS, the OS store under
 * `--use-system-ca`) on a thread of its own. Node starts that load when node:tls is first
 * loaded, which the bundle defers to first use, and the first TLS connection waits for it
 * (tens of ms with the OS store); called once a wss:// session is known, the load runs on
 * another core while the session's modules evaluate.
 */
export function startLoadingRootStore(): void {
  // Any property read loads the module (the bundle's node:tls is a stand-in until then);
  // Reflect.get, because esbuild drops a bare read of an import as free of side effects.
  Reflect.get(tls, 'DEFAULT_MIN_VERSION');
}

/**
 * True when Node's default CA list includes the OS store: `--use-system-ca` on the command
 * line or in the single executable's built-in arguments (NODE_OPTIONS is not looked at:
 * the single executables ignore it).
 */
export function defaultTrustHasOsStore(): boolean {
  return process.execArgv.includes('--use-system-ca');
}

/** Node's default certificates plus the OS store's, as PEM texts (duplicates possible). */
export function defaultAndOsCertificates(env: NodeJS.ProcessEnv = process.env): string[] {
  // tls.getCACertificates: Node 22.15 / 23.5 and newer; 'system' is the OS store on every
  // platform (keychain, Windows store, OpenSSL's file and directory on Linux).
  const getCACertificates = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (typeof getCACertificates === 'function') {
    const defaults = getCACertificates('default');
    return defaultTrustHasOsStore() ? defaults : [...defaults, ...getCACertificates('system')];
  }
  // Older Node: its bundled roots, NODE_EXTRA_CA_CERTS (which a `ca` option would drop),
  // and the OS store found where Go finds it.
  const extraFile = env.NODE_EXTRA_CA_CERTS;
  return [...tls.rootCertificates, ...(extraFile ? pemsOf(readOptional(extraFile)) : []), ...osStoreFromFiles(env)];
}

/** The OS store from files, as Go reads it on Linux (see OS_BUNDLE_FILES). */
export function osStoreFromFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  for (const file of env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : OS_BUNDLE_FILES) {
    const text = readOptional(file);
    if (text === undefined) continue;
    found.push(...pemsOf(text));
    break;
  }
  const dirs = env.SSL_CERT_DIR ? env.SSL_CERT_DIR.split(':').filter(Boolean) : OS_CERT_DIRS;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) found.push(...pemsOf(readOptional(path.join(dir, name))));
  }
  return found;
}

function readBundle(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (err) {
    throw new ConfigurationError(`cannot read AWS_CA_BUNDLE ${file}: ${(err as Error).message}`);
  }
  const pems = pemsOf(text);
  if (pems.length === 0) throw new ConfigurationError(`AWS_CA_BUNDLE ${file} holds no PEM certificate`);
  return pems;
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return undefined; // missing, a directory, unreadable: not part of the store
  }
}

function pemsOf(text: string | undefined): string[] {
  return text === undefined ? [] : (text.match(PEM_CERTIFICATE) ?? []);
}

function unique(pems: string[]): string[] {
  const seen = new Map<string, string>();
  for (const pem of pems) {
    const body = pem.replace(/\s+/g, '');
    if (!seen.has(body)) seen.set(body, pem);
  }
  return [...seen.values()];
}

/** Node's codes for a certificate chain that no trusted CA vouches for. */
const UNTRUSTED_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_UNTRUSTED',
]);

/** For an error of a TLS connection whose certificate is not trusted: what to do about it. */
export function untrustedCertificateMessage(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !UNTRUSTED_CODES.has(code)) return undefined;
  // Node's own hint after the reason (`; if the root CA is installed locally, try running
  // Node.js with --use-system-ca`) is about Node's command line, not ours.
  const detail = err instanceof Error ? err.message.replace(/; if the root CA is installed locally.*$/s, '') : code;
  return `the server's TLS certificate is not trusted (${detail}); add the CA that issued it to the system's certificate store or to AWS_CA_BUNDLE`;
}
