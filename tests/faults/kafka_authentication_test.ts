import assert from "node:assert/strict";
import { connectPatiently, isAuthenticationError } from "@cryptocandles/kafka";

/** Errors shaped as kafkajs 2.2.4 throws them (src/errors.js, broker/saslAuthenticator/scram.js, network/connection.js). */
function kafkajsError(
  name: string,
  message: string,
  fields: Record<string, unknown> = {},
): Error {
  return Object.assign(new Error(message), { name, ...fields });
}
const sasl = () =>
  kafkajsError(
    "KafkaJSSASLAuthenticationError",
    "SASL SCRAM SHA512 authentication failed: Invalid username or password",
    { retriable: false },
  );
const untrusted = () =>
  kafkajsError(
    "KafkaJSConnectionError",
    "Connection error: self-signed certificate in certificate chain",
    { retriable: true, code: "SELF_SIGNED_CERT_IN_CHAIN" },
  );

Deno.test("isAuthenticationError() knows refused SASL credentials and untrusted certificates, also as a cause, and nothing else", () => {
  assert.ok(isAuthenticationError(sasl()));
  assert.ok(isAuthenticationError(untrusted()));
  assert.ok(
    isAuthenticationError(
      kafkajsError("KafkaJSProtocolError", "SASL Authentication failed", {
        type: "SASL_AUTHENTICATION_FAILED",
      }),
    ),
  );
  assert.ok(
    isAuthenticationError(
      kafkajsError("KafkaJSNumberOfRetriesExceeded", "x", {
        cause: untrusted(),
      }),
    ),
  );
  assert.ok(
    !isAuthenticationError(
      kafkajsError(
        "KafkaJSConnectionError",
        "Connection error: connect ECONNREFUSED",
        {
          code: "ECONNREFUSED",
        },
      ),
    ),
  );
  assert.ok(!isAuthenticationError(undefined));
});

Deno.test("connectPatiently() stops at the first refused password with one line naming the variables, and waits out an outage", async () => {
  let attempts = 0;
  const refused = { connect: () => (attempts++, Promise.reject(sasl())) };
  await assert.rejects(
    () => connectPatiently(refused),
    (error: Error) => {
      assert.equal(
        error.message,
        "Kafka refused the credentials (SASL SCRAM SHA512 authentication failed: Invalid username or password): check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD",
      );
      assert.ok(!error.message.includes("\n"));
      return true;
    },
  );
  assert.equal(attempts, 1);

  let tries = 0;
  const untrustedClient = {
    connect: () => (tries++, Promise.reject(untrusted())),
  };
  await assert.rejects(
    () => connectPatiently(untrustedClient),
    /^Error: Kafka's TLS certificate is not trusted .*: set KAFKA_SSL_CA/,
  );
  assert.equal(tries, 1);

  // kafkajs giving up its own retries (brokers down) is waited out.
  let calls = 0;
  const outage = {
    connect: () =>
      ++calls < 3
        ? Promise.reject(
          kafkajsError("KafkaJSNumberOfRetriesExceeded", "Connection error", {
            retriable: false,
          }),
        )
        : Promise.resolve(),
  };
  await connectPatiently(outage, { maxTimeout: 10 });
  assert.equal(calls, 3);
});
