import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import {
  checkKafkaConnection,
  diagnoseKafkaError,
  KafkaConnectionError,
  type KafkaSecurity,
} from './kafka-connection.js';

const mtlsWithoutClient: KafkaSecurity = {
  protocol: 'SSL',
  tls: { ca: { pem: 'x', location: '/ca.pem' }, client: null, verifyHostname: true },
  sasl: null,
};

function tlsAlert(code: string, reason: string): Error {
  return Object.assign(new Error(`C0:error:0A000412:SSL routines:ssl3_read_bytes:${reason}:../ssl/record.c:918`), {
    code,
  });
}

describe('diagnoseKafkaError: a broker that wants a client certificate', () => {
  // The same alert as OpenSSL 3.0 (Node 20) and OpenSSL 3.2+ (Node 24) name it.
  it.each([
    ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'sslv3 alert bad certificate'],
    ['ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', 'ssl/tls alert bad certificate'],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'],
    ['ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_REQUIRED', 'ssl/tls alert certificate required'],
  ])('names KAFKA_SSL_CERTIFICATE_LOCATION for %s', (code, reason) => {
    const diagnosis = diagnoseKafkaError(tlsAlert(code, reason), ['127.0.0.1:9095'], mtlsWithoutClient);
    expect(diagnosis.transient).toBe(false);
    expect(diagnosis.error.message).toMatch(
      /^KAFKA_SSL_CERTIFICATE_LOCATION: the broker at 127\.0\.0\.1:9095 wants a client certificate/,
    );
  });

  it('takes another TLS failure for a wrong protocol, not a certificate problem', () => {
    const diagnosis = diagnoseKafkaError(
      tlsAlert('ERR_SSL_WRONG_VERSION_NUMBER', 'wrong version number'),
      ['127.0.0.1:9092'],
      mtlsWithoutClient,
    );
    expect(diagnosis.error.message).toMatch(/^KAFKA_SECURITY_PROTOCOL: SSL, but the TLS handshake/);
  });
});

describe('checkKafkaConnection: a broker that does not answer yet', () => {
  it('tries again with growing pauses until its deadline, then names KAFKA_BROKERS', async () => {
    // A port that was just free: connecting to it is refused, as with a broker still starting.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise<void>((resolve) => server.close(() => resolve()));

    const pauses: number[] = [];
    const started = Date.now();
    const error = await checkKafkaConnection({
      brokers: [`127.0.0.1:${port}`],
      deadlineMs: 2000,
      connectionTimeoutMs: 500,
      onRetry: (_error, delayMs) => pauses.push(delayMs),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KafkaConnectionError);
    expect((error as KafkaConnectionError).variable).toBe('KAFKA_BROKERS');
    // 250 ms doubling (less up to a quarter): 3 pauses fit in 2 s, a 4th (up to 2 s) does not.
    expect(pauses.length).toBeGreaterThanOrEqual(2);
    expect(pauses.length).toBeLessThanOrEqual(3);
    expect(pauses[1]).toBeGreaterThan(pauses[0] as number);
    expect(Date.now() - started).toBeLessThan(2000 + 1000);
  });
});
