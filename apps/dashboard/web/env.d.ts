// Vite's asset imports used by the page (`?url` → the emitted file's URL).
declare module '*?url' {
  const url: string;

  // biome-ignore lint/style/noDefaultExport: Vite's `?url` modules have a default export
  export { url as default };
}
