export function JobsScreen(_props: { parts: readonly string[] }) {
  return (
    <main id="main" tabIndex={-1}>
      <h1>jobs</h1>
    </main>
  );
}
