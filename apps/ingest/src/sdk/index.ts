export type {
  DeviceClientOptions,
  DeviceIdentity,
  PingInput,
  UploadOptions,
  UploadResult,
} from './device-client.ts';
export { buildUploadRequest, DeviceClient, DeviceClientError, newPingId } from './device-client.ts';
