import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key, as PEM files and their text. */
export interface TestCertificate {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

/** What the mutual TLS tests need, made by openssl in `dir`. */
export interface TestPki {
  /** The CA that issues the server's certificate and the client certificates the server trusts. */
  ca: TestCertificate;
  /** A server certificate for 127.0.0.1 (SAN IP and DNS localhost). */
  server: TestCertificate;
  /** Client certificates of `ca`: SAN URI spiffe://herald/ns/pay/agent-1, and CN relay-west. */
  spiffeClient: TestCertificate;
  cnClient: TestCertificate;
  /** Of `ca`, but matching no identity the tests configure (CN stranger). */
  unmappedClient: TestCertificate;
  /** Signed by another CA, with the same URI SAN as spiffeClient. */
  foreignClient: TestCertificate;
  /** Of `ca`, with spiffeClient's SAN, expired since yesterday (openssl x509 -days -1). */
  expiredClient: TestCertificate;
}

function read(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

async function selfSigned(dir: string, name: string): Promise<TestCertificate> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ]);
  return { certFile, keyFile, cert: await read(certFile), key: await read(keyFile) };
}

async function issued(
  dir: string,
  ca: TestCertificate,
  name: string,
  subject: string,
  extensions: string,
  days: number,
): Promise<TestCertificate> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, `${extensions}\n`);
  await run('openssl', [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    subject,
    '-keyout',
    keyFile,
    '-out',
    csr,
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.certFile,
    '-CAkey',
    ca.keyFile,
    '-CAcreateserial',
    '-days',
    String(days),
    '-extfile',
    ext,
    '-out',
    certFile,
  ]);
  return { certFile, keyFile, cert: await read(certFile), key: await read(keyFile) };
}

/** Makes a CA, a server certificate and client certificates (mapped, unmapped, foreign, expired) with openssl. */
export async function makeTestPki(dir: string): Promise<TestPki> {
  const ca = await selfSigned(dir, 'herald-test-ca');
  const other = await selfSigned(dir, 'other-ca');
  const client = 'extendedKeyUsage=clientAuth';
  const spiffe = `subjectAltName=URI:spiffe://herald/ns/pay/agent-1\n${client}`;
  return {
    ca,
    server: await issued(
      dir,
      ca,
      'server',
      '/CN=127.0.0.1',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth',
      2,
    ),
    spiffeClient: await issued(dir, ca, 'spiffe-client', '/CN=agent-1', spiffe, 2),
    cnClient: await issued(dir, ca, 'cn-client', '/CN=relay-west', client, 2),
    unmappedClient: await issued(dir, ca, 'unmapped-client', '/CN=stranger', client, 2),
    foreignClient: await issued(dir, other, 'foreign-client', '/CN=agent-1', spiffe, 2),
    expiredClient: await issued(dir, ca, 'expired-client', '/CN=agent-1', spiffe, -1),
  };
}
