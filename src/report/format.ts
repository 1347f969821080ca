// Small formatting helpers shared by the renderers.

/** 1536 → `1.5 KiB`; null → `-`. */
export function bytes(n: unknown): string {
  if (n === null || n === undefined || n === '') return '-';
  const v = Number(n);
  if (!Number.isFinite(v)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let x = Math.abs(v);
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  const s = u === 0 ? String(x) : x >= 100 ? x.toFixed(0) : x.toFixed(1);
  return `${v < 0 ? '-' : ''}${s} ${units[u]}`;
}

/** Thousands separators for counts: 1234567 → `1,234,567` (not toLocaleString: loading ICU's data costs ~10 ms). */
export function count(n: unknown): string {
  if (n === null || n === undefined) return '-';
  const v = Number(n);
  if (!Number.isSafeInteger(v)) return v.toLocaleString('en-US');
  return v.toString().replace(/\B(?=(\d{3})+$)/g, ',');
}

/** Plain-text cell: null → empty. */
export function cell(v: unknown): string {
  return v === null || v === undefined ? '' : String(v);
}

/** Align columns: numeric ones right, the others left; each line starts with `indent`. */
export function align(rows: string[][], numeric: readonly boolean[], indent = ''): string[] {
  if (rows.length === 0) return [];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
        .join('  ')
        .trimEnd(),
  );
}
