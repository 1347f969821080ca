// The summary document as Markdown (for pasting into a bug).
import type { Document } from './document.js';

export function renderMarkdown(doc: Document): string {
  const out: string[] = [`# ${doc.title}`, ''];
  for (const b of doc.blocks) {
    out.push(`## ${b.heading}`, '');
    for (const [k, v] of b.facts ?? []) out.push(`- **${k}**: ${esc(v)}`);
    if (b.facts?.length) out.push('');
    if (b.table) {
      const t = b.table;
      out.push(`| ${t.columns.join(' | ')} |`, `|${t.columns.map((_, i) => (t.numeric[i] ? ' ---: ' : ' --- ')).join('|')}|`);
      for (const r of t.rows) out.push(`| ${r.map(esc).join(' | ')} |`);
      out.push('');
    }
    for (const n of b.notes ?? []) out.push(n, '');
  }
  return out.join('\n');
}

/**
 * A value as Markdown shows it: `|` would end the cell, and `<` would start an HTML tag, which
 * renderers drop (the exporter `<unknown>` of dmabuf_dump rows, a quoted line).
 */
function esc(s: string): string {
  return s.replace(/[|<]/g, '\\$&').replace(/\n/g, ' ');
}
