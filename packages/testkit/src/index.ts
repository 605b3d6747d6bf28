// Internal, unsupported: helpers for Herald's own tests only.
export { tempDir } from './temp.js';
