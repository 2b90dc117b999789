export function ExperimentsScreen(_props: { parts: readonly string[]; params: URLSearchParams }) {
  return (
    <main id="main" tabIndex={-1}>
      <h1>experiments</h1>
    </main>
  );
}
