// Public face of @footfall/ingest: the service (in-process start), the device SDK, and the credential
// helpers the query API needs (also importable alone as `@footfall/ingest/credentials`).

export type { AttestationInput, AttestationVerifier, AuthenticatorOptions } from './auth.ts';
export { DevAttestationVerifier, UploadAuthenticator } from './auth.ts';
export type { IngestConfig } from './config.ts';
export { ingestSpec, loadIngestConfig } from './config.ts';
export type { DeviceKeyring, UserIdentity } from './credentials.ts';
export {
  createKeyring,
  deriveDeviceSecret,
  issueUserToken,
  signBatch,
  USER_TOKEN_AUDIENCE,
  verifyUserToken,
} from './credentials.ts';
export type { IngestErrorCode } from './errors.ts';
export { INGEST_ERRORS, IngestError } from './errors.ts';
export { NonceCache } from './nonce-cache.ts';
export type { BatchContext, PreparedBatch } from './prepare-batch.ts';
export { prepareBatch } from './prepare-batch.ts';
export { TokenBucketLimiter } from './rate-limit.ts';
export { RegionRouter } from './router.ts';
// The SDK's public face, re-exported whole (one list to keep, in sdk/index.ts).
export * from './sdk/index.ts';
export type { IngestServer } from './server.ts';
export { createIngestService } from './server.ts';
export type { IngestHandle, StartIngestOptions } from './service.ts';
export { startIngest } from './service.ts';
export type { ValidationLimits } from './validate.ts';
