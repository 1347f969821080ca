// Helpers of the kernel-capture importers: /proc path shapes (procPath), the lines a shell adds
// around a capture (isShellNoise, deniedPath), hexadecimal integers
// (hexToInt), the capped excerpt of a raw line in a diagnostic, and the lines of a text one at a
// time (LineReader).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importDirect, csv, asSession } from './helpers.js';
import { hexToInt, isShellNoise, LineReader, splitLines } from '../src/importers/common.js';
import { deniedPath, procPath } from '../src/importers/kernel/common.js';
import { fdLinksImporter } from '../src/importers/kernel/fd-links.js';
import { bufinfoImporter } from '../src/importers/kernel/bufinfo.js';
import { bpfIterImporter } from '../src/importers/kernel/bpf-iter.js';

test('procPath: pid, kind and fd of per-process paths', () => {
  assert.deepEqual(procPath('/proc/1234/fdinfo/12'), { pid: 1234, kind: 'fdinfo', fd: 12 });
  assert.deepEqual(procPath('/proc/1234/fdinfo'), { pid: 1234, kind: 'fdinfo', fd: null });
  assert.deepEqual(procPath('/proc/1234/fd/7'), { pid: 1234, kind: 'fd', fd: 7 });
  assert.deepEqual(procPath('./1234/fd/'), { pid: 1234, kind: 'fd', fd: null });
  assert.deepEqual(procPath('proc/1234/maps'), { pid: 1234, kind: 'maps', fd: null });
  assert.deepEqual(procPath('/data/local/tmp/proc/1234/smaps'), { pid: 1234, kind: 'smaps', fd: null });
  // A thread's table is the process's.
  assert.deepEqual(procPath('/proc/1234/task/1240/fdinfo/3'), { pid: 1234, kind: 'fdinfo', fd: 3 });
  assert.equal(procPath('/proc/0/maps'), undefined);
  assert.equal(procPath('/proc/1234/status'), undefined);
  assert.equal(procPath('/proc/self/fd/3'), undefined);
});

test('isShellNoise and deniedPath: prompts and file errors, not capture lines', () => {
  for (const l of ['console:/ # cat /sys/kernel/debug/dma_buf/bufinfo', 'sargo:/ $ ', 'root@android:/ #', '# cat x', '$ adb shell', 'C:\\work> adb shell cat x']) {
    assert.equal(isShellNoise(l), true, l);
  }
  for (const l of ['1001', 'frame buffer 1', 'qcom,system', 'pos:\t0', '/proc/12/fdinfo/3:exp_name:\tsystem', 'cam #1', '7f00-7f01 rw-s 00000000 00:0a 5 /dmabuf:']) {
    assert.equal(isShellNoise(l), false, l);
  }
  assert.equal(deniedPath('ls: /proc/1/fd: Permission denied'), '/proc/1/fd');
  assert.equal(deniedPath("ls: cannot open directory '/proc/1/fd': Permission denied"), '/proc/1/fd');
  assert.equal(deniedPath("head: cannot open '/proc/1/maps' for reading: Permission denied"), '/proc/1/maps');
  assert.equal(deniedPath("/system/bin/sh: can't open /proc/1/maps: Operation not permitted"), '/proc/1/maps');
  // The process exited meanwhile: nothing lost.
  assert.equal(deniedPath('cat: /proc/1/fdinfo/3: No such file or directory'), undefined);
  assert.equal(isShellNoise('cat: /proc/1/fdinfo/3: No such file or directory'), true);
});

const LINK = 'lrwx------ 1 u0_a123 u0_a123 64 2024-05-01 10:00 9 -> /dmabuf:gralloc';

test('fd_links: a /proc/<pid>/fdinfo path is not taken for an fd link listing', async () => {
  const fdRows = async (text: string, path: string) =>
    csv(asSession(await importDirect(fdLinksImporter, text, path)), 'SELECT pid, fd, name FROM dmabuf_fd');
  // The source's own path.
  assert.deepEqual(await fdRows(`${LINK}\n`, '/proc/1234/fd'), ['pid,fd,name', '1234,9,gralloc']);
  assert.deepEqual(await fdRows(`${LINK}\n`, '/proc/1234/fdinfo/5'), ['pid,fd,name', ',9,gralloc']);
  // A header before the listing.
  assert.deepEqual(await fdRows(`==> /proc/1234/fd <==\n${LINK}\n`, 'capture.txt'), ['pid,fd,name', '1234,9,gralloc']);
  assert.deepEqual(await fdRows(`==> /proc/1234/fdinfo/5 <==\n${LINK}\n`, 'capture.txt'), ['pid,fd,name', ',9,gralloc']);
  // Links named by their full path (`ls -l /proc/*/fd/*`); a thread's path names its process.
  const full = 'lrwx------ 1 root root 64 2024-05-01 10:00 /proc/1234/task/1240/fd/6 -> /dmabuf:\n';
  assert.deepEqual(await fdRows(full, 'capture.txt'), ['pid,fd,name', '1234,6,']);
});

