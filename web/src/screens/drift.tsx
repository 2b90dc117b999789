export function DriftScreen(_props: { params: URLSearchParams }) {
  return (
    <main id="main" tabIndex={-1}>
      <h1>drift</h1>
    </main>
  );
}
