export { AdminClient, HeraldApiError } from './admin-client.js';
export type { AdminClientOptions, RequestOptions } from './admin-client.js';
