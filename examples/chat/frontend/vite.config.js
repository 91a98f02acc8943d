import react from "@vitejs/plugin-react";
import { resolve } from "node:path";
import { defineConfig } from "vite";

// Two pages: index.html (React + @laravel/echo-react) and classic.html (plain DOM + window.Echo).
// The backend serves dist/; `npm run build` writes it.
export default defineConfig({
  plugins: [react()],
  build: {
    rollupOptions: {
      input: {
        react: resolve(import.meta.dirname, "index.html"),
        classic: resolve(import.meta.dirname, "classic.html"),
      },
    },
  },
});
