export { HeraldProvider } from './herald-provider.js';
export type { HeraldProviderOptions } from './herald-provider.js';
