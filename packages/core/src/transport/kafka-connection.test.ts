import { describe, expect, it } from 'vitest';
import { diagnoseKafkaError, type KafkaSecurity } from './kafka-connection.js';

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
