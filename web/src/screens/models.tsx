export function ModelsScreen(_props: { parts: readonly string[]; params: URLSearchParams }) {
  return (
    <main id="main" tabIndex={-1}>
      <h1>models</h1>
    </main>
  );
}
