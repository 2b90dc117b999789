export function AuditScreen(_props: { params: URLSearchParams }) {
  return (
    <main id="main" tabIndex={-1}>
      <h1>audit</h1>
    </main>
  );
}