test('hexToInt: plain, 0x-prefixed and printf-padded hex; bigint beyond 2^53; undefined otherwise', () => {
  assert.equal(hexToInt('1f'), 31);
  assert.equal(hexToInt('0x1F'), 31);
  assert.equal(hexToInt(' 0x       3 '), 3);
  assert.equal(hexToInt('7fff00000000'), 0x7fff00000000);
  assert.equal(hexToInt('ffffffffffffffff'), 0xffffffffffffffffn);
  assert.equal(hexToInt(''), undefined);
  assert.equal(hexToInt('0x'), undefined);
  assert.equal(hexToInt('12g'), undefined);
  assert.equal(hexToInt(undefined), undefined);
});

test('kernel importers quote a raw line in a diagnostic capped at 160 characters', async () => {
  const garbage = '9'.repeat(1_000_000);
  const longest = async (db: Awaited<ReturnType<typeof importDirect>>) =>
    Math.max(...db.query('SELECT message FROM diagnostic').map((r) => String(r.message).length));

  const bufinfo = await importDirect(bufinfoImporter, `Dma-buf Objects:\nsize\tflags\tmode\tcount\texp_name\tino\tname\n${garbage}x\nTotal 0 objects, 0 bytes\n`);
  const msgs = bufinfo.query("SELECT message FROM diagnostic WHERE code = 'malformed_row'").map((r) => String(r.message));
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0], `not a bufinfo row: "${'9'.repeat(160)}…"`);
  assert.ok((await longest(bufinfo)) < 400);

  // The BPF iterator's last record, cut short, is quoted whole when short…
  const cut = await importDirect(bpfIterImporter, '11\n4096\n\nsystem\nabc\ndef', 'iter.txt');
  assert.deepEqual(
    cut.query("SELECT message FROM diagnostic WHERE code = 'truncated'").map((r) => String(r.message)),
    ['BPF iterator output ends inside a record (line 5): "abc\\ndef"'],
  );
  // …and capped when it is not.
  const huge = await importDirect(bpfIterImporter, `11\n4096\n\nsystem\n${garbage}x\n${garbage}`, 'iter.txt');
  assert.ok((await longest(huge)) < 400);
});

test('LineReader: the lines splitLines gives, one at a time, each where it starts in the text without CRs and BOM', () => {
  const texts = ['', '\n', '\n\n', 'a', 'a\n', 'a\nb', 'a\n\nb\n\n', '\ufeffa\nb\n', 'a\r\nb\r\n', 'a\rb\r', 'a\r\n\r\nb', 'a\r', '\r', 'x\u2028y\n z \n'];
  for (const text of texts) {
    const want = splitLines(text);
    const r = new LineReader(text);
    const got: string[] = [];
    for (let line = r.next(); line !== undefined; line = r.next()) {
      assert.equal(r.text.slice(r.start, r.start + line.length), line, JSON.stringify(text));
      assert.ok(r.start + line.length === r.text.length || r.text[r.start + line.length] === '\n', JSON.stringify(text));
      got.push(line);
      assert.equal(r.count, got.length);
    }
    assert.deepEqual(got, want.lines, JSON.stringify(text));
    assert.equal(r.complete, want.complete, JSON.stringify(text));
    assert.equal(r.more, false);
    assert.ok(!r.text.includes('\r') && !r.text.startsWith('\ufeff'), JSON.stringify(text));
  }
});

test('LineReader.lookAhead: the first line further on that passes the test, and where it starts, without moving on', () => {
  const texts = ['', '\n', 'a', 'a\n\n  \nb', '\ufeff\n\nx\r\n\r\ny\r\n', 'a\rb\r\r', 'p\nq\nr'];
  for (const text of texts) {
    const { lines } = splitLines(text);
    const r = new LineReader(text);
    for (let i = 0; i <= lines.length; i++) {
      const seen: string[] = [];
      const want = lines.slice(i).find((l) => l.trim() !== '');
      const got = r.lookAhead((l, start) => {
        assert.equal(r.text.slice(start, start + l.length), l, JSON.stringify(text));
        seen.push(l);
        return l.trim() !== '';
      });
      assert.equal(got, want, JSON.stringify(text));
      assert.deepEqual(seen, lines.slice(i, want === undefined ? lines.length : lines.indexOf(want, i) + 1), JSON.stringify(text));
      // The reader has not moved: its next line is line i.
      assert.equal(r.count, i);
      assert.equal(r.next(), lines[i]);
    }
  }
});
