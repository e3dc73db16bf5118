/**
 * `Content-Disposition: attachment` for a download named `filename`, per RFC 6266 with RFC 5987's
 * `filename*` for names outside printable ASCII: `filename="<ascii fallback>"` for old clients,
 * `filename*=UTF-8''<percent-encoded>` for the rest. Node refuses a header value with characters
 * outside Latin-1, so a raw non-ASCII name would fail the download (a 500); quotes, backslashes and
 * control characters could break the header. Every download answers through here.
 */
export function attachment(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  if (fallback === filename) return `attachment; filename="${filename}"`;
  const encoded = encodeURIComponent(filename).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
