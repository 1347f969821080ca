// The summary document as plain text for a terminal.
import type { Document } from './document.js';
import { align } from './format.js';

export function renderText(doc: Document): string {
  const out: string[] = [];
  for (const b of doc.blocks) {
    out.push(b.heading, '-'.repeat(Math.min(b.heading.length, 78)));
    if (b.facts) {
      const w = Math.max(...b.facts.map(([k]) => k.length));
      for (const [k, v] of b.facts) out.push(`  ${k.padEnd(w)}  ${v}`);
    }
    if (b.table) out.push(...align([b.table.columns, ...b.table.rows], b.table.numeric, '  '));
    for (const n of b.notes ?? []) out.push(`  ${n}`);
    out.push('');
  }
  return out.join('\n');
}
