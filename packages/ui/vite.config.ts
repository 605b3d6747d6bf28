import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The control plane serves dist/ at `/` (same origin as the API). `npm run dev -w @herald/ui`
// proxies the API to a local `herald server` on the default port.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: {
    proxy: Object.fromEntries(['/v1', '/healthz', '/openapi.json'].map((path) => [path, 'http://127.0.0.1:8420'])),
  },
});
