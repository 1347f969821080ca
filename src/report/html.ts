// The summary document as one self-contained HTML page (`analyze --html FILE`).
import type { Document } from './document.js';

export function renderHtml(doc: Document): string {
  const body: string[] = [];
  for (const b of doc.blocks) {
    body.push(`<section><h2>${esc(b.heading)}</h2>`);
    if (b.facts?.length) body.push('<dl>' + b.facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('') + '</dl>');
    if (b.table) {
      const t = b.table;
      const cls = (i: number) => (t.numeric[i] ? ' class="n"' : '');
      body.push(
        '<table><thead><tr>' + t.columns.map((c, i) => `<th${cls(i)}>${esc(c)}</th>`).join('') + '</tr></thead><tbody>' +
          t.rows.map((r) => '<tr>' + r.map((c, i) => `<td${cls(i)}>${esc(c)}</td>`).join('') + '</tr>').join('') +
          '</tbody></table>',
      );
    }
    for (const n of b.notes ?? []) body.push(`<p>${esc(n)}</p>`);
    body.push('</section>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(doc.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h2{font-size:1.1em;border-bottom:1px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}
th,td{padding:.2em .7em;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th.n,td.n{text-align:right;font-variant-numeric:tabular-nums}
dl{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}
dt{font-weight:600}
</style></head><body>
<h1>${esc(doc.title)}</h1>
${body.join('\n')}
</body></html>
`;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
