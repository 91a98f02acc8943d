import react from "@vitejs/plugin-react";
import { resolve } from "node:path";
import { defineConfig } from "vite";
import { sourcesStamp } from "./sources.mjs";

// Two pages: index.html (React + @laravel/echo-react) and classic.html (plain DOM + window.Echo).
// The backend serves dist/, which is committed: `npm run build` rewrites it, with dist/sources.sha256 saying
// which sources it was built from (see sources.mjs).
export default defineConfig({
  plugins: [react(), sourcesStamp(import.meta.dirname)],
  build: {
    rollupOptions: {
      input: {
        react: resolve(import.meta.dirname, "index.html"),
        classic: resolve(import.meta.dirname, "classic.html"),
      },
    },
  },
});
